"""Downstream corpora: documents with stable ids, a split by document, token arrays on disk.

A corpus is a list of :class:`Document` (a stable ``id`` and its ``text``), read from

* ``embedded`` ``python_stdlib``: the ``.py`` files of the running Python's standard
  library, sorted by path, without test suites (``test``, ``tests``, ``idle_test``),
  ``site-packages`` / ``dist-packages`` and the build-configuration folder
  (``config-*``); ids are the paths relative to the library root;
* ``embedded`` ``pydoc_topics``: the entries of ``pydoc_data.topics.topics`` (English
  prose from the Python reference), sorted by key; ids are the keys;
* ``files``: text files (one document per file, or per block separated by blank lines)
  or JSONL files (one document per line, from ``text_field``);
* ``hf_dataset``: a dataset loaded by the ``datasets`` library from local files
  (``load_dataset(path, data_files=...)``) or a ``save_to_disk`` directory.

**Split by document.** A document is in the validation split when the first 8 bytes of
``sha256("pptrain-split-v1\\0" + id)``, read as a fraction of 2**64, are below
``val_fraction``: the decision depends on the id alone, so adding or removing other
documents never moves a document across the split. If no document falls below the
fraction, the one with the smallest hash goes to validation (and symmetrically for
training), so both splits are never empty.

**Token arrays.** Each split is the concatenation ``doc_1 <eod> doc_2 <eod> ...`` in
corpus order, encoded by the downstream tokenizer (no other special tokens), stored as a
numpy ``int32`` ``.npy`` (no pickle) under the cache directory, keyed by the content
hash of the split's documents and the tokenizer, and memory-mapped when read, so
several processes share one copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from pptrain_analytics.corpus_specs import CorpusConfig
from pptrain_core.errors import ConfigError, UserError

SPLIT_SALT = b"pptrain-split-v1\0"
TOKENS_FORMAT = 1
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


@attrs.frozen
class Document:
    """One document: a stable id (decides its split) and its text."""

    id: str
    text: str


def default_cache_dir() -> Path:
    """``$PPTRAIN_CACHE_DIR``, else ``~/.cache/pptrain``."""
    env = os.environ.get("PPTRAIN_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pptrain"


# --------------------------------------------------------------------------- sources


def python_stdlib_files() -> list[tuple[str, Path]]:
    """(id, path) of the standard library's ``.py`` files, sorted by id."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(("config-", "."))]
        for name in filenames:
            if name.endswith(".py") and not name.startswith("_sysconfigdata"):
                out.append(((rel_dir / name).as_posix(), Path(dirpath) / name))
    return sorted(out)


def _read_text(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"{where}: cannot read {str(path)!r} ({exc.strerror or exc}); check the path.") from None


def _embedded(name: str) -> Iterator[Document]:
    if name == "python_stdlib":
        for doc_id, path in python_stdlib_files():
            text = _read_text(path, "$.corpus")
            if text.strip():
                yield Document(doc_id, text)
    elif name == "pydoc_topics":
        from pydoc_data.topics import topics

        for key in sorted(topics):
            if topics[key].strip():
                yield Document(key, topics[key])
    else:  # pragma: no cover - the config validates the name
        raise ConfigError("$.corpus.name", f"unknown embedded corpus {name!r}")


