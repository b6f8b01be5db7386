"""The probe tasks' generators: needle-in-a-haystack and reversed addition (numpy only).

Example ``i`` of a split is a pure function of ``(seed, split, i)`` (generated in
vectorised blocks of 256, each from its own seed). Both tasks emit
fixed-length, already padded rows, exactly as the official code feeds them to the model,
so the answer always sits at the same positions the paper's model saw.

Train and eval never share a sequence: with ``eval_buckets = B`` a sequence belongs to
the eval split when ``crc32(tokens) % B == 0`` and to the train split otherwise; a
block keeps, in order, the candidates that land in its split. The official loop
does the same job by rejecting train draws equal to one of its 4,000 eval examples.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from pptrain_analytics.probe_specs import PAPER_N_POSITIONS, NeedleConfig, ReversedAdditionConfig
from pptrain_core.data import Example, Task, TokenizerSpec

#: Split names whose sequences come from the held-out buckets; every other split is "train".
HELD_OUT_SPLITS = frozenset({"eval", "test", "validation"})


def in_split(tokens: np.ndarray, split: str, buckets: int) -> bool:
    """Whether a sequence belongs to ``split`` under the hash separation (always true with 0 buckets)."""
    if buckets == 0:
        return True
    held_out = zlib.crc32(np.ascontiguousarray(tokens, dtype=np.int64).tobytes()) % buckets == 0
    return held_out == (split in HELD_OUT_SPLITS)


class _ProbeTask(Task):
    """Shared: vectorised blocks, filtered to the split by hash; render with the vocabulary's names.

    A block of ``block_size`` examples is drawn from the block's own generator in chunks of
    candidates (:meth:`draw_many`), keeping those that belong to the split, in order.
    """

    name = ""
    block_size = 256

    def draw_many(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """``count`` candidate rows: tokens ``(count, length)``, loss masks, and per-row metadata."""
        raise NotImplementedError

    def generate_block(self, rng: np.random.Generator, *, seed: int, split: str, block: int) -> list[Example]:
        buckets = self.config.eval_buckets
        share = 1.0 if buckets == 0 else (1.0 / buckets if split in HELD_OUT_SPLITS else 1.0 - 1.0 / buckets)
        chunk = int(self.block_size / share * 1.1) + 8
        out: list[Example] = []
        while len(out) < self.block_size:
            tokens, masks, metas = self.draw_many(rng, chunk)
            for row, mask, meta in zip(tokens, masks, metas, strict=True):
                if in_split(row, split, buckets):
                    out.append(Example(row, mask, meta))
                    if len(out) == self.block_size:
                        break
        return out

    @property
    def n_positions(self) -> int:
        """Position-embedding rows of the official probe model (at least the sequence length)."""
        return max(PAPER_N_POSITIONS[self.name], self.length)


# --------------------------------------------------------------------------- needle


class NeedleNames:
    """``<pad>``, ``v<value>``, ``k<key>``, ``q<key>``, ``<unused id>``: picklable display names."""

    def __init__(self, vocab_size: int, max_pairs: int):
        self.half = vocab_size // 2
        self.max_pairs = max_pairs

    def __call__(self, token_id: int) -> str:
        h, m = self.half, self.max_pairs
        if token_id == 0:
            return "<pad>"
        if token_id < h:
            return f"v{token_id}"
        if token_id < h + m:
            return f"k{token_id - h}"
        if token_id < h + 2 * m:
            return f"q{token_id - h - m}"
        return f"<unused{token_id}>"


class NeedleTask(_ProbeTask):
    """Needle-in-a-haystack (``condattendstream``); see :class:`~pptrain_analytics.probe_specs.NeedleConfig`."""

    name = "needle"

    def __init__(self, config: NeedleConfig):
        self.config = config
        self.half = config.vocab_size // 2
        self.length = 2 * config.max_pairs + 3
        names = NeedleNames(config.vocab_size, config.max_pairs)
        self.vocab = TokenizerSpec(size=config.vocab_size, names=[names(i) for i in range(config.vocab_size)], pad_id=0)

    def draw_many(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        m, h, length = self.config.max_pairs, self.half, self.length
        pairs = rng.integers(1, m + 1, size=count)  # s ~ U{1..max_pairs}
        keys = rng.permuted(np.tile(np.arange(m), (count, 1)), axis=1)  # distinct keys, random order
        values = rng.integers(1, h, size=(count, m))  # values from 1..H-1
        which = (rng.random(count) * pairs).astype(np.int64)  # the queried pair, uniform over the s pairs
        rows = np.arange(count)
        tokens = np.zeros((count, length), dtype=np.int64)
        tokens[:, 0 : 2 * m : 2] = keys + h
        tokens[:, 1 : 2 * m : 2] = values
        tokens[np.arange(length)[None, :] >= 2 * pairs[:, None]] = 0  # only the first s pairs are used
        tokens[rows, 2 * pairs] = keys[rows, which] + m + h
        tokens[rows, 2 * pairs + 1] = values[rows, which]
        masks = np.zeros((count, length), dtype=np.int8)
        masks[rows, 2 * pairs + 1] = 1  # loss on the answer only
        return tokens, masks, [{"pairs": int(p)} for p in pairs]


# --------------------------------------------------------------------------- reversed addition

PLUS, EQUALS, PAD, ANSWER_OFFSET, STOP = 10, 11, 12, 20, 30
ADDITION_VOCAB = 31


def _addition_name(token_id: int) -> str:
    if token_id < 10:
        return str(token_id)
    fixed = {PLUS: "+", EQUALS: "=", PAD: "<pad>", STOP: "<stop>"}
    if token_id in fixed:
        return fixed[token_id]
    if ANSWER_OFFSET <= token_id < ANSWER_OFFSET + 10:
        return f"a{token_id - ANSWER_OFFSET}"
    return f"<unused{token_id}>"


class ReversedAdditionTask(_ProbeTask):
    """Reversed addition (``additionstream``); see :class:`~pptrain_analytics.probe_specs.ReversedAdditionConfig`.

    With ``targets: paper`` the pad after the stop token carries loss (the official rule
    scores it), so the vocabulary declares no pad id; with ``targets: answer`` it does.
    """

    name = "reversed_addition"

    def __init__(self, config: ReversedAdditionConfig):
        self.config = config
        self.length = 3 * config.digits + 4
        pad_id = PAD if config.targets == "answer" else None
        names = [_addition_name(i) for i in range(ADDITION_VOCAB)]
        self.vocab = TokenizerSpec(size=ADDITION_VOCAB, names=names, pad_id=pad_id, eos_id=STOP)

    def draw_many(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        d, length = self.config.digits, self.length
        a = rng.integers(10 ** (d - 1), 10**d, size=count)  # exactly d digits each
        b = rng.integers(10 ** (d - 1), 10**d, size=count)
        total = a + b
        powers = 10 ** np.arange(d + 1, dtype=np.int64)
        rev_a = (a[:, None] // powers[:d]) % 10  # least significant digit first = reversed
        rev_b = (b[:, None] // powers[:d]) % 10
        rev_sum = (total[:, None] // powers) % 10
        n_sum = d + (total >= 10**d)  # d or d + 1 answer digits
        tokens = np.full((count, length), PAD, dtype=np.int64)
        tokens[:, :d] = rev_a
        tokens[:, d] = PLUS
        tokens[:, d + 1 : 2 * d + 1] = rev_b
        tokens[:, 2 * d + 1] = EQUALS
        start = 2 * d + 2
        cols = np.arange(d + 1)[None, :]
        answer = np.where(cols < n_sum[:, None], rev_sum + ANSWER_OFFSET, PAD)
        tokens[:, start : start + d + 1] = answer
        rows = np.arange(count)
        tokens[rows, start + n_sum] = STOP
        masks = np.zeros((count, length), dtype=np.int8)
        if self.config.targets == "answer":
            pos = np.arange(length)[None, :]
            masks[(pos >= start) & (pos <= start + n_sum[:, None])] = 1
        else:  # the official rule: targets whose preceding token is >= 20 (an answer digit or stop)
            masks[:, 1:] = tokens[:, :-1] >= ANSWER_OFFSET
        return tokens, masks, [{"a": int(x), "b": int(y)} for x, y in zip(a, b, strict=True)]


def probe_task(name: str, config: Any) -> Task:
    """Build a probe task by name (``needle`` or ``reversed_addition``)."""
    return {"needle": NeedleTask, "reversed_addition": ReversedAdditionTask}[name](config)
