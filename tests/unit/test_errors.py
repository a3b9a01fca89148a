"""The error tree is one tree, in one module, and its docstring draws all of it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

from gridhook.contract import errors


def _every_module() -> list[ModuleType]:
    modules = []
    for package in ("gridhook", "service", "consumers", "producers", "emulator"):
        root = importlib.import_module(package)
        modules.append(root)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            modules.append(importlib.import_module(info.name))
    return modules


def test_every_gridhook_error_is_defined_in_the_tree() -> None:
    """No module defines its own GridhookError subclass."""
    outside = {
        f"{value.__module__}.{name}"
        for module in _every_module()
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, errors.GridhookError)
        and value.__module__ != errors.__name__
    }
    assert outside == set()


def test_the_docstring_lists_every_class_with_its_parent() -> None:
    """Each class appears in the drawn tree, indented under its base."""
    drawn = errors.__doc__ or ""
    lines = [
        line for line in drawn.splitlines() if "── " in line or line.strip() == "GridhookError"
    ]
    depth = {}
    for line in lines:
        name = line.split("── ")[-1].split()[0] if "── " in line else "GridhookError"
        depth[name] = line.index(name)
    for name, value in vars(errors).items():
        if inspect.isclass(value) and issubclass(value, errors.GridhookError):
            assert name in depth, f"{name} is missing from the tree"
            if value is not errors.GridhookError:
                parent = value.__bases__[0].__name__
                assert depth[name] > depth[parent], f"{name} is not drawn under {parent}"


def test_retriability_follows_the_branch() -> None:
    """Everything under RetriableError, and a 503, may be tried again; nothing else."""
    retriable = {
        cls
        for cls in vars(errors).values()
        if inspect.isclass(cls) and getattr(cls, "retriable", False)
    }
    assert errors.StoreUnavailable in retriable
    assert errors.Unavailable in retriable
    assert errors.UnapplicableEvent not in retriable
    assert errors.SchemaViolation not in retriable
