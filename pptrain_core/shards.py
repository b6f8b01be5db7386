"""Write a split to disk as token shards, and read them back.

``pptrain generate`` is for users who train elsewhere (nanoGPT, their own loop). A shard
is four files next to each other, named after the split and the shard::

    train-00000-of-00004.tokens.bin    every token of every example, back to back
    train-00000-of-00004.mask.bin      one uint8 0/1 per token: 1 = trained to predict it
    train-00000-of-00004.offsets.bin   uint64, examples + 1 entries: example j is
                                       tokens[offsets[j]:offsets[j+1]]
    train-00000-of-00004.json          the manifest (written last; see docs/generate.md)

Examples are written exactly as the task makes them: nothing is inserted between them
(no end token, no padding), so the files hold the task's data and nothing else; the
offsets give the boundaries. Tokens are little-endian ``uint16`` when the vocabulary has
at most 65,536 ids, else ``uint32``.

Shard ``i`` of ``n`` holds a contiguous range of example indices (see :func:`shard_range`),
and example ``k`` is ``example_at(task, seed, split, k)``: shards written on different
machines together hold every index of ``[start, start + count)`` exactly once, and
concatenated in name order they are byte-identical to the one-shard output.

Writing is crash-safe and bounded in memory: examples stream through a fixed-size buffer
into hidden temporary files in the output directory, which are renamed into place with
``os.replace`` only when everything is written, the manifest last. A crash leaves no
manifest (and no file under a final name) for the shard it was writing. No pickle: JSON
plus raw binary.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from pptrain_core.bundle import fsync_path
from pptrain_core.data import example_at
from pptrain_core.errors import UserError

FORMAT = "pptrain-shards"
FORMAT_VERSION = 1
#: Largest vocabulary whose ids fit uint16 (ids 0..65535).
UINT16_VOCAB_LIMIT = 65536
#: Default write buffer, in tokens (a few MiB of staging memory whatever ``count`` is).
CHUNK_TOKENS = 1 << 20

_SPLIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_KINDS = ("tokens", "mask", "offsets")
_HASH_BLOCK = 1 << 22


# --------------------------------------------------------------------------- naming and ranges


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` -> ``(2, 8)``: the CLI's ``--shard i/n``, checked (``0 <= i < n``)."""
    match = _SHARD.match(str(text))
    if not match:
        raise UserError(f"--shard must look like i/n, e.g. 0/4, got {text!r}.")
    index, total = int(match.group(1)), int(match.group(2))
    _check_shard(index, total)
    return index, total


def _check_shard(shard_index: int, num_shards: int) -> None:
    if num_shards < 1:
        raise UserError(f"--shard {shard_index}/{num_shards} needs at least one shard: n must be 1 or more.")
    if not 0 <= shard_index < num_shards:
        raise UserError(
            f"--shard {shard_index}/{num_shards} is out of range: i must be between 0 and {num_shards - 1}."
        )


def shard_range(count: int, shard_index: int, num_shards: int, start: int = 0) -> range:
    """The example indices of shard ``shard_index`` of ``num_shards`` over ``[start, start+count)``.

    Each shard gets ``count // n`` consecutive indices and the first ``count % n`` shards
    one more, so the shards are disjoint, in order, and cover the range exactly. With
    ``count < n`` the last shards are empty.
    """
    base, extra = divmod(count, num_shards)
    first = start + shard_index * base + min(shard_index, extra)
    return range(first, first + base + (1 if shard_index < extra else 0))


def shard_stem(split: str, shard_index: int, num_shards: int) -> str:
    """``train-00000-of-00004``: the common prefix of a shard's files."""
    return f"{split}-{shard_index:05d}-of-{num_shards:05d}"


def token_dtype(vocab_size: int) -> np.dtype:
    """Little-endian uint16 for vocabularies of at most 65,536 ids, else uint32."""
    return np.dtype("<u2") if vocab_size <= UINT16_VOCAB_LIMIT else np.dtype("<u4")


# --------------------------------------------------------------------------- writing


