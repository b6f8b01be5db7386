"""Generator for Ri & Tsuruoka's artificial languages (ACL 2022, arXiv 2203.10326).

Implemented from the paper and from reading ``Ryou0634/artificial_language@ecf0d22``;
no code is copied. What one block of sentences goes through:

1. sentence lengths ``L`` from the configured histogram (integer cumulative weights, as
   the official ``sample_index_with_weights``);
2. for a dependency language, ``h = L // 2`` pairs, plus one with probability 1/2, at
   least one; only those ``h`` words are drawn (the official code draws ``L`` and keeps
   the first ``h``: the same distribution, since words are i.i.d. given the topic);
3. words: uniform, Zipf (weight of rank ``r`` is ``floor(V / r)``, rank 1 = id 0) or
   log-linear (``p(w) ∝ exp(E_w · c / T)``, one topic ``c`` per ``topic_block``
   consecutive sentences; ``E`` belongs to the language and comes from the seed alone);
4. for a dependency language, the nesting or flat arrangement of the pairs.

Every example is ``BOS sentence EOS`` with loss on every sentence symbol and on EOS.
Vocabulary: the language's symbols first (ids ``0..n-1``; with separate head and
dependent symbols, word ``t`` opens as ``2t`` = ``(t`` and closes as ``2t+1`` = ``t)``,
the official vocabulary order), then ``<pad>``, ``<bos>``, ``<eos>``.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from pptrain_core.data import Example, Task, TokenizerSpec, example_at, rng_for
from pptrain_dyck.language_specs import ArtificialLanguageConfig

#: Sentences per generated block when no topic grouping asks for more: the official CLI's
#: batch size, and enough to amortise the per-block overhead.
SENTENCES_PER_BLOCK = 64


# --------------------------------------------------------------------------- arrangements


def nesting_order(n_pairs: int, coins: list[float], open_prob: float) -> list[int]:
    """The nesting (stack) arrangement of ``n_pairs`` pairs, as signed pair indices.

    ``j >= 0`` is the head of pair ``j``, ``~j`` (``-1 - j``) its dependent. While pairs
    remain: open the next one if nothing is open or the coin is below ``open_prob``,
    otherwise close the most recently opened pair; at the end close the rest, innermost
    first. ``coins`` holds at least ``2 * n_pairs`` uniforms in [0, 1); one is used per step.
    """
    order: list[int] = []
    stack: list[int] = []
    nxt = 0
    k = 0
    while nxt < n_pairs:
        if not stack or coins[k] < open_prob:
            order.append(nxt)
            stack.append(nxt)
            nxt += 1
        else:
            order.append(~stack.pop())
        k += 1
    while stack:
        order.append(~stack.pop())
    return order


def flat_order(n_pairs: int, coins: list[float], picks: list[float]) -> list[int]:
    """The flat (crossing) arrangement of ``n_pairs`` pairs, as signed pair indices.

    While pairs remain, with ``r`` still to open and ``o`` open: open the next one with
    probability ``r / (o + r)`` (always when nothing is open), otherwise close a uniformly
    random open pair; at the end close the rest in uniformly random order. The official
    code shuffles its list of open pairs after every open and pops the last one to close,
    which picks a uniformly random open pair each time, as here. ``coins`` and ``picks``
    hold at least ``2 * n_pairs`` uniforms in [0, 1) each.
    """
    order: list[int] = []
    open_: list[int] = []
    nxt = 0
    k = 0
    while nxt < n_pairs:
        remaining = n_pairs - nxt
        if not open_ or coins[k] < remaining / (len(open_) + remaining):
            order.append(nxt)
            open_.append(nxt)
            nxt += 1
        else:
            i = int(picks[k] * len(open_))
            open_[i], open_[-1] = open_[-1], open_[i]
            order.append(~open_.pop())
        k += 1
    while open_:
        i = int(picks[k] * len(open_))
        open_[i], open_[-1] = open_[-1], open_[i]
        order.append(~open_.pop())
        k += 1
    return order


# --------------------------------------------------------------------------- vocabulary


@attrs.frozen
class SymbolNames:
    """Display names: words as their integer string, ``(t`` / ``t)`` for heads and dependents."""

    n_symbols: int
    paired: bool

    def __call__(self, token_id: int) -> str:
        if token_id >= self.n_symbols:
            return ("<pad>", "<bos>", "<eos>")[token_id - self.n_symbols]
        if self.paired:
            word, is_dependent = divmod(token_id, 2)
            return f"{word})" if is_dependent else f"({word}"
        return str(token_id)


# --------------------------------------------------------------------------- task


def _sample_weighted(rng: np.random.Generator, cumulative: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn with integer weights given by their cumulative sums (exact, no floats)."""
    r = rng.integers(int(cumulative[-1]), size=size)
    return np.searchsorted(cumulative, r, side="right")


