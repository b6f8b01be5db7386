"""One-time deprecation notes for pptrain 0.3.0 spellings.

Each note names the modern spelling and, where the meaning changed, what changed. It is
a ``DeprecationWarning`` raised once per process and key, pointed at the caller's line.
"""

from __future__ import annotations

import warnings

_SEEN: set[str] = set()


def note(key: str, message: str, *, stacklevel: int = 3) -> None:
    """Warn once per process for ``key``."""
    if key in _SEEN:
        return
    _SEEN.add(key)
    warnings.warn(message, DeprecationWarning, stacklevel=stacklevel)


def reset_notes() -> None:
    """Forget which notes were given (for tests)."""
    _SEEN.clear()