class _ShardWriter:
    """Streams examples into three hidden temporary files through a fixed-size buffer.

    The buffer holds at most ``chunk_tokens`` tokens and ``chunk_tokens`` example starts;
    an example longer than the buffer is written on its own. ``peak_buffered_tokens``
    records the fullest the buffer got (the tests check it stays bounded).
    """

    def __init__(self, out_dir: Path, stem: str, dtype: np.dtype, vocab_size: int, chunk_tokens: int):
        if chunk_tokens < 1:
            raise ValueError(f"chunk_tokens must be positive, got {chunk_tokens}")
        self.dtype = dtype
        self.vocab_size = vocab_size
        self.chunk = chunk_tokens
        self.final = {k: out_dir / f"{stem}.{k}.bin" for k in _KINDS}
        tag = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.temp = {k: out_dir / f".{stem}.{k}.bin.tmp-{tag}" for k in _KINDS}
        self._files: dict[str, Any] = {}
        self._hash = {k: hashlib.sha256() for k in _KINDS}
        self._bytes = dict.fromkeys(_KINDS, 0)
        self._tokens = np.empty(chunk_tokens, dtype=np.int64)
        self._mask = np.empty(chunk_tokens, dtype=np.int8)
        self._starts = np.empty(chunk_tokens, dtype=np.int64)
        self._fill = 0
        self._count = 0
        self._first_index = 0
        self.examples = 0
        self.total_tokens = 0
        self.loss_tokens = 0
        self.peak_buffered_tokens = 0
        try:
            for k in _KINDS:
                self._files[k] = open(self.temp[k], "xb")  # noqa: SIM115 - closed in finish/abort
        except BaseException:
            self.abort()
            raise

    def add(self, index: int, tokens: np.ndarray, mask: np.ndarray) -> None:
        n = int(tokens.shape[0])
        if self._fill + n > self.chunk or self._count == self.chunk:
            self._flush()
        if n > self.chunk:  # too long for the buffer: write it alone
            self._write(index, tokens, mask, np.zeros(1, dtype=np.int64))
            return
        if self._count == 0:
            self._first_index = index
        self._tokens[self._fill : self._fill + n] = tokens
        self._mask[self._fill : self._fill + n] = mask
        self._starts[self._count] = self._fill
        self._fill += n
        self._count += 1
        self.peak_buffered_tokens = max(self.peak_buffered_tokens, self._fill)

    def _flush(self) -> None:
        if self._count:
            f, c = self._fill, self._count
            self._write(self._first_index, self._tokens[:f], self._mask[:f], self._starts[:c])
        self._fill = self._count = 0

    def _write(self, first_index: int, tokens: np.ndarray, mask: np.ndarray, starts: np.ndarray) -> None:
        if tokens.size:
            bad = np.flatnonzero((tokens < 0) | (tokens >= self.vocab_size))
            if bad.size:
                at = first_index + int(np.searchsorted(starts, bad[0], side="right")) - 1
                raise RuntimeError(
                    f"example {at} has token id {int(tokens[bad[0]])}, outside the task's vocabulary of "
                    f"{self.vocab_size} ids (a bug in the task family)"
                )
            bad = np.flatnonzero((mask != 0) & (mask != 1))
            if bad.size:
                at = first_index + int(np.searchsorted(starts, bad[0], side="right")) - 1
                raise RuntimeError(f"example {at} has loss-mask value {int(mask[bad[0]])}; masks must be 0 or 1")
        self._emit("tokens", tokens.astype(self.dtype))
        self._emit("mask", mask.astype(np.uint8))
        self._emit("offsets", (starts + self.total_tokens).astype("<u8"))
        self.total_tokens += int(tokens.size)
        self.loss_tokens += int(np.count_nonzero(mask))
        self.examples += int(starts.size)

    def _emit(self, kind: str, array: np.ndarray) -> None:
        data = memoryview(np.ascontiguousarray(array)).cast("B")
        self._hash[kind].update(data)
        self._files[kind].write(data)
        self._bytes[kind] += data.nbytes

    def finish(self) -> dict[str, dict[str, Any]]:
        """Flush, write the closing offset, fsync and close; the files' manifest entries."""
        self._flush()
        self._emit("offsets", np.array([self.total_tokens], dtype="<u8"))
        for f in self._files.values():
            f.flush()
            os.fsync(f.fileno())
            f.close()
        return {
            k: {"path": self.final[k].name, "bytes": self._bytes[k], "sha256": self._hash[k].hexdigest()}
            for k in _KINDS
        }

    def abort(self) -> None:
        """Close and delete the temporary files (after an error or an interrupt)."""
        for f in self._files.values():
            try:
                f.close()
            except OSError:
                pass
        for path in self.temp.values():
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def _check_write_args(split: str, count: int, seed: int, start: int, shard_index: int, num_shards: int) -> None:
    if not isinstance(split, str) or not _SPLIT.match(split):
        raise UserError(
            f"--split must be a non-empty name of letters, digits, '-' and '_' (e.g. train), got {split!r}."
        )
    if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 1:
        raise UserError(f"--count must be a whole number of at least 1, got {count!r}.")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"--seed must be a non-negative whole number, got {seed!r}.")
    if not isinstance(start, (int, np.integer)) or isinstance(start, bool) or start < 0:
        raise UserError(f"--start must be a non-negative whole number, got {start!r}.")
    _check_shard(int(shard_index), int(num_shards))


