"""The natural-text task ``text`` and the shuffled control ``shuffled``: configs and task specs.

Light on purpose (attrs only): ``pptrain list-tasks`` imports this module, so numpy,
``tokenizers`` and ``datasets`` are imported by the factories, never here.

* ``text``: fixed-length windows of a tokenized document corpus (local text or JSONL
  files, an HF ``datasets`` dataset, or an embedded corpus that needs no network), split
  into train and validation **by document**. See :mod:`pptrain_analytics.text_task`.
* ``shuffled``: another task's examples with their tokens permuted within each sequence
  (same tokens, no structure), the control that tells structure from token statistics.
"""

from __future__ import annotations

from typing import Any

import attrs

from pptrain_core.config import FieldValueError, at_least, in_range, one_of
from pptrain_core.specs import Preset, Provenance, TaskSpec

CORPUS_KINDS = ("embedded", "files", "hf_dataset")
EMBEDDED_CORPORA = ("python_stdlib", "pydoc_topics")
FILE_FORMATS = ("text", "jsonl")
TEXT_SPLITS = ("file", "blank_lines")
TOKENIZER_KINDS = ("bpe", "pretrained")


def _to_tuple(value: Any) -> Any:
    # a bare string stays a string so the validator can reject it (not one path per character)
    return tuple(value) if isinstance(value, list) else value


def _check_paths(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, tuple) or not all(isinstance(p, str) and p for p in value):
        raise FieldValueError(attribute.name, f"must be a list of non-empty paths, got {value!r}")


@attrs.frozen
class CorpusConfig:
    """Where the documents come from.

    ``kind: embedded`` with ``name: python_stdlib`` (the ``.py`` files of the running
    Python's standard library) or ``pydoc_topics`` (the English help topics in
    ``pydoc_data.topics``); ``kind: files`` with ``paths`` (files and/or directories;
    ``glob`` picks files inside directories), ``format: text`` (``split_on: file``: one
    document per file; ``blank_lines``: one per blank-line-separated paragraph block) or
    ``format: jsonl`` (one document per line, its ``text_field``); ``kind: hf_dataset``
    with ``path`` (a ``datasets`` builder such as ``text``/``json``/``parquet`` with
    ``data_files``, or a ``save_to_disk`` directory), ``split`` and ``text_field``.
    """

    kind: str = attrs.field(default="embedded", validator=one_of(*CORPUS_KINDS))
    name: str | None = None
    """embedded: ``python_stdlib`` or ``pydoc_topics``."""
    paths: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple, validator=_check_paths)
    """files: files and/or directories."""
    glob: str = "**/*"
    """files: which files inside a directory are read (``pathlib`` glob; hidden files are skipped)."""
    format: str = attrs.field(default="text", validator=one_of(*FILE_FORMATS))
    split_on: str = attrs.field(default="file", validator=one_of(*TEXT_SPLITS))
    """files with format text: one document per ``file`` or per ``blank_lines``-separated block."""
    text_field: str = "text"
    """jsonl and hf_dataset: the field holding the document text."""
    id_field: str | None = None
    """jsonl and hf_dataset: a field with a stable document id (default: file and line, or row index)."""
    path: str | None = None
    """hf_dataset: a builder name (``text``, ``json``, ``parquet``, ...) or a ``save_to_disk`` directory."""
    data_files: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple, validator=_check_paths)
    """hf_dataset with a builder: the local files it reads."""
    split: str = "train"
    """hf_dataset: which split of the dataset to read (all of it is then split by document)."""

    def __attrs_post_init__(self) -> None:
        given = {f.name for f in attrs.fields(type(self)) if getattr(self, f.name) != f.default}
        allowed = {
            "embedded": {"kind", "name"},
            "files": {"kind", "paths", "glob", "format", "split_on", "text_field", "id_field"},
            "hf_dataset": {"kind", "path", "data_files", "split", "text_field", "id_field"},
        }[self.kind]
        extra = sorted(given - allowed)
        if extra:
            raise FieldValueError(extra[0], f"does not apply to a corpus of kind {self.kind!r}; remove it")
        if self.kind == "embedded" and self.name not in EMBEDDED_CORPORA:
            if self.name is None:
                raise FieldValueError("name", "is required for an embedded corpus: python_stdlib or pydoc_topics")
            one_of(*EMBEDDED_CORPORA)(self, attrs.fields(type(self)).name, self.name)
        if self.kind == "files" and not self.paths:
            raise FieldValueError("paths", "is required for a corpus of kind 'files', e.g. paths: [data/texts]")
        if self.kind == "hf_dataset" and not self.path:
            raise FieldValueError("path", "is required for an hf_dataset corpus, e.g. path: json with data_files")
        if self.kind == "files" and self.format == "jsonl" and self.split_on != "file":
            raise FieldValueError("split_on", "applies to format text only; a jsonl line is one document")


