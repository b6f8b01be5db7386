"""The ``text`` task (natural-text windows) and the ``shuffled`` control, as core ``Task``s.

**text.** The split's token stream (documents joined by ``<|endoftext|>``, see
:mod:`pptrain_analytics.corpus`) is cut into windows of ``seq_len`` tokens that overlap
by one token (stride ``seq_len - 1``), so every token but the stream's first is a
prediction target exactly once per epoch: a window's first token carries no loss (nothing
precedes it in the window), every other position does. Windows never cross from one
split into the other, because each split is its own stream.

Example ``i`` of split ``train`` is window ``perm_e[k]`` with ``(e, k) = divmod(i +
window_offset, n_windows)`` and ``perm_e`` a permutation of the windows drawn from
``(seed, "train", "text-windows", e)``: the seed decides the order, every epoch is a new
order, and the whole stream is a pure function of ``(seed, i)``. Split ``eval`` uses
the same rule with seed 0 whatever the run's seed, so every arm and every seed of a
comparison is scored on the same validation windows.

**shuffled.** Example ``i`` is the inner task's example ``i`` (same seed, split, index,
and the same random stream, so exactly the example the inner task gives) with its
tokens permuted within the sequence by a permutation drawn from ``(seed, split,
"shuffle", i)``. The first token stays in place (``keep_first``, so a start token stays a
start token) and the loss mask is kept **by position**: the same number of positions
carry loss, at the same places, now holding shuffled tokens. The token multiset and the
length are unchanged; only the order, and with it every structure, is gone.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from pptrain_analytics.corpus_specs import ShuffledTaskConfig, TextTaskConfig
from pptrain_core.data import Example, Task, TokenizerSpec, rng_for
from pptrain_core.errors import UserError

SPLITS = ("train", "eval")
EVAL_ORDER_SEED = 0


class TextTask(Task):
    """Windows of a tokenized corpus (see the module docstring)."""

    def __init__(self, config: TextTaskConfig, tokenizer: Any, arrays: Any, corpus_info: dict[str, Any]):
        self.config = config
        self.tokenizer = tokenizer
        self.arrays = arrays
        self.corpus_info = corpus_info
        self.seq_len = int(config.seq_len)
        self.stride = self.seq_len - 1
        self.vocab = TokenizerSpec(size=tokenizer.vocab_size, names=tokenizer.token_names(), eos_id=tokenizer.eod_id)
        self._perms: OrderedDict[tuple[int, str, int], np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_perms"] = OrderedDict()
        return state

    # ------------------------------------------------------------------ windows

    def tokens(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ValueError(f"the text task has splits 'train' and 'eval', not {split!r}")
        return self.arrays.split(split)

    def n_windows(self, split: str) -> int:
        n = len(self.tokens(split))
        return 0 if n < self.seq_len else (n - self.seq_len) // self.stride + 1

    def window(self, split: str, j: int) -> np.ndarray:
        """Window ``j`` of a split in stream order: tokens ``j*(seq_len-1) ... j*(seq_len-1)+seq_len-1``."""
        start = j * self.stride
        return np.asarray(self.tokens(split)[start : start + self.seq_len], dtype=np.int64)

    def window_span(self, split: str, j: int) -> tuple[int, int]:
        """``[start, end)`` of window ``j`` in the split's token stream."""
        return j * self.stride, j * self.stride + self.seq_len

    def _perm(self, seed: int, split: str, epoch: int, n: int) -> np.ndarray:
        key = (seed, split, epoch)
        perm = self._perms.get(key)
        if perm is None:
            perm = rng_for(seed, split, "text-windows", epoch).permutation(n)
            self._perms[key] = perm
            while len(self._perms) > 4:
                self._perms.popitem(last=False)
        return perm

    def window_index(self, seed: int, split: str, index: int) -> tuple[int, int]:
        """(window, epoch) that example ``index`` of ``split`` reads under ``seed``."""
        n = self.n_windows(split)
        if n == 0:
            raise UserError(
                f"the {split} split of corpus {self.corpus_info.get('name')!r} has {len(self.tokens(split))} tokens, "
                f"fewer than seq_len={self.seq_len}; use a larger corpus, a larger val_fraction or a shorter seq_len."
            )
        if split == "train":
            epoch, k = divmod(index + self.config.window_offset, n)
            return int(self._perm(seed, split, epoch, n)[k]), epoch
        epoch, k = divmod(index, n)
        return int(self._perm(EVAL_ORDER_SEED, split, epoch, n)[k]), epoch

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        j, epoch = self.window_index(seed, split, index)
        tokens = self.window(split, j)
        mask = np.ones(len(tokens), dtype=np.int8)
        mask[0] = 0
        return Example(tokens, mask, {"window": j, "epoch": epoch})

    def render(self, example: Example) -> str:
        return self.tokenizer.decode(example.tokens.tolist())

    def render_rich(self, example: Example) -> Any:
        """The decoded text, token by token; tokens that carry loss in bold (``pptrain sample``)."""
        from rich.text import Text

        text = Text()
        for token, mask in zip(example.tokens.tolist(), example.loss_mask.tolist(), strict=True):
            text.append(self.tokenizer.decode([token]), style="bold" if mask else "dim")
        return text

    def describe(self) -> dict[str, Any]:
        """Corpus and tokenizer facts for reports: documents, tokens and windows per split, hashes."""
        return {
            **self.corpus_info,
            "tokens": {s: int(len(self.tokens(s))) for s in SPLITS},
            "windows": {s: self.n_windows(s) for s in SPLITS},
            "seq_len": self.seq_len,
            "tokens_dir": str(self.arrays.directory),
        }


