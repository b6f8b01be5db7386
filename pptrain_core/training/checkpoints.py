"""Checkpoints a killed run can always resume from.

``transformers.Trainer`` writes a checkpoint file by file into ``checkpoint-N`` (weights,
optimizer, scheduler, RNG states, then ``trainer_state.json``), and its ``resume`` picks
the highest ``N`` whether or not the writing finished: a kill during a checkpoint write
would wedge every later run. So:

* after the Trainer (and pptrain's own extras, e.g. ``curriculum.json``) wrote a
  checkpoint, every process waits for the others and the main one writes
  ``pptrain_checkpoint.json`` last, atomically: the size of every file in the folder;
* ``resume: auto`` takes the newest checkpoint whose marker is there and whose files
  all have their recorded sizes and look loadable (JSON parses, safetensors headers
  cover their files, ``torch.save`` archives have their zip directory); in a run whose
  checkpoints have no markers at all (written before pptrain marked them), one counts
  when its ``trainer_state.json`` (the Trainer's last file) is there and parses;
* an incomplete checkpoint is reported (one warning line naming it) and removed, so the
  same command resumes from the newest complete one;
* old checkpoints are rotated away only after the new one is marked complete, so a kill
  never leaves the run without one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any

from pptrain_core.bundle import fsync_path

MARKER = "pptrain_checkpoint.json"
MARKER_FORMAT = 1
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
_TORCH_ARCHIVES = (".pt", ".pth", ".bin")


def checkpoint_step(path: Path) -> int | None:
    """``N`` for a folder named ``checkpoint-N``."""
    m = _CHECKPOINT.match(path.name)
    return int(m.group(1)) if m else None


def checkpoints(root: Path) -> list[Path]:
    """The ``checkpoint-N`` folders under ``root``, newest (highest ``N``) first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=lambda p: checkpoint_step(p), reverse=True)  # type: ignore[arg-type, return-value]


def _files(folder: Path) -> dict[str, int]:
    """Relative path (with ``/``) -> size of every regular file under ``folder`` but the marker."""
    out: dict[str, int] = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            full = Path(dirpath, name)
            rel = full.relative_to(folder).as_posix()
            if rel != MARKER and full.is_file() and not full.is_symlink():
                out[rel] = full.stat().st_size
    return dict(sorted(out.items()))


def mark_complete(folder: Path, step: int) -> None:
    """Record ``folder`` as a complete checkpoint: its files are flushed, then the marker is written."""
    from pptrain_core.bundle import write_json_atomic

    files = _files(folder)
    for rel in files:
        fsync_path(folder / rel)
    write_json_atomic(folder / MARKER, {"format": MARKER_FORMAT, "step": int(step), "files": files})
    fsync_path(folder)


# --------------------------------------------------------------------------- verification


def _safetensors_problem(path: Path) -> str | None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return "is truncated"
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100_000_000:
            return "is truncated"
        try:
            header = json.loads(f.read(n))
        except ValueError:
            return "has an unreadable header"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    return None if 8 + n + end == size else "is truncated"


def _file_problem(path: Path) -> str | None:
    """Why one checkpoint file does not look loadable (``None`` when it does)."""
    try:
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".safetensors":
            return _safetensors_problem(path)
        elif path.suffix in _TORCH_ARCHIVES:
            with zipfile.ZipFile(path) as archive:  # torch.save writes zip archives; a cut one has no directory
                archive.namelist()
    except (OSError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, KeyError, TypeError, struct.error):
        return "is truncated or unreadable"
    return None


def _marked_run(root: Path) -> bool:
    """Whether pptrain marks the checkpoints under ``root`` (any of them has a marker)."""
    return any((f / MARKER).is_file() for f in checkpoints(root))