@attrs.frozen
class TokenizerConfig:
    """``kind: bpe``: a byte-level BPE trained offline on the training split (cached by content
    hash); ``kind: pretrained``: a local HF tokenizer directory (``path``), never downloaded."""

    kind: str = attrs.field(default="bpe", validator=one_of(*TOKENIZER_KINDS))
    vocab_size: int = attrs.field(default=4096, validator=at_least(260))
    """bpe: the vocabulary size, the 256 byte symbols and ``<|endoftext|>`` included."""
    min_frequency: int = attrs.field(default=2, validator=at_least(1))
    """bpe: a pair is merged only if it occurs at least this often."""
    path: str | None = None
    """pretrained: a local directory with ``tokenizer.json`` (``save_pretrained``)."""

    def __attrs_post_init__(self) -> None:
        if self.kind == "pretrained":
            if not self.path:
                raise FieldValueError("path", "is required for a pretrained tokenizer: a local tokenizer directory")
            if self.vocab_size != 4096 or self.min_frequency != 2:
                field = "vocab_size" if self.vocab_size != 4096 else "min_frequency"
                raise FieldValueError(field, "applies to kind bpe only; a pretrained tokenizer has its own")
        elif self.path is not None:
            raise FieldValueError("path", "applies to kind pretrained only; remove it or set kind: pretrained")


@attrs.frozen
class TextTaskConfig:
    """The ``text`` task: windows of ``seq_len`` tokens of a tokenized corpus.

    Documents go to the validation split when a hash of their id falls below
    ``val_fraction``; each split is its documents' tokens joined by ``<|endoftext|>``;
    windows never cross from one split into the other. ``window_offset`` shifts the
    training windows read (the natural-text warm-up reads the windows the downstream stage
    reads last).
    """

    corpus: CorpusConfig = attrs.Factory(lambda: CorpusConfig(name="pydoc_topics"))
    tokenizer: TokenizerConfig = attrs.Factory(TokenizerConfig)
    seq_len: int = attrs.field(default=128, validator=at_least(2))
    val_fraction: float = attrs.field(default=0.1, validator=in_range(0.0, 1.0, low_open=True, high_open=True))
    window_offset: int = attrs.field(default=0, validator=at_least(0))
    cache_dir: str | None = None
    """Where tokenizers and token arrays are cached; default ``$PPTRAIN_CACHE_DIR`` or ``~/.cache/pptrain``."""


@attrs.frozen
class ShuffledTaskConfig:
    """The ``shuffled`` control: ``task`` (``TASK[:PRESET]``) with ``params`` on top, tokens permuted."""

    task: str = "dyck:paper_k64"
    params: dict[str, Any] = attrs.Factory(dict)
    keep_first: bool = True
    """Keep the first token in place (a family's start token stays a start token)."""


_OURS = Provenance("ours", "a small embedded corpus that needs no network")

TEXT_TASK = TaskSpec(
    name="text",
    summary="Natural text: fixed windows of a tokenized corpus (files, HF datasets, or an embedded default).",
    config_cls=TextTaskConfig,
    factory="pptrain_analytics.text_task:build_text_task",
    citation="Corpora: the Python standard library's source and pydoc_data.topics (Python Software Foundation), "
    "or the user's files; byte-level BPE (Sennrich et al. 2016; Radford et al. 2019) via Hugging Face tokenizers.",
    presets=(
        Preset(
            name="pydoc_topics",
            summary="English prose: the Python help topics (pydoc_data.topics), byte-level BPE of 4096.",
            values={"corpus": {"kind": "embedded", "name": "pydoc_topics"}},
            provenance={"corpus": _OURS},
        ),
        Preset(
            name="python_stdlib",
            summary="Code: the .py files of the running Python's standard library, byte-level BPE of 4096.",
            values={"corpus": {"kind": "embedded", "name": "python_stdlib"}},
            provenance={"corpus": _OURS},
        ),
    ),
    default_preset="pydoc_topics",
)

SHUFFLED_TASK = TaskSpec(
    name="shuffled",
    summary="Control: another task's examples with their tokens permuted within each sequence.",
    config_cls=ShuffledTaskConfig,
    factory="pptrain_analytics.text_task:build_shuffled_task",
    citation="The shuffled-sequence control of Jiang, Shinnick, van den Hengel, Saratchandran, Teney 2026, "
    "arXiv 2601.21725.",
)

#: The tasks this module registers (through ``pptrain_analytics.plugin``).
TASKS: list[TaskSpec] = [TEXT_TASK, SHUFFLED_TASK]