def _files_of(config: CorpusConfig) -> list[tuple[str, Path]]:
    """(id, path) of every file named by ``paths``: a file's id is its name, a directory's
    files are ``<directory name>/<relative path>``."""
    out: list[tuple[str, Path]] = []
    for i, raw in enumerate(config.paths):
        p = Path(raw).expanduser()
        if p.is_file():
            out.append((p.name, p))
        elif p.is_dir():
            found = sorted(
                f
                for f in p.glob(config.glob)
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                raise ConfigError(f"$.corpus.paths[{i}]", f"directory {raw!r} has no file matching {config.glob!r}")
            out.extend(((Path(p.name) / f.relative_to(p)).as_posix(), f) for f in found)
        else:
            raise ConfigError(f"$.corpus.paths[{i}]", f"{raw!r} does not exist; give a file or a directory")
    return out


def _jsonl_documents(file_id: str, path: Path, config: CorpusConfig) -> Iterator[Document]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{str(path)!r} line {line_no} is not valid JSON ({exc.msg}); fix the file.") from None
            yield _record_document(record, f"{file_id}:{line_no}", f"{str(path)!r} line {line_no}", config)


def _record_document(record: Any, default_id: str, where: str, config: CorpusConfig) -> Document:
    if not isinstance(record, dict) or config.text_field not in record:
        raise UserError(
            f"{where} has no field {config.text_field!r}; set corpus.text_field to the field holding the text."
        )
    text = record[config.text_field]
    if not isinstance(text, str):
        raise UserError(f"{where}: field {config.text_field!r} is {type(text).__name__}, expected a string.")
    doc_id = default_id
    if config.id_field is not None:
        if config.id_field not in record:
            raise UserError(f"{where} has no id field {config.id_field!r}; fix corpus.id_field or remove it.")
        doc_id = str(record[config.id_field])
    return Document(doc_id, text)


def _files(config: CorpusConfig) -> Iterator[Document]:
    for file_id, path in _files_of(config):
        if config.format == "jsonl":
            yield from _jsonl_documents(file_id, path, config)
            continue
        text = _read_text(path, "$.corpus.paths")
        if config.split_on == "file":
            if text.strip():
                yield Document(file_id, text)
            continue
        for k, block in enumerate(b for b in _blank_line_blocks(text)):
            yield Document(f"{file_id}#{k}", block)


def _blank_line_blocks(text: str) -> list[str]:
    """Blocks of text separated by one or more blank (whitespace-only) lines."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def _hf_dataset(config: CorpusConfig) -> Iterator[Document]:
    try:
        import datasets
    except ImportError:  # pragma: no cover - a declared dependency
        raise UserError("a corpus of kind hf_dataset needs the datasets package: pip install datasets.") from None
    datasets.disable_progress_bars()  # the compare progress bar is the one the user watches
    p = Path(str(config.path)).expanduser()
    try:
        if p.is_dir() and (
            (p / "dataset_info.json").is_file() or (p / "state.json").is_file() or (p / "dataset_dict.json").is_file()
        ):
            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                if config.split not in ds:
                    raise ConfigError(
                        "$.corpus.split", f"the dataset has no split {config.split!r}; it has {sorted(ds)}"
                    )
                ds = ds[config.split]
        else:
            for i, f in enumerate(config.data_files):
                if not Path(f).expanduser().exists():
                    raise ConfigError(f"$.corpus.data_files[{i}]", f"{f!r} does not exist; give local files")
            ds = datasets.load_dataset(config.path, data_files=list(config.data_files) or None, split=config.split)
    except UserError:
        raise
    except Exception as exc:  # datasets raises many types for a bad path or builder
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError("$.corpus.path", f"the datasets library could not load {config.path!r}: {first}") from None
    if config.text_field not in ds.column_names:
        raise ConfigError(
            "$.corpus.text_field", f"the dataset has no column {config.text_field!r}; it has {ds.column_names}"
        )
    for i, record in enumerate(ds):
        doc = _record_document(record, str(i), f"row {i} of the dataset", config)
        if doc.text.strip():
            yield doc


def iter_documents(config: CorpusConfig) -> Iterator[Document]:
    """Every document of the corpus, in its stable order."""
    if config.kind == "embedded":
        yield from _embedded(str(config.name))
    elif config.kind == "files":
        yield from _files(config)
    else:
        yield from _hf_dataset(config)


def check_sources(config: CorpusConfig) -> None:
    """Fail early (before anything is written) when a named file or directory is missing."""
    if config.kind == "files":
        _files_of(config)
    elif config.kind == "hf_dataset":
        p = Path(str(config.path)).expanduser()
        if ("/" in str(config.path) or str(config.path).startswith(".")) and not p.exists():
            raise ConfigError("$.corpus.path", f"{config.path!r} does not exist; give a local dataset directory")
        for i, f in enumerate(config.data_files):
            if not Path(f).expanduser().exists():
                raise ConfigError(f"$.corpus.data_files[{i}]", f"{f!r} does not exist; give local files")


# --------------------------------------------------------------------------- the split


def split_fraction(doc_id: str) -> float:
    """Where a document id falls in [0, 1): the hash that decides its split."""
    digest = hashlib.sha256(SPLIT_SALT + doc_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@attrs.frozen
class CorpusSplit:
    """The documents of each split and the content hash of each."""

    name: str
    train: tuple[Document, ...]
    eval: tuple[Document, ...]

    def documents(self, split: str) -> tuple[Document, ...]:
        return self.train if split == "train" else self.eval

    def content_hash(self, split: str) -> str:
        return documents_hash(self.documents(split))


def documents_hash(docs: Iterable[Document]) -> str:
    """sha256 over (id, text) of every document, in order, length-prefixed (unambiguous)."""
    h = hashlib.sha256()
    for doc in docs:
        for part in (doc.id.encode("utf-8"), doc.text.encode("utf-8")):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
    return h.hexdigest()


def corpus_name(config: CorpusConfig) -> str:
    if config.kind == "embedded":
        return str(config.name)
    if config.kind == "files":
        return "files:" + ",".join(config.paths)
    return f"hf_dataset:{config.path}"


def split_documents(docs: Iterable[Document], val_fraction: float, name: str = "corpus") -> CorpusSplit:
    """Split by document id (see the module docstring); ids must be unique."""
    docs = list(docs)
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise UserError(f"corpus {name!r}: two documents have the id {doc.id!r}; ids must be unique.")
        seen.add(doc.id)
    if len(docs) < 2:
        raise UserError(
            f"corpus {name!r} has {len(docs)} non-empty document(s); the split by document needs at least 2."
        )
    fractions = [split_fraction(d.id) for d in docs]
    is_val = [f < val_fraction for f in fractions]
    if not any(is_val):
        is_val[min(range(len(docs)), key=fractions.__getitem__)] = True
    if all(is_val):
        is_val[max(range(len(docs)), key=fractions.__getitem__)] = False
    train = tuple(d for d, v in zip(docs, is_val, strict=True) if not v)
    val = tuple(d for d, v in zip(docs, is_val, strict=True) if v)
    return CorpusSplit(name=name, train=train, eval=val)


def load_split(config: CorpusConfig, val_fraction: float) -> CorpusSplit:
    """Read the corpus and split it by document."""
    return split_documents(iter_documents(config), val_fraction, corpus_name(config))


# --------------------------------------------------------------------------- token arrays


def encode_documents(encoder: Any, docs: Iterable[Document], eod_id: int, batch: int = 256) -> np.ndarray:
    """``doc_1 <eod> doc_2 <eod> ...`` as int32 ids; ``encoder`` is a ``tokenizers.Tokenizer``."""
    parts: list[np.ndarray] = []
    docs = list(docs)
    eod = np.array([eod_id], dtype=np.int32)
    for start in range(0, len(docs), batch):
        texts = [d.text for d in docs[start : start + batch]]
        for enc in encoder.encode_batch(texts, add_special_tokens=False):
            parts.append(np.asarray(enc.ids, dtype=np.int32))
            parts.append(eod)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


class TokenArrays:
    """The train and eval token streams (memory-mapped on first use), and where they live.

    Pickling keeps only the directory and the metadata: a DataLoader worker re-opens the
    memory map instead of receiving a copy of the tokens.
    """

    def __init__(self, directory: Path, meta: dict[str, Any]):
        self.directory = Path(directory)
        self.meta = meta
        self._arrays: dict[str, np.ndarray] = {}

    def split(self, split: str) -> np.ndarray:
        if split not in self._arrays:
            self._arrays[split] = np.load(self.directory / f"{split}.npy", mmap_mode="r", allow_pickle=False)
        return self._arrays[split]

    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self.directory, "meta": self.meta}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.directory, self.meta, self._arrays = state["directory"], state["meta"], {}


def token_arrays(corpus: CorpusSplit, tokenizer: Any, tokenizer_hash: str, eod_id: int, cache_dir: Path) -> TokenArrays:
    """The tokenized splits, from the cache when its hashes match, else encoded and cached."""
    from pptrain_core.bundle import atomic_directory, write_json_atomic

    hashes = {s: corpus.content_hash(s) for s in ("train", "eval")}
    key = hashlib.sha256(
        json.dumps({"format": TOKENS_FORMAT, "docs": hashes, "tokenizer": tokenizer_hash, "eod": eod_id}).encode()
    ).hexdigest()
    directory = Path(cache_dir) / "tokens" / key[:24]
    meta_path = directory / "tokens.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            arrays = TokenArrays(directory, meta)
            if meta.get("key") == key and all(len(arrays.split(s)) == meta["tokens"][s] for s in ("train", "eval")):
                return arrays
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is rebuilt below
    encoded = {s: encode_documents(tokenizer, corpus.documents(s), eod_id) for s in ("train", "eval")}
    meta = {
        "key": key,
        "format": TOKENS_FORMAT,
        "corpus": corpus.name,
        "documents": {s: len(corpus.documents(s)) for s in ("train", "eval")},
        "document_hashes": hashes,
        "tokenizer_hash": tokenizer_hash,
        "eod_id": eod_id,
        "tokens": {s: int(len(a)) for s, a in encoded.items()},
        "python": sys.version.split()[0],
    }

    def build(tmp: Path) -> None:
        for s, arr in encoded.items():
            np.save(tmp / f"{s}.npy", arr, allow_pickle=False)
        write_json_atomic(tmp / "tokens.json", meta)

    directory.parent.mkdir(parents=True, exist_ok=True)
    atomic_directory(directory, build)
    return TokenArrays(directory, meta)