class ArtificialLanguageTask(Task):
    """One artificial language; example ``i`` is sentence ``i`` as ``BOS sentence EOS``."""

    def __init__(self, config: ArtificialLanguageConfig):
        self.config = config
        self.structured = config.structure != "none"
        self.n_words = math.ceil(config.vocab_size / 2) if self.structured else config.vocab_size
        paired = self.structured and not config.same_open_and_close_token
        self.paired = paired
        n_symbols = 2 * self.n_words if paired else self.n_words
        self.n_symbols = n_symbols
        self.vocab = TokenizerSpec(
            size=n_symbols + 3,
            names=SymbolNames(n_symbols, paired),
            pad_id=n_symbols,
            bos_id=n_symbols + 1,
            eos_id=n_symbols + 2,
        )
        if config.distribution == "log_linear":
            tb = config.topic_block
            self.block_size = tb * max(1, SENTENCES_PER_BLOCK // tb)
        else:
            self.block_size = SENTENCES_PER_BLOCK
        self._length_cumulative = np.cumsum(np.asarray(config.sentence_length_counts, dtype=np.int64))
        if config.distribution == "zipf":
            ranks = np.arange(1, self.n_words + 1, dtype=np.int64)
            self._zipf_cumulative = np.cumsum(self.n_words // ranks)
        self._embeddings: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------ pickling (workers)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_embeddings"] = {}  # recomputed from the seed; keeps worker pickles small
        return state

    # ------------------------------------------------------------ the language

    def embeddings(self, seed: int) -> np.ndarray:
        """The log-linear language's word embeddings E (``n_words x embedding_dim``).

        A property of the language, not of a split: derived from ``seed`` alone, so train
        and eval sentences come from the same language.
        """
        return self._embeddings_by_dim(seed).T

    def _embeddings_by_dim(self, seed: int) -> np.ndarray:
        """E transposed and contiguous (``embedding_dim x n_words``), cached for one seed."""
        emb_t = self._embeddings.get(seed)
        if emb_t is None:
            rng = rng_for(seed, "language")
            emb = rng.standard_normal((self.n_words, self.config.embedding_dim))
            emb_t = np.ascontiguousarray(emb.T)
            self._embeddings = {seed: emb_t}  # one language at a time
        return emb_t

    def _draw_words(self, rng: np.random.Generator, counts: np.ndarray, seed: int) -> np.ndarray:
        """``counts.sum()`` words, the first ``counts[0]`` for sentence 0 and so on."""
        total = int(counts.sum())
        dist = self.config.distribution
        if dist == "uniform":
            return rng.integers(self.n_words, size=total)
        if dist == "zipf":
            return _sample_weighted(rng, self._zipf_cumulative, total)
        # log-linear: one softmax over the vocabulary per topic group, not per word
        tb = self.config.topic_block
        n_groups = len(counts) // tb
        topics = rng.standard_normal((n_groups, self.config.embedding_dim))
        scores = topics @ self._embeddings_by_dim(seed)  # (n_groups, n_words): E_w . c
        if self.config.temperature != 1.0:
            scores /= self.config.temperature
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        cumulative = np.cumsum(scores, axis=1, out=scores)  # unnormalised, row by row
        per_group = counts.reshape(n_groups, tb).sum(axis=1).tolist()
        uniforms = rng.random(total)
        out = np.empty(total, dtype=np.int64)
        start = 0
        for g, n in enumerate(per_group):
            row = cumulative[g]
            idx = np.searchsorted(row, uniforms[start : start + n] * row[-1], side="right")
            out[start : start + n] = np.minimum(idx, self.n_words - 1)
            start += n
        return out

    def _arrange(self, rng: np.random.Generator, pairs: np.ndarray, words: np.ndarray) -> np.ndarray:
        """Symbols of every sentence's dependency arrangement, concatenated."""
        total = int(pairs.sum())
        coins = rng.random(2 * total).tolist()
        flat = self.config.structure == "flat"
        picks = rng.random(2 * total).tolist() if flat else None
        open_prob = self.config.open_prob
        order: list[int] = []
        offset = 0
        for h in pairs.tolist():
            lo, hi = 2 * offset, 2 * (offset + h)
            if flat:
                order.extend(flat_order(h, coins[lo:hi], picks[lo:hi]))  # type: ignore[index]
            else:
                order.extend(nesting_order(h, coins[lo:hi], open_prob))
            offset += h
        signed = np.asarray(order, dtype=np.int64)
        is_dependent = signed < 0
        pair = np.where(is_dependent, ~signed, signed)
        pair += np.repeat(np.cumsum(pairs) - pairs, 2 * pairs)  # sentence-local -> block index
        word = words[pair]
        return 2 * word + is_dependent if self.paired else word

    # ------------------------------------------------------------ Task interface

    def generate_block(self, rng: np.random.Generator, *, seed: int, split: str, block: int) -> list[Example]:
        n = self.block_size
        lengths = _sample_weighted(rng, self._length_cumulative, n)
        if self.structured:
            pairs = np.maximum(lengths // 2 + (rng.random(n) < 0.5), 1)
            words = self._draw_words(rng, pairs, seed)
            body = self._arrange(rng, pairs, words)
            body_lengths = 2 * pairs
        else:
            body = self._draw_words(rng, lengths, seed)
            body_lengths = lengths
        ends = np.cumsum(body_lengths + 2)  # one past each example
        starts = ends - body_lengths - 2
        is_body = np.ones(int(ends[-1]), dtype=bool)
        is_body[starts] = False
        is_body[ends - 1] = False
        tokens = np.empty(int(ends[-1]), dtype=np.int64)
        tokens[starts] = self.vocab.bos_id
        tokens[ends - 1] = self.vocab.eos_id
        tokens[is_body] = body
        mask = is_body.astype(np.int8)
        mask[ends - 1] = 1
        return [Example(tokens[s:e], mask[s:e], {}) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        """Example ``index``, taken from its block (sentences are generated in blocks)."""
        return example_at(self, seed, split, index)