def checkpoint_problem(folder: Path, *, require_marker: bool | None = None) -> str | None:
    """Why ``folder`` cannot be resumed from, as a phrase (``None`` when it is complete).

    A marker is required when a sibling checkpoint has one (``require_marker=None``): then
    a folder without it was cut short. Without markers anywhere (a run written before
    pptrain marked checkpoints) the Trainer's own last file, ``trainer_state.json``, decides.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return "is not a directory"
    if require_marker is None:
        require_marker = _marked_run(folder.parent)
    marker = folder / MARKER
    if not marker.is_file() and require_marker:
        return f"{MARKER} is missing (the write was interrupted)"
    if marker.is_file():
        try:
            meta = json.loads(marker.read_text(encoding="utf-8"))
            files = meta["files"]
            if not isinstance(files, dict):
                raise TypeError
        except (OSError, ValueError, KeyError, TypeError):
            return f"its {MARKER} is unreadable"
        for rel, size in files.items():
            path = folder / rel
            if not path.is_file():
                return f"{rel} is missing"
            if path.stat().st_size != size:
                return f"{rel} has {path.stat().st_size} bytes, not the {size} it was written with"
        names = list(files)
    else:
        names = list(_files(folder))
    if "trainer_state.json" not in names:
        return "trainer_state.json is missing (the write was interrupted)"
    if not any(name in names for name in _WEIGHTS) and not any(n.endswith(".safetensors") for n in names):
        return "it holds no model weights"
    for rel in names:
        problem = _file_problem(folder / rel)
        if problem:
            return f"{rel} {problem}"
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        if not isinstance(state.get("global_step"), int):
            raise ValueError
    except (OSError, ValueError, AttributeError):
        return "trainer_state.json has no global_step"
    return None


def remove_checkpoint(folder: Path) -> None:
    """Delete a checkpoint folder, marker first, so a kill midway never leaves one that looks complete."""
    (folder / MARKER).unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


def choose_checkpoint(root: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest complete checkpoint under ``root`` and the incomplete ones, with why."""
    skipped: list[tuple[Path, str]] = []
    chosen = None
    marked = _marked_run(root)
    for folder in checkpoints(root):
        problem = checkpoint_problem(folder, require_marker=marked)
        if problem is None:
            if chosen is None:
                chosen = folder
        else:
            skipped.append((folder, problem))
    return chosen, skipped


def rotate(root: Path, keep: int, newest: Path) -> None:
    """Keep the ``keep`` newest marked checkpoints (``newest`` among them); delete older marked ones."""
    step = checkpoint_step(newest)
    marked = [p for p in checkpoints(root) if (p / MARKER).is_file() and (checkpoint_step(p) or 0) <= (step or 0)]
    for folder in marked[max(keep, 1) :]:
        if folder != newest:
            remove_checkpoint(folder)


# --------------------------------------------------------------------------- run-directory leftovers

#: Temporary names pptrain's atomic writers use inside a run directory.
_LEFTOVER_DIRS = (".bundle.tmp-", ".bundle.old-")
_LEFTOVER_FILES = (".job.json.", ".run.json.", ".summary.json.", ".loss_curve.png.tmp")


def clean_run_dir(run_dir: Path) -> list[str]:
    """Remove what a killed run left half-written in ``run_dir``; returns the names removed.

    ``.bundle.tmp-*`` (a bundle being written) and ``.bundle.old-*`` / ``.bundle.tmp-old-*``
    (the previous bundle during its replacement) folders, and temporary JSON/PNG files. If a
    kill struck between moving the old bundle aside and moving the new one in, the old
    bundle is put back first.
    """
    if not run_dir.is_dir():
        return []
    removed: list[str] = []
    for entry in sorted(run_dir.iterdir()):
        name = entry.name
        if entry.is_dir() and not entry.is_symlink() and name.startswith(_LEFTOVER_DIRS):
            if name.startswith((".bundle.old-", ".bundle.tmp-old-")):
                previous = entry / "bundle"
                if (previous / "bundle.json").is_file() and not (run_dir / "bundle").exists():
                    os.replace(previous, run_dir / "bundle")
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(name)
        elif entry.is_file() and name.startswith(_LEFTOVER_FILES):
            entry.unlink(missing_ok=True)
            removed.append(name)
    return removed


def describe(path: Any) -> str:
    """A checkpoint as the user knows it: ``checkpoints/checkpoint-6``."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name
