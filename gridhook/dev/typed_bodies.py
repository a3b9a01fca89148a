"""Generates `gridhook/subscriber/bodies.py`: a `TypedDict` per event schema gridhook publishes.

`gridhook docs bodies -o gridhook/subscriber/bodies.py` writes it (`make bodies`), and
`make lint` runs `gridhook docs bodies --check`, so the typed bodies subscribers import cannot
drift from `schemas/`. The mapping, for the JSON Schema gridhook's schemas use:

- an object with `properties` becomes a `TypedDict`; a property outside `required` is
  `NotRequired`; `allOf` parts are merged (their properties and `required` joined);
- `string`, `integer`, `number`, `boolean`, `null` become `str`, `int`, `float`, `bool`,
  `None`; `enum` and `const` become `Literal`s; a list of types, `oneOf` and `anyOf` a union;
- an array becomes `list[...]` of its `items`; an object without `properties`, `dict[str, Any]`.

A `TypedDict` is a plain dict at run time, so fields a schema does not name are kept.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from gridhook.contract import schemas
from gridhook.contract.topics import all_topics

Schema = dict[str, Any]

_HEADER = '''"""Typed bodies of every event gridhook publishes, one `TypedDict` per JSON Schema.

Generated from `schemas/` by `gridhook docs bodies` (`make bodies`); do not edit by hand:
`make lint` fails when this file and the schemas disagree. A `TypedDict` is a plain dict at
run time, so fields a schema does not name are kept.
"""

# ruff: noqa: E501
# No `from __future__ import annotations`: `NotRequired` must be evaluated for
# `__required_keys__` to name the required fields at run time.
from typing import Any, Literal, NotRequired, TypedDict
'''


_SIMPLE = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def _literal(value: Any) -> str:
    return orjson.dumps(value).decode() if isinstance(value, str) else repr(value)


def message_paths() -> list[str]:
    """The schemas of the records gridhook publishes, each once, in topic order."""
    seen: list[str] = []
    for topic in all_topics():
        for pattern in topic.messages:
            seen += [path for path in schemas.matching(pattern) if path not in seen]
    return seen


def class_name(path: str) -> str:
    """`light/events/account.payment_failed.json` -> `LightAccountPaymentFailed`."""
    parts = path.removesuffix(".json").replace("/events/", "/").split("/")
    return "".join(_camel(part) for part in parts)


def _camel(text: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", text) if word)


@dataclass
class _Generator:
    classes: list[str] = field(default_factory=list)
    by_shape: dict[str, str] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    source: str = ""

    def annotation(self, schema: Schema, name: str) -> str:
        schema = schemas.merged(schema)
        if "const" in schema:
            return f"Literal[{_literal(schema['const'])}]"
        if "enum" in schema:
            values = [_literal(value) for value in schema["enum"] if value is not None]
            text = f"Literal[{', '.join(values)}]"
            return f"{text} | None" if None in schema["enum"] else text
        alternatives = schema.get("oneOf") or schema.get("anyOf")
        if alternatives:
            own = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
            kinds = [
                self.annotation(schemas.merged({"allOf": [own, alt]}), f"{name}{i}")
                for i, alt in enumerate(alternatives, 1)
            ]
            return " | ".join(dict.fromkeys(kinds))
        kind = schema.get("type")
        if isinstance(kind, list):
            return " | ".join(self.annotation({**schema, "type": one}, name) for one in kind)
        if kind in _SIMPLE:
            return _SIMPLE[kind]
        if kind == "array":
            return f"list[{self.annotation(schema.get('items', {}), name + 'Item')}]"
        if kind == "object" or "properties" in schema:
            if schema.get("properties"):
                return self.typed_dict(schema, name)
            extra = schema.get("additionalProperties")
            inner = self.annotation(extra, name + "Value") if isinstance(extra, dict) else "Any"
            return f"dict[str, {inner}]"
        return "Any"

    def _nested_name(self, parent: str, key: str) -> str:
        """`<Source><Key>` (`LightLocation`) unless taken, else `<Parent><Key>`."""
        short = self.source + _camel(key)
        return short if short not in self.names else parent + _camel(key)

    def typed_dict(self, schema: Schema, name: str) -> str:
        required = set(schema.get("required", []))
        fields = []
        for key, sub in schema["properties"].items():
            kind = self.annotation(sub, self._nested_name(name, key))
            fields.append((key, kind if key in required else f"NotRequired[{kind}]"))
        shape = repr(fields)
        if shape in self.by_shape:
            return self.by_shape[shape]
        while name in self.names:
            name += "_"
        self.names.add(name)
        self.by_shape[shape] = name
        doc = (schema.get("title") or schema.get("description") or f"`{name}`").replace('"', "'")
        if all(key.isidentifier() and not keyword.iskeyword(key) for key, _ in fields):
            lines = [f"class {name}(TypedDict):", f'    """{doc}"""', ""]
            lines += [f"    {key}: {kind}" for key, kind in fields]
        else:
            entries = "".join(f"\n        {_literal(key)}: {kind}," for key, kind in fields)
            lines = [f'{name} = TypedDict(\n    "{name}",\n    {{{entries}\n    }},\n)']
        self.classes.append("\n".join(lines))
        return name


def generate() -> str:
    """The source of `gridhook/subscriber/bodies.py`."""
    generator = _Generator()
    bodies: list[tuple[str, str]] = []
    for path in message_paths():
        name = class_name(path)
        generator.source = _camel(path.split("/")[0])
        bodies.append(
            (path, generator.typed_dict(schemas.merged(schemas.dereferenced(path)), name))
        )
    table = "".join(f'\n    "{path}": {name},' for path, name in bodies)
    return (
        _HEADER
        + "\n\n"
        + "\n\n\n".join(generator.classes)
        + "\n\n\nBODIES: dict[str, Any] = {"
        + table
        + "\n}\n"
        + '"""Each event schema (its path under `schemas/`) and the `TypedDict` of its bodies."""\n'
    )