def _cache_dir(config: TextTaskConfig) -> Path:
    from pptrain_analytics.corpus import default_cache_dir

    return Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir()


def build_text_task(config: TextTaskConfig) -> TextTask:
    """Read the corpus, split it by document, load or train the tokenizer, tokenize (cached)."""
    from pptrain_analytics.bpe import load_tokenizer
    from pptrain_analytics.corpus import corpus_name, load_split, token_arrays

    cache = _cache_dir(config)
    split = load_split(config.corpus, config.val_fraction)
    tokenizer = load_tokenizer(config.tokenizer, split.train, cache)
    arrays = token_arrays(split, tokenizer.backend, tokenizer.hash, tokenizer.eod_id, cache)
    info = {
        "name": corpus_name(config.corpus),
        "kind": config.corpus.kind,
        "val_fraction": config.val_fraction,
        "documents": {"train": len(split.train), "eval": len(split.eval)},
        "hash": {s: split.content_hash(s) for s in SPLITS},
        "tokenizer": tokenizer.describe(),
    }
    del split
    return TextTask(config, tokenizer, arrays, info)


class ShuffledTask(Task):
    """The inner task's examples with tokens permuted within each sequence (see the module docstring)."""

    def __init__(self, config: ShuffledTaskConfig, inner: Task, inner_ref: str):
        self.config = config
        self.inner = inner
        self.inner_ref = inner_ref
        self.vocab = inner.vocab
        self.block_size = int(getattr(inner, "block_size", 1))

    def shuffle(self, example: Example, *, seed: int, split: str, index: int) -> Example:
        keep = 1 if self.config.keep_first else 0
        n = len(example)
        tokens = example.tokens.copy()
        if n - keep > 1:
            perm = rng_for(seed, split, "shuffle", index).permutation(n - keep) + keep
            tokens[keep:] = example.tokens[perm]
        return Example(tokens, example.loss_mask.copy(), {**example.meta, "shuffled": True})

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        inner = self.inner.generate(rng, seed=seed, split=split, index=index)
        return self.shuffle(inner, seed=seed, split=split, index=index)

    def generate_block(self, rng: np.random.Generator, *, seed: int, split: str, block: int) -> list[Example]:
        examples = self.inner.generate_block(rng, seed=seed, split=split, block=block)
        first = block * self.block_size
        return [self.shuffle(ex, seed=seed, split=split, index=first + k) for k, ex in enumerate(examples)]

    def render(self, example: Example) -> str:
        return self.vocab.render(example.tokens)

    def window_view(self) -> tuple[Task, Any]:
        """Packed or cut, the control permutes the window the model sees (not the whole example
        before it is cut), so its tokens are exactly the multiset the synthetic arm trains on."""
        return self.inner, self.shuffle


def build_shuffled_task(config: ShuffledTaskConfig) -> ShuffledTask:
    """Resolve and build the inner task (``config.task`` with ``config.params``), then wrap it."""
    from pptrain_core.tasks import resolve

    inner = resolve(config.task, config.params, path="$.task.params.params")
    return ShuffledTask(config, inner.build(), inner.ref)
