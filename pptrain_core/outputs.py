"""Output directories: pptrain writes into a directory only if it is new, empty, or its own.

Every command that writes a directory (``fit``, ``transfer``, ``compare``, ``replicate``)
asks :func:`check_output_dir` first. A directory that already holds something and is not
recognisably the same command's earlier output (by a marker file that command writes) is
refused with one sentence, before any work: pptrain never deletes or overwrites what a
user put there.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pptrain_core.errors import UserError


def check_output_dir(path: str | Path, *, option: str, markers: Iterable[str], kind: str) -> bool:
    """Whether ``path`` is an earlier output of this kind (False when it is absent or empty).

    Raises :class:`UserError` when ``path`` is a file or a symbolic link, or a non-empty
    directory holding none of ``markers`` (file names that command writes at its top).
    """
    p = Path(path)
    shown = repr(str(path))
    if p.is_symlink():
        raise UserError(f"{option} {shown} is a symbolic link; give the real directory or another {option}.")
    if p.exists() and not p.is_dir():
        raise UserError(f"{option} {shown} is a file, not a directory; choose another {option}.")
    if not p.exists():
        return False
    try:
        empty = next(p.iterdir(), None) is None
    except OSError as exc:
        raise UserError(f"{option} {shown} cannot be read ({exc.strerror}); choose another {option}.") from None
    if empty:
        return False
    names = list(markers)
    if any((p / m).is_file() and not (p / m).is_symlink() for m in names):
        return True
    raise UserError(
        f"{option} {shown} is not empty and is not {kind} (it has no {' or '.join(names)}); choose a new or empty "
        f"{option}, since pptrain never writes into a directory it did not create."
    )
