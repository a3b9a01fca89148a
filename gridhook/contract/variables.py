"""How one environment variable is declared and read: its name, its default, its meaning and
its type with its bounds, in one `Setting`.

`Setting.read(environ)` returns the typed value, or raises `ConfigError` naming the variable
(and, for secrets, the position of the bad one, never its value). The constructors below are
the types gridhook's variables have; `gridhook.contract.settings` declares every variable
with one of them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from gridhook.contract.errors import ConfigError

T = TypeVar("T")
_Option = TypeVar("_Option", bound=str)


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable: its name, its default as text ('' means unset), its meaning,
    and how its text becomes a value (`parse` raises `ValueError` with what was expected)."""

    name: str
    default: str
    help: str
    parse: Callable[[str], T]

    def read(self, environ: Mapping[str, str]) -> T:
        """The variable's value in `environ` (its default when absent)."""
        raw = environ.get(self.name, self.default).strip()
        try:
            return self.parse(raw)
        except ValueError as error:
            raise ConfigError(f"{self.name}: {error}") from None


def text(name: str, default: str, help: str) -> Setting[str]:
    return Setting(name, default, help, lambda raw: raw)


def optional_text(name: str, help: str) -> Setting[str | None]:
    """Text, or None when unset or empty."""
    return Setting(name, "", help, lambda raw: raw or None)


def _whole_number(raw: str, minimum: int, maximum: int | None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise ValueError(f"must be at least {minimum}{upper}, got {value}")
    return value


def whole(
    name: str, default: int, help: str, *, minimum: int, maximum: int | None = None
) -> Setting[int]:
    """A whole number within `[minimum, maximum]`."""
    return Setting(name, str(default), help, lambda raw: _whole_number(raw, minimum, maximum))


def port(name: str, default: int, help: str) -> Setting[int]:
    """A TCP port (0: a free one)."""
    return whole(name, default, help, minimum=0, maximum=65_535)


def optional_whole(name: str, help: str, *, minimum: int, maximum: int) -> Setting[int | None]:
    """A whole number, or None when unset."""
    return Setting(
        name, "", help, lambda raw: _whole_number(raw, minimum, maximum) if raw else None
    )


def _number(raw: str, expected: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"expected {expected}, got {raw!r}") from None


def optional_number(name: str, help: str) -> Setting[float | None]:
    """A number, or None when unset."""

    def parse(raw: str) -> float | None:
        if not raw:
            return None
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None

    return Setting(name, "", help, parse)


def kilowatts_by_id(name: str, help: str) -> Setting[dict[str, float]]:
    """`id:kW,...` (ids may hold colons: the last one splits), kW at least 0; unset: empty."""

    def parse(raw: str) -> dict[str, float]:
        found: dict[str, float] = {}
        for part in filter(None, (piece.strip() for piece in raw.split(","))):
            key, _, size = part.rpartition(":")
            try:
                kilowatts = float(size)
            except ValueError:
                raise ValueError(f"expected id:kW, comma-separated, got {part!r}") from None
            if not key or kilowatts < 0:
                raise ValueError(f"expected id:kW with kW at least 0, got {part!r}")
            found[key] = kilowatts
        return found

    return Setting(name, "", help, parse)


def seconds(name: str, default: float | str, help: str) -> Setting[float]:
    """A duration in seconds, more than 0."""

    def parse(raw: str) -> float:
        value = _number(raw, "a number of seconds")
        if not value > 0:
            raise ValueError(f"must be more than 0 seconds, got {raw!r}")
        return value

    return Setting(name, str(default), help, parse)


def hours(name: str, default: float | str, help: str) -> Setting[float]:
    """A duration given in hours, read as seconds."""

    def parse(raw: str) -> float:
        value = _number(raw, "a number of hours")
        if not value > 0:
            raise ValueError(f"must be more than 0 hours, got {raw!r}")
        return value * 3600

    return Setting(name, str(default), help, parse)


def non_negative_seconds(name: str, default: float | str, help: str) -> Setting[float]:
    """A duration in seconds, 0 or more."""

    def parse(raw: str) -> float:
        value = _number(raw, "a number of seconds")
        if value < 0:
            raise ValueError(f"must not be negative, got {raw!r}")
        return value

    return Setting(name, str(default), help, parse)


def rate(name: str, default: float | str, help: str) -> Setting[float]:
    """A share between 0 and 1."""

    def parse(raw: str) -> float:
        value = _number(raw, "a share between 0 and 1")
        if not 0 <= value <= 1:
            raise ValueError(f"must be between 0 and 1, got {raw!r}")
        return value

    return Setting(name, str(default), help, parse)


def seconds_range(name: str, keyword: str, help: str) -> Setting[tuple[float, float] | None]:
    """`min-max` seconds, or None for `keyword` (a built-in distribution, the default)."""

    def parse(raw: str) -> tuple[float, float] | None:
        if raw.lower() == keyword:
            return None
        low, _, high = raw.partition("-")
        try:
            bounds = (float(low), float(high or low))
        except ValueError:
            raise ValueError(f"expected {keyword} or `min-max` seconds, got {raw!r}") from None
        if not 0 <= bounds[0] <= bounds[1]:
            raise ValueError(f"expected 0 <= min <= max, got {raw!r}")
        return bounds

    return Setting(name, keyword, help, parse)


def choice(
    name: str, default: _Option, help: str, options: tuple[_Option, ...], *, upper: bool = False
) -> Setting[_Option]:
    """One of `options` (compared in lower case, or upper with `upper`)."""

    def parse(raw: str) -> _Option:
        wanted = raw.upper() if upper else raw.lower()
        for option in options:
            if option == wanted:
                return option
        raise ValueError(f"expected one of {', '.join(options)}, got {wanted!r}")

    return Setting(name, default, help, parse)


def secrets(name: str, help: str, *, shortest: int = 8) -> Setting[tuple[str, ...]]:
    """Comma-separated secrets, each at least `shortest` characters. Errors name the position
    of the bad one, never its value."""

    def parse(raw: str) -> tuple[str, ...]:
        found = tuple(part.strip() for part in raw.split(",") if part.strip())
        for position, secret in enumerate(found, start=1):
            if len(secret) < shortest:
                raise ValueError(f"secret #{position} is shorter than {shortest} characters")
        return found

    return Setting(name, "", help, parse)


def public_key_text(text: str) -> str:
    """`text` when it is a Standard Webhooks public key: `whpk_` and the base64 of 32 bytes
    (an ed25519 key); `ValueError` otherwise."""
    try:
        raw = base64.b64decode(text.removeprefix("whpk_"), validate=True)
    except binascii.Error:
        raw = b""
    if not text.startswith("whpk_") or len(raw) != 32:
        raise ValueError("expected whpk_ and the base64 of a 32-byte ed25519 public key")
    return text


def public_keys(name: str, help: str) -> Setting[tuple[str, ...]]:
    """Comma-separated Standard Webhooks public keys (`whpk_...`)."""

    def parse(raw: str) -> tuple[str, ...]:
        found = tuple(part.strip() for part in raw.split(",") if part.strip())
        for position, key in enumerate(found, start=1):
            try:
                public_key_text(key)
            except ValueError as error:
                raise ValueError(f"key #{position}: {error}") from None
        return found

    return Setting(name, "", help, parse)


def optional_secret(name: str, help: str, *, shortest: int) -> Setting[str | None]:
    """One secret of at least `shortest` characters, or None when unset."""

    def parse(raw: str) -> str | None:
        if raw and len(raw) < shortest:
            raise ValueError(f"must be at least {shortest} characters")
        return raw or None

    return Setting(name, "", help, parse)