def _vocab_entry(vocab: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"size": int(vocab.size), "special_ids": vocab.special_ids()}
    # Every id's display name while the vocabulary fits uint16 (at most ~1 MB of JSON);
    # larger vocabularies (NCA-style patch ids) keep only the first few.
    if vocab.size <= UINT16_VOCAB_LIMIT:
        entry["names"] = [vocab.name(i) for i in range(vocab.size)]
    else:
        entry["names"] = None
        entry["first_names"] = [vocab.name(i) for i in range(12)]
    return entry


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("examples"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def _is_shard_manifest(path: Path) -> bool:
    """Whether ``path`` is a manifest this module wrote (so ``--overwrite`` may replace its shard)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def write_shards(
    resolved: Any,
    *,
    split: str,
    count: int,
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    shard_index: int = 0,
    num_shards: int = 1,
    start: int = 0,
    overwrite: bool = False,
    progress: bool = True,
    chunk_tokens: int = CHUNK_TOKENS,
) -> Path:
    """Write shard ``shard_index`` of ``num_shards`` of ``split`` to ``out_dir``; the manifest's path.

    ``resolved`` is a :class:`pptrain_core.tasks.ResolvedTask`. The dataset is the examples
    ``[start, start + count)`` of ``(seed, split)``; this call writes only this shard's
    range (:func:`shard_range`), so ``n`` calls, possibly on ``n`` machines, write it all.
    Existing files of this shard are refused unless ``overwrite``; an error or interrupt
    removes the temporary files and leaves any previous shard untouched.
    """
    _check_write_args(split, count, seed, start, shard_index, num_shards)
    seed, count, start = int(seed), int(count), int(start)
    shard_index, num_shards = int(shard_index), int(num_shards)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} is a file, not a directory; choose another --out.")
    stem = shard_stem(split, shard_index, num_shards)
    manifest_path = out / f"{stem}.json"
    finals = [out / f"{stem}.{k}.bin" for k in _KINDS] + [manifest_path]
    existing = [p for p in finals if p.exists() or p.is_symlink()]
    for p in existing:
        if p.is_symlink() or not p.is_file():
            raise UserError(f"{p} exists and is not a regular file; move it away or choose another --out.")
    if existing and not overwrite:
        raise UserError(f"{existing[0]} already exists; pass --overwrite to replace it or choose another --out.")
    if manifest_path in existing and not _is_shard_manifest(manifest_path):
        raise UserError(
            f"{manifest_path} is not a pptrain shard manifest; --overwrite replaces only shards pptrain wrote, "
            "so move it away or choose another --out."
        )

    task = resolved.build()
    vocab = task.vocab
    dtype = token_dtype(vocab.size)
    indices = shard_range(count, shard_index, num_shards, start)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {str(out)!r} cannot be created ({exc.strerror}); choose another --out.") from None

    writer = _ShardWriter(out, stem, dtype, vocab.size, chunk_tokens)
    manifest_tmp = out / f".{stem}.json.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        cache: OrderedDict = OrderedDict()
        with _progress(progress) as bar:
            job = bar.add_task(f"{resolved.ref} {split} {shard_index}/{num_shards}", total=len(indices))
            for done, index in enumerate(indices, 1):
                ex = example_at(task, seed, split, index, cache=cache, cache_blocks=1)
                writer.add(index, ex.tokens, ex.loss_mask)
                if done % 1024 == 0:
                    bar.update(job, completed=done)
            bar.update(job, completed=len(indices))
        files = writer.finish()
        if writer.examples != len(indices):  # pragma: no cover - a writer bug
            raise RuntimeError(f"wrote {writer.examples} examples, expected {len(indices)}")
        manifest = _manifest(resolved, vocab, dtype, split, seed, start, count, shard_index, num_shards, indices)
        manifest.update(
            counts={"examples": writer.examples, "tokens": writer.total_tokens, "loss_tokens": writer.loss_tokens},
            files=files,
        )
        text = json.dumps(manifest, indent=2, default=_json_default, allow_nan=False) + "\n"
        with open(manifest_tmp, "x", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        # Commit: an old manifest goes first, so old metadata never describes new data;
        # the new manifest comes last, so a valid-looking manifest means a complete shard.
        if overwrite and manifest_path.exists():
            manifest_path.unlink()
        for k in _KINDS:
            os.replace(writer.temp[k], writer.final[k])
        os.replace(manifest_tmp, manifest_path)
    except BaseException:
        writer.abort()
        try:
            manifest_tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    fsync_path(out)
    return manifest_path


def _manifest(
    resolved: Any,
    vocab: Any,
    dtype: np.dtype,
    split: str,
    seed: int,
    start: int,
    count: int,
    shard_index: int,
    num_shards: int,
    indices: range,
) -> dict[str, Any]:
    from pptrain_core import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "pptrain_core_version": __version__,
        "versions": {"numpy": np.__version__, "task_plugin": _task_plugin(resolved)},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task_ref": resolved.ref,
        "task": resolved.describe(),
        "seed": seed,
        "split": split,
        "dataset": {"start": start, "count": count},
        "shard": {"index": shard_index, "count": num_shards},
        "examples": {"start": indices.start, "stop": indices.stop},
        "dtypes": {"tokens": dtype.name, "mask": "uint8", "offsets": "uint64", "byte_order": "little"},
        "layout": {
            "separator": None,
            "eos_inserted": False,
            "note": "examples are written back to back exactly as the task makes them; "
            "example j of this shard is tokens[offsets[j]:offsets[j+1]]",
        },
        "vocab": _vocab_entry(vocab),
    }


def _task_plugin(resolved: Any) -> dict[str, Any] | None:
    """The distribution and version that registered the task, when the registry knows it."""
    from pptrain_core.plugins import get_registry

    try:
        registry = get_registry()
        name = resolved.spec.name
        if registry.tasks.get(name) is not resolved.spec:
            return None
        owner = registry.owner("register_tasks", name)
    except Exception:  # provenance only: never fail a write over it
        return None
    return {"distribution": owner.distribution, "name": owner.name, "version": owner.version}


# --------------------------------------------------------------------------- reading


class ShardExample(NamedTuple):
    """One example read back: token ids and its 0/1 loss mask (read-only views)."""

    tokens: np.ndarray
    loss_mask: np.ndarray


def _get(manifest: dict[str, Any], dotted: str, kind: type | tuple[type, ...], where: Path) -> Any:
    value: Any = manifest
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise UserError(f"shard manifest {where} has no field '{dotted}'; regenerate the shard.")
        value = value[part]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise UserError(f"shard manifest {where} has a malformed field '{dotted}'; regenerate the shard.")
    return value


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


def _open_array(path: Path, dtype: np.dtype, length: int) -> np.ndarray:
    if length == 0:
        return np.empty(0, dtype=dtype)  # np.memmap cannot map an empty file
    return np.memmap(path, dtype=dtype, mode="r", shape=(length,))


class ShardReader:
    """One shard, validated and memory-mapped: ``reader[k]`` is example ``k`` of the split.

    Indexing is by *dataset index* (the ``k`` of ``example_at(task, seed, split, k)``), so
    ``reader[k]`` is valid for ``k in reader.indices``. Iteration yields the examples in
    index order. ``tokens``, ``loss_mask`` and ``offsets`` are the flat memory-mapped arrays.
    """

    def __init__(self, manifest_path: str | os.PathLike[str], *, verify: bool = True):
        path = Path(manifest_path)
        self.path = path
        if not path.is_file():
            raise UserError(
                f"shard manifest {path} does not exist; pass a manifest (.json) or the --out directory of "
                "`pptrain generate`."
            )
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"shard manifest {path} is not valid JSON ({exc}); regenerate the shard.") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise UserError(f'{path} is not a pptrain shard manifest (no "format": "{FORMAT}").')
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise UserError(
                f"shard manifest {path} has format version {version!r}, but this pptrain-core reads version "
                f"{FORMAT_VERSION}; upgrade pptrain-core or regenerate the shards."
            )
        self.manifest = manifest
        first = _get(manifest, "examples.start", int, path)
        stop = _get(manifest, "examples.stop", int, path)
        n_examples = _get(manifest, "counts.examples", int, path)
        n_tokens = _get(manifest, "counts.tokens", int, path)
        dtype_name = _get(manifest, "dtypes.tokens", str, path)
        if dtype_name not in ("uint16", "uint32") or _get(manifest, "dtypes.byte_order", str, path) != "little":
            raise UserError(f"shard manifest {path} names an unsupported token dtype {dtype_name!r}.")
        if stop - first != n_examples or first < 0:
            raise UserError(f"shard manifest {path} is inconsistent: its index range does not match its example count.")
        self.indices = range(first, stop)
        for key in ("shard.index", "shard.count", "dataset.start", "dataset.count"):
            _get(manifest, key, int, path)
        self.split = _get(manifest, "split", str, path)
        self.seed = _get(manifest, "seed", int, path)
        dtypes = {"tokens": np.dtype("<" + ("u2" if dtype_name == "uint16" else "u4")), "mask": np.dtype("u1")}
        dtypes["offsets"] = np.dtype("<u8")
        lengths = {"tokens": n_tokens, "mask": n_tokens, "offsets": n_examples + 1}
        files: dict[str, Path] = {}
        for kind in _KINDS:
            name = _get(manifest, f"files.{kind}.path", str, path)
            if Path(name).name != name or name in ("", ".", ".."):
                raise UserError(
                    f"shard manifest {path} names file {name!r} outside its directory; regenerate the shard."
                )
            file = path.parent / name
            expected = _get(manifest, f"files.{kind}.bytes", int, path)
            if expected != lengths[kind] * dtypes[kind].itemsize:
                raise UserError(f"shard manifest {path} is inconsistent: {name} should hold {lengths[kind]} values.")
            if not file.is_file():
                raise UserError(
                    f"shard file {file} named by {path.name} is missing; copy it next to the manifest or "
                    "regenerate the shard."
                )
            actual = file.stat().st_size
            if actual != expected:
                raise UserError(
                    f"shard file {file} has {actual} bytes but its manifest says {expected}; it is truncated "
                    "or from another run, so regenerate the shard."
                )
            if verify and _sha256(file) != _get(manifest, f"files.{kind}.sha256", str, path):
                raise UserError(
                    f"shard file {file} does not match the sha256 in {path.name}; it is corrupted or from "
                    "another run, so copy it again or regenerate the shard."
                )
            files[kind] = file
        self.files = files
        self.tokens = _open_array(files["tokens"], dtypes["tokens"], n_tokens)
        self.loss_mask = _open_array(files["mask"], dtypes["mask"], n_tokens)
        self.offsets = _open_array(files["offsets"], dtypes["offsets"], n_examples + 1)
        ends_ok = int(self.offsets[0]) == 0 and int(self.offsets[-1]) == n_tokens
        if not ends_ok or (verify and bool(np.any(self.offsets[1:] < self.offsets[:-1]))):
            raise UserError(f"shard file {files['offsets']} holds invalid offsets; regenerate the shard.")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> ShardExample:
        index = int(index)
        if index not in self.indices:
            raise IndexError(
                f"example {index} is not in this shard (it holds {self.indices.start}..{self.indices.stop - 1})"
            )
        j = index - self.indices.start
        a, b = int(self.offsets[j]), int(self.offsets[j + 1])
        return ShardExample(self.tokens[a:b], self.loss_mask[a:b])

    def __iter__(self) -> Iterator[ShardExample]:
        for index in self.indices:
            yield self[index]


class ShardSet:
    """All ``n`` shards of one split in a directory, checked to fit together.

    They must share the task, config, seed, split and ``n``, all be present, and cover
    ``[start, start + count)`` exactly; ``shards[k]`` is then example ``k`` whichever
    shard holds it.
    """

    def __init__(self, readers: list[ShardReader]):
        self.readers = sorted(readers, key=lambda r: r.manifest["shard"]["index"])
        self.manifests = [r.manifest for r in self.readers]
        first = self.readers[0]
        fields = ("task_ref", "task", "seed", "split", "dataset", "dtypes")
        for r in self.readers[1:]:
            for key in fields:
                if r.manifest.get(key) != first.manifest.get(key):
                    raise UserError(
                        f"shards {first.path.name} and {r.path.name} disagree on '{key}'; "
                        "they come from different runs, so regenerate one of them."
                    )
        n = first.manifest["shard"]["count"]
        have = [r.manifest["shard"]["index"] for r in self.readers]
        if have != list(range(n)) or any(r.manifest["shard"]["count"] != n for r in self.readers):
            missing = sorted(set(range(n)) - set(have))
            what = f"shard {missing[0]}/{n} is missing" if missing else "the shards do not number 0..n-1"
            raise UserError(f"{what} in {first.path.parent}; write it with `pptrain generate ... --shard i/{n}`.")
        dataset = first.manifest["dataset"]
        expected = dataset["start"]
        for r in self.readers:
            if r.indices.start != expected:
                raise UserError(f"shard {r.path.name} does not start where the previous one ends; regenerate it.")
            expected = r.indices.stop
        if expected != dataset["start"] + dataset["count"]:
            raise UserError(
                f"the shards in {first.path.parent} do not cover the dataset's {dataset['count']} examples."
            )
        self.indices = range(dataset["start"], expected)
        self._stops = np.array([r.indices.stop for r in self.readers], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> ShardExample:
        index = int(index)
        if index not in self.indices:
            raise IndexError(f"example {index} is not in these shards ({self.indices.start}..{self.indices.stop - 1})")
        return self.readers[int(np.searchsorted(self._stops, index, side="right"))][index]

    def __iter__(self) -> Iterator[ShardExample]:
        for r in self.readers:
            yield from r


def read_shards(
    path: str | os.PathLike[str], *, split: str | None = None, verify: bool = True
) -> ShardReader | ShardSet:
    """Open shards written by :func:`write_shards`, validating them first.

    ``path`` is one shard's manifest (a :class:`ShardReader`) or an output directory (a
    :class:`ShardSet` of every shard of ``split``; ``split`` may be left out when the
    directory holds one split). ``verify=False`` skips the sha256 check (sizes are always
    checked) for speed on large files.
    """
    p = Path(path)
    if p.is_dir():
        found: dict[str, list[Path]] = {}
        for m in sorted(p.glob("*-*-of-*.json")):
            name = re.match(r"^(.+)-\d{5,}-of-\d{5,}\.json$", m.name)
            if name:
                found.setdefault(name.group(1), []).append(m)
        if split is None:
            if len(found) != 1:
                have = ", ".join(sorted(found)) or "none"
                raise UserError(f"{p} holds shards of {len(found)} splits ({have}); name the one to read with split=.")
            split = next(iter(found))
        if split not in found:
            raise UserError(f"{p} holds no shards of split {split!r}; check the directory and the split name.")
        return ShardSet([ShardReader(m, verify=verify) for m in found[split]])
    return ShardReader(p, verify=verify)
