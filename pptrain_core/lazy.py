"""Lazy module attributes: names resolved on first access, so importing a package stays light."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(namespace: dict[str, Any], lazy: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``lazy[name]`` on first use and caches the value.

    Use as ``__getattr__ = lazy_getattr(globals(), {"Name": "package.module"})``.
    """
    module_name = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        if name in lazy:
            value = getattr(importlib.import_module(lazy[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__
