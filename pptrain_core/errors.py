"""The one exception type a user ever sees.

A :class:`UserError` is a mistake the user can fix (an unknown task, a bad override, a
wrong type in a config file). The CLI prints its message as a single sentence and exits
with status 2, never with a traceback. Anything else escaping the CLI is a bug.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from typing import Any

#: The most characters of a user's value an error message quotes.
QUOTE_LIMIT = 80

#: The most characters of a whole error message (a last guard behind :func:`quote`).
MESSAGE_LIMIT = 1000


def _repr_builder() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel = 3
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 6
    r.maxdict = 6
    r.maxstring = QUOTE_LIMIT
    r.maxlong = 40
    r.maxother = QUOTE_LIMIT
    return r


_REPR = _repr_builder()


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for an error message, at most ``limit`` characters (``...`` marks a cut).

    Bounded in time and memory too: a YAML file of nested aliases expands to a structure
    whose full ``repr`` runs to hundreds of megabytes, so nested containers are abbreviated
    while the representation is built, not after.
    """
    try:
        text = _REPR.repr(value)
    except Exception:  # a broken __repr__ must not replace the user's error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cap(message: str) -> str:
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 3] + "..."


class UserError(Exception):
    """A mistake in the user's input, reported as one sentence naming the field and a fix."""

    exit_code = 2

    def __init__(self, *args: Any):
        if len(args) == 1 and isinstance(args[0], str):
            args = (_cap(args[0]),)
        super().__init__(*args)


class ConfigError(UserError):
    """A configuration value is missing, unknown, of the wrong type or out of range.

    ``path`` is a JSONPath-like location such as ``$.task.params.k``.
    """

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = _cap(message)
        super().__init__(f"{path}: {self.message}")


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates that look most like ``name`` (for "did you mean" hints)."""
    return difflib.get_close_matches(name, sorted(set(candidates)), n=n, cutoff=0.5)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A hint sentence fragment: `` (did you mean 'x' or 'y'?)`` or a list of valid names."""
    candidates = sorted(set(candidates))
    near = closest(name, candidates)
    if near:
        return " (did you mean " + " or ".join(f"'{c}'" for c in near) + "?)"
    if not candidates:
        return ""
    shown = ", ".join(f"'{c}'" for c in candidates[:8])
    more = ", ..." if len(candidates) > 8 else ""
    return f" (valid: {shown}{more})"
