"""The downstream tokenizer: a local HF tokenizer, or a byte-level BPE trained offline.

``kind: bpe`` trains a byte-level BPE with the ``tokenizers`` library on the **training
split only** (validation text never shapes the vocabulary), with ``<|endoftext|>`` as id
0, the 256 byte symbols always in the vocabulary (so any text encodes, nothing is
unknown), and ``vocab_size`` ids in all. It is cached under
``<cache_dir>/tokenizers/bpe-<key>/`` where ``key`` hashes the training documents' content,
the settings and the ``tokenizers`` version; a second run with the same inputs loads it
instead of training. On load, the recorded key and the sha256 of ``tokenizer.json`` are
checked; a damaged or edited cache entry is retrained and replaced.

``kind: pretrained`` loads ``PreTrainedTokenizerFast.from_pretrained(path)`` from a local
directory (never the network). Its end-of-text token is its ``eos_token``, or
``<|endoftext|>`` if the vocabulary has it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from pptrain_analytics.corpus import Document, documents_hash
from pptrain_analytics.corpus_specs import TokenizerConfig
from pptrain_core.errors import ConfigError

EOT = "<|endoftext|>"
BPE_FORMAT = 1
META_FILE = "pptrain_tokenizer.json"


@attrs.define
class TextTokenizer:
    """A loaded downstream tokenizer: the fast backend, the end-of-document id and a content hash."""

    backend: Any = attrs.field(repr=False)
    """A ``tokenizers.Tokenizer`` (``encode_batch`` is what the corpus uses)."""
    eod_id: int
    hash: str
    """sha256 of the tokenizer's JSON serialisation: identifies it in caches and reports."""
    directory: Path | None
    info: dict[str, Any]

    @property
    def vocab_size(self) -> int:
        return int(self.backend.get_vocab_size(with_added_tokens=True))

    def token_names(self) -> list[str]:
        """A display name per id: the token string, made unique and whitespace-free."""
        names: list[str] = []
        seen: set[str] = set()
        for i in range(self.vocab_size):
            name = self.backend.id_to_token(i)
            if not name or any(ch.isspace() for ch in name) or name in seen:
                name = f"<id:{i}>"
            seen.add(name)
            names.append(name)
        return names

    def decode(self, ids: Sequence[int]) -> str:
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=False)

    def describe(self) -> dict[str, Any]:
        return {
            **self.info,
            "vocab_size": self.vocab_size,
            "eod_id": self.eod_id,
            "eod_token": self.backend.id_to_token(self.eod_id),
            "hash": self.hash,
            "directory": str(self.directory) if self.directory else None,
        }


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def train_bpe(docs: Sequence[Document], vocab_size: int, min_frequency: int) -> Any:
    """A byte-level BPE trained on ``docs`` (a ``tokenizers.Tokenizer``; ``<|endoftext|>`` is id 0)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((d.text for d in docs), trainer=trainer, length=len(docs))
    return tok


def bpe_cache_key(train_docs: Sequence[Document], config: TokenizerConfig) -> str:
    """The cache key: the training documents' content, the settings and the library version."""
    import tokenizers

    data = {
        "format": BPE_FORMAT,
        "kind": "bpe",
        "vocab_size": config.vocab_size,
        "min_frequency": config.min_frequency,
        "train_documents": documents_hash(train_docs),
        "tokenizers": tokenizers.__version__,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _load_cached_bpe(directory: Path, key: str) -> TextTokenizer | None:
    from tokenizers import Tokenizer

    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        text = (directory / "tokenizer.json").read_text(encoding="utf-8")
        if meta.get("key") != key or meta.get("tokenizer_sha256") != _sha256_text(text):
            return None
        backend = Tokenizer.from_str(text)
    except (OSError, ValueError, Exception):  # missing, unreadable or damaged: retrain
        return None
    eod = backend.token_to_id(EOT)
    if eod is None:
        return None
    return TextTokenizer(backend, int(eod), _sha256_text(text), directory, dict(meta["info"], cached=True))


def bpe_tokenizer(train_docs: Sequence[Document], config: TokenizerConfig, cache_dir: Path) -> TextTokenizer:
    """The BPE for these training documents: from the cache, or trained now and cached."""
    from transformers import PreTrainedTokenizerFast

    from pptrain_core.bundle import atomic_directory, write_json_atomic

    key = bpe_cache_key(train_docs, config)
    directory = Path(cache_dir) / "tokenizers" / f"bpe-{key[:24]}"
    cached = _load_cached_bpe(directory, key)
    if cached is not None:
        return cached
    backend = train_bpe(train_docs, config.vocab_size, config.min_frequency)
    text = backend.to_str()
    info = {
        "kind": "bpe",
        "requested_vocab_size": config.vocab_size,
        "min_frequency": config.min_frequency,
        "trained_on": "train split",
        "train_documents": len(train_docs),
        "key": key,
    }

    def build(tmp: Path) -> None:
        (tmp / "tokenizer.json").write_text(text, encoding="utf-8")
        hf = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOT, clean_up_tokenization_spaces=False)
        hf.save_pretrained(str(tmp / "hf"))
        write_json_atomic(tmp / META_FILE, {"key": key, "tokenizer_sha256": _sha256_text(text), "info": info})

    directory.parent.mkdir(parents=True, exist_ok=True)
    atomic_directory(directory, build)
    return TextTokenizer(
        backend, int(backend.token_to_id(EOT)), _sha256_text(text), directory, dict(info, cached=False)
    )


def pretrained_tokenizer(config: TokenizerConfig) -> TextTokenizer:
    """A local HF tokenizer directory (``save_pretrained``), never downloaded."""
    from transformers import PreTrainedTokenizerFast

    path = Path(str(config.path)).expanduser()
    if not path.is_dir() or not (path / "tokenizer.json").is_file():
        raise ConfigError(
            "$.tokenizer.path",
            f"{config.path!r} is not a local tokenizer directory with tokenizer.json (save_pretrained)",
        )
    try:
        hf = PreTrainedTokenizerFast.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:
        raise ConfigError("$.tokenizer.path", f"cannot load the tokenizer in {config.path!r}: {exc}") from None
    backend = hf.backend_tokenizer
    eod = hf.eos_token_id if hf.eos_token_id is not None else backend.token_to_id(EOT)
    if eod is None:
        raise ConfigError(
            "$.tokenizer.path", f"the tokenizer in {config.path!r} has no eos_token and no {EOT}; set its eos_token"
        )
    info = {"kind": "pretrained", "path": str(path)}
    return TextTokenizer(backend, int(eod), _sha256_text(backend.to_str()), path, info)


def load_tokenizer(config: TokenizerConfig, train_docs: Sequence[Document], cache_dir: Path) -> TextTokenizer:
    """The downstream tokenizer a config names (training a BPE on ``train_docs`` if needed)."""
    if config.kind == "pretrained":
        return pretrained_tokenizer(config)
    return bpe_tokenizer(train_docs, config, cache_dir)
