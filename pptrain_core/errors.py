"""The one exception type a user ever sees.

A :class:`UserError` is a mistake the user can fix (an unknown task, a bad override, a
wrong type in a config file). The CLI prints its message as a single sentence and exits
with status 2, never with a traceback. Anything else escaping the CLI is a bug.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input, reported as one sentence naming the field and a fix."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration value is missing, unknown, of the wrong type or out of range.

    ``path`` is a JSONPath-like location such as ``$.task.params.k``.
    """

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


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
