"""Generators for Wu et al.'s simpler synthetic tasks (written from the reference's description).

Every sampler follows ``tasks_with_tokens.py`` of ``felixzli/synthetic_pretraining@58a6e0b``
step by step (which lengths are drawn, from which ranges, in which order), with numpy in
place of Python's ``random``. Where the reference calls ``random.randint(a, b)`` we draw
``a + floor(u * (b - a + 1))`` from a buffered stream of uniforms; token lists are drawn
as numpy arrays. The whole input (arguments plus the ``<arg>`` divider) is redrawn,
including any positive/negative coin, until its length is inside
``[min_length, max_length]``, exactly as the reference's ``generate_example`` loop does.

Examples are generated in blocks of :attr:`SimplerTasksTask.block_size` consecutive
indices from the block's own seed, so example ``i`` is a pure function of
``(seed, split, i)``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pptrain_core.data import Example, SymbolicTask, TokenizerSpec, VirtualDataset
from pptrain_core.stats import summary
from pptrain_simpler_tasks.specs import (
    ARG,
    BINARY_TASKS,
    DIGIT0,
    EMPTY,
    END,
    NO,
    PAD,
    SEP,
    SET_OPERATIONS,
    SPECIAL_NAMES,
    SYMBOL0,
    WORD,
    YES,
    SimplerTasksConfig,
    number_base,
    task_token,
)

MAX_DRAWS = 100_000
"""Give up (with an error naming the task) after this many rejected candidates."""

BATCH_MIN = 8
"""A task's examples in a block are drawn vectorised (where it has a batch sampler) when at least this many."""

BLOCK_PER_TASK = 128
BLOCK_MAX = 1024
"""A block holds ``BLOCK_PER_TASK`` examples per task of the mix, at most ``BLOCK_MAX``."""


@attrs.frozen
class SymbolNames:
    """Display names: the fixed special names, ``<reserved_i>``, ``s<k>`` for symbol ``k``
    and, past the ``vocab_size`` symbols, ``#<n>`` for the number ``n``."""

    vocab_size: int | None = None

    def __call__(self, token_id: int) -> str:
        token_id = int(token_id)
        if self.vocab_size is not None and token_id >= number_base(self.vocab_size):
            return f"#{token_id - number_base(self.vocab_size)}"
        if token_id >= SYMBOL0:
            return f"s{token_id - SYMBOL0}"
        return SPECIAL_NAMES.get(token_id, f"<reserved_{token_id}>")


def simpler_vocab(vocab_size: int, max_number: int | None = None) -> TokenizerSpec:
    """Fixed specials, digits and task names (ids 0..63), the ``vocab_size`` symbols, then,
    when ``max_number`` is given (``numbers="tokens"``), one id for each number ``0..max_number``."""
    numbers = max_number is not None
    size = number_base(vocab_size) + max_number + 1 if numbers else SYMBOL0 + vocab_size
    names = SymbolNames(vocab_size if numbers else None)
    return TokenizerSpec(size=size, names=names, pad_id=PAD, eos_id=END, sep_id=SEP)


# --------------------------------------------------------------------------- random source


class Source:
    """One generator's draws: fast buffered scalar integers and numpy token arrays."""

    __slots__ = ("rng", "vocab_size", "_buf", "_i", "_tok", "_tok_list", "_j", "_flt", "_flt_list", "_k")

    def __init__(self, rng: np.random.Generator, vocab_size: int):
        self.rng = rng
        self.vocab_size = vocab_size
        self._buf: list[float] = []
        self._i = 0
        self._tok = np.empty(0, dtype=np.int64)
        self._tok_list: list[int] | None = None
        self._j = 0
        self._flt = np.empty(0)
        self._flt_list: list[float] | None = None
        self._k = 0

    def uniform(self) -> float:
        if self._i == len(self._buf):
            self._buf = self.rng.random(512).tolist()
            self._i = 0
        u = self._buf[self._i]
        self._i += 1
        return u

    def randint(self, low: int, high: int) -> int:
        """Uniform on ``[low, high]``, both ends included (Python's ``random.randint``)."""
        if high < low:
            raise ValueError(f"empty range [{low}, {high}]")
        return low + int(self.uniform() * (high - low + 1))

    def tokens(self, n: int) -> np.ndarray:
        """``n`` symbol ids drawn uniformly with replacement (``random.choices``).

        Served from a buffer refilled 4,096 draws at a time (one numpy call instead of one
        per list); the result is a view of a buffer that is never refilled in place.
        """
        if self._j + n > len(self._tok):
            self._refill_tokens(n)
        out = self._tok[self._j : self._j + n]
        self._j += n
        return out

    def _refill_tokens(self, n: int) -> None:
        self._tok = self.rng.integers(SYMBOL0, SYMBOL0 + self.vocab_size, size=max(4096, n), dtype=np.int64)
        self._tok_list = None
        self._j = 0

    def indices(self, n: int, k: int) -> np.ndarray:
        """``n`` indices uniform on ``[0, k)`` (``random.choices`` from a list of ``k``)."""
        if self._k + n > len(self._flt):
            self._refill_floats(n)
        out = (self._flt[self._k : self._k + n] * k).astype(np.int64)
        self._k += n
        return out

    def _refill_floats(self, n: int) -> None:
        self._flt = self.rng.random(max(4096, n))
        self._flt_list = None
        self._k = 0

    def distinct(self, k: int) -> np.ndarray:
        """``k`` distinct symbol ids, a uniform random subset (``random.sample``).

        The first ``k`` distinct values of a uniform stream are a uniform ``k``-subset;
        when the vocabulary is too small for that to be quick, a numpy sample instead.
        """
        if 4 * k <= self.vocab_size:
            got = self.tokens(2 * k)
            j = self._j - 2 * k  # where got starts (after any refill)
            # usual case at a large vocabulary: the first k draws are already distinct
            if len(set(self._tok_list_now()[j : j + k])) == k:
                return got[:k]
            first = dict.fromkeys(self._tok_list_now()[j : j + 2 * k])
            if len(first) >= k:
                return np.array(list(first)[:k], dtype=np.int64)
        return SYMBOL0 + self.rng.choice(self.vocab_size, size=k, replace=False)

    def _tok_list_now(self) -> list[int]:
        if self._tok_list is None:
            self._tok_list = self._tok.tolist()
        return self._tok_list

    def partition(self, n: int, k: int, *, zeros: bool) -> np.ndarray:
        """``n`` split into ``k`` parts by a uniform multinomial (each part >= 1 unless ``zeros``).

        A uniform multinomial is the bin counts of balls thrown uniformly into ``k`` bins,
        which is how it is drawn here (one vectorised draw and a ``bincount``).
        """
        balls = n if zeros else n - k
        counts = np.bincount(self.indices(balls, k), minlength=k)
        return counts if zeros else counts + 1


# --------------------------------------------------------------------------- problems


@attrs.define(eq=False, slots=True)
class Problem:
    """One task instance: the first argument, the second (binary tasks), and the branch taken."""

    task: str
    seq: np.ndarray
    query: np.ndarray | None = None
    positive: bool | None = None

    def input_tokens(self) -> np.ndarray:
        if self.query is None:
            return self.seq
        return np.concatenate([self.seq, np.array([ARG], dtype=np.int64), self.query])


def find(seq: np.ndarray, query: np.ndarray) -> int:
    """Index of the first occurrence of ``query`` as a contiguous run of ``seq``, or -1."""
    n, m = len(seq), len(query)
    if m == 0:
        return 0
    if m > n:
        return -1
    starts = np.flatnonzero(seq[: n - m + 1] == query[0])
    if len(starts) == 0:
        return -1
    if m == 1:
        return int(starts[0])
    hits = (sliding_window_view(seq, m)[starts] == query).all(axis=1)
    return int(starts[hits.argmax()]) if hits.any() else -1


def _runs(src: Source, n: int, chars_from: np.ndarray | None, shuffle: bool) -> np.ndarray:
    """The reference's run construction: ``n`` tokens in non-empty runs of one token each."""
    if chars_from is None:
        parts = src.randint(1, n)
        chars = src.tokens(parts)
    else:
        parts = len(chars_from)
        chars = chars_from[src.indices(parts, parts)]
    seq = chars.repeat(src.partition(n, parts, zeros=False))
    if shuffle:
        src.rng.shuffle(seq)
    return seq


def _plain(src: Source, cfg: SimplerTasksConfig, task: str) -> Problem:
    return Problem(task, src.tokens(src.randint(cfg.min_length, cfg.max_length)))


def _dedup_or_set(src: Source, cfg: SimplerTasksConfig, task: str) -> Problem:
    n = src.randint(cfg.min_length, cfg.max_length)
    return Problem(task, _runs(src, n, None, shuffle=task == "set"))


def _longest_word(src: Source, cfg: SimplerTasksConfig, task: str) -> Problem:
    words = src.randint(1, cfg.max_length // 2)
    spaces = words - 1
    letters = src.randint(max(cfg.min_length - spaces, words), cfg.max_length - spaces)
    lengths = src.partition(letters, words, zeros=False)
    body = src.tokens(letters)
    out = np.full(letters + spaces, WORD, dtype=np.int64)
    word_of = np.repeat(np.arange(words), lengths)
    out[np.arange(letters) + word_of] = body
    return Problem(task, out)


def _query_present(src: Source, cfg: SimplerTasksConfig, task: str) -> Problem:
    total = cfg.max_length - 1
    q_len = src.randint(1, total // 3)  # query <= half the sequence: q + q/0.5 <= total
    s_len = src.randint(2 * q_len, total - q_len)
    query = src.tokens(q_len)
    times = src.randint(1, s_len // q_len)
    gaps = src.partition(s_len - times * q_len, times + 1, zeros=True)
    filler = src.tokens(int(gaps.sum()))
    pieces, at = [], 0
    for i, g in enumerate(gaps.tolist()):
        pieces.append(filler[at : at + g])
        at += g
        if i < times:
            pieces.append(query)
    return Problem(task, np.concatenate(pieces), query, True)


def _query_absent(src: Source, cfg: SimplerTasksConfig, task: str) -> Problem | None:
    if src.uniform() < 0.01:  # the reference's 1%: a query longer than the sequence
        if cfg.min_length + 1 > cfg.max_length:
            return None
        q_len = src.randint(cfg.min_length + 1, cfg.max_length)
        query = src.tokens(q_len)
        return Problem(task, src.tokens(src.randint(0, q_len - 1)), query, False)
    s_len = src.randint(cfg.min_length, cfg.max_length)
    q_len = src.randint(cfg.min_length, s_len)
    for _ in range(MAX_DRAWS):
        query = src.tokens(q_len)
        seq = src.tokens(s_len)
        if find(seq, query) < 0:
            return Problem(task, seq, query, False)
    raise RuntimeError(f"{task}: no query-free sequence after {MAX_DRAWS} draws; raise vocab_size")


def _search_or_delete(src: Source, cfg: SimplerTasksConfig, task: str) -> Problem | None:
    share = cfg.search_positive_share if task == "search" else cfg.delete_positive_share
    if src.uniform() < share:
        return _query_present(src, cfg, task)
    return _query_absent(src, cfg, task)


def _count(src: Source, cfg: SimplerTasksConfig, task: str) -> Problem:
    s_len = src.randint(cfg.min_length - 2, cfg.max_length - 2)
    q = src.tokens(1)
    hits = src.randint(0, s_len)
    seq = np.concatenate([np.repeat(q, hits), src.tokens(s_len - hits)])
    src.rng.shuffle(seq)
    return Problem(task, seq, q)


def _sort(src: Source, cfg: SimplerTasksConfig, task: str) -> Problem:
    total = cfg.max_length - 1
    o_len = src.randint(cfg.min_length // 2, total // 2)
    order = src.tokens(o_len)  # drawn with replacement, as the reference
    s_len = src.randint(o_len, total - o_len)
    return Problem(task, _runs(src, s_len, order, shuffle=True), order)


def _replace(src: Source, cfg: SimplerTasksConfig, task: str) -> Problem:
    seq = src.tokens(src.randint(cfg.min_length - 3, cfg.max_length - 3))
    distinct = np.unique(seq)
    key = distinct[src.randint(0, len(distinct) - 1)]
    value = src.tokens(1)[0]
    return Problem(task, seq, np.array([key, value], dtype=np.int64))


def _set_operand_array(src: Source, cfg: SimplerTasksConfig) -> tuple[np.ndarray, int]:
    """Both operands as one array (the first ``n1`` items are the first operand)."""
    total = src.randint(cfg.min_length - 1, cfg.max_length - 1)
    n1 = src.randint(0, total)
    pool = src.distinct(total // 2)
    return pool[src.indices(total, len(pool))], n1


def _set_operands(src: Source, cfg: SimplerTasksConfig, task: str) -> Problem:
    seq, n1 = _set_operand_array(src, cfg)
    return Problem(task, seq[:n1], seq[n1:])


SAMPLERS = {
    "copy": _plain,
    "reverse": _plain,
    "first_char": _plain,
    "last_char": _plain,
    "length": _plain,
    "duplicate": _plain,
    "set": _dedup_or_set,
    "deduplicate": _dedup_or_set,
    "longest_word": _longest_word,
    "search": _search_or_delete,
    "delete": _search_or_delete,
    "count": _count,
    "sort": _sort,
    "replace": _replace,
    "union": _set_operands,
    "intersect": _set_operands,
    "set_1_minus_2": _set_operands,
    "set_2_minus_1": _set_operands,
}


# --------------------------------------------------------------------------- solvers


def digits(n: int) -> np.ndarray:
    """Decimal digit tokens of a non-negative integer, most significant first."""
    return np.array([DIGIT0 + int(c) for c in str(n)], dtype=np.int64)


def number(n: int, base: int | None) -> np.ndarray:
    """The answer tokens of the number ``n``: the one id ``base + n``, or digits when ``base`` is None."""
    return digits(n) if base is None else np.array([base + n], dtype=np.int64)


def numbers_batch(values: np.ndarray, base: int | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`number` of many values: all answer tokens back to back, and the count of each."""
    if base is None:
        return digits_batch(values)
    values = np.asarray(values, dtype=np.int64)
    return base + values, np.ones(len(values), dtype=np.int64)


def _base(cfg: SimplerTasksConfig) -> int | None:
    return number_base(cfg.vocab_size) if cfg.numbers == "tokens" else None


def python_set_order(task: str, a: np.ndarray | list[int], b: np.ndarray | list[int]) -> list[int]:
    """The reference's set operation on Python ints, in CPython's ``list(set)`` order."""
    s1 = set(a if isinstance(a, list) else a.tolist())
    s2 = set(b if isinstance(b, list) else b.tolist())
    if task == "union":
        return list(s1.union(s2))
    if task == "intersect":
        return list(s1.intersection(s2))
    if task == "set_1_minus_2":
        return list(s1 - s2)
    return list(s2 - s1)


def _longest(seq: np.ndarray) -> np.ndarray:
    bounds = np.flatnonzero(seq == WORD)
    starts = np.concatenate([[0], bounds + 1])
    ends = np.concatenate([bounds, [len(seq)]])
    i = int(np.argmax(ends - starts))  # argmax keeps the first longest
    return seq[starts[i] : ends[i]]


def solve(p: Problem, base: int | None = None) -> np.ndarray:
    """The answer tokens (possibly empty) for a problem.

    ``base``: id of the number 0 when numbers are single tokens (:func:`number_base`);
    None writes ``length`` and ``count`` answers as decimal digits.
    """
    t, s, q = p.task, p.seq, p.query
    if t == "copy":
        return s
    if t == "reverse":
        return s[::-1]
    if t == "first_char":
        return s[:1]
    if t == "last_char":
        return s[-1:]
    if t == "length":
        return number(len(s), base)
    if t == "duplicate":
        return np.repeat(s, 2)
    if t == "set":
        return np.array(list(dict.fromkeys(s.tolist())), dtype=np.int64)
    if t == "deduplicate":
        keep = np.ones(len(s), dtype=bool)
        keep[1:] = s[1:] != s[:-1]
        return s[keep]
    if t == "longest_word":
        return _longest(s)
    if t == "search":
        return np.array([YES if find(s, q) >= 0 else NO], dtype=np.int64)
    if t == "delete":
        i = find(s, q)
        return s if i < 0 else np.concatenate([s[:i], s[i + len(q) :]])
    if t == "count":
        return number(int((s == q[0]).sum()), base)
    if t == "sort":
        rank = {c: i for i, c in enumerate(q.tolist())}  # a repeated symbol keeps its last position
        keys = np.array([rank[c] for c in s.tolist()], dtype=np.int64)
        return s[np.argsort(keys, kind="stable")]
    if t == "replace":
        return np.where(s == q[0], q[1], s)
    return np.array(python_set_order(t, s, q), dtype=np.int64)


# --------------------------------------------------------------------------- block batches
# ``set`` and the set operations, drawn for many examples at once. Same sampling as the
# per-example samplers above (same ranges, same rejection rule, same output order); the
# random numbers are consumed in a different order, which only changes *which* example a
# seed gives, not the distribution.


def distinct_segments(rng: np.random.Generator, k: np.ndarray, vocab_size: int) -> np.ndarray:
    """Segment ``r`` (``k[r]`` entries, segments back to back): a uniform random ``k[r]``-subset.

    ``random.sample`` for many rows at once. Rows whose subset is small next to the
    vocabulary draw ``k[r]`` ids with replacement and redraw the row while it holds a repeat
    (i.i.d. draws conditioned on being distinct are a uniform ordered subset); the others
    call ``Generator.choice`` without replacement.
    """
    starts = np.cumsum(k) - k
    out = np.empty(int(k.sum()), dtype=np.int64)
    quick = k * (k - 1) <= 2 * vocab_size  # a whole row is accepted with probability >= about exp(-1)
    todo = np.flatnonzero(quick)
    for _ in range(MAX_DRAWS):
        if len(todo) == 0:
            break
        kk = k[todo]
        n = int(kk.sum())
        local = np.repeat(np.arange(len(todo)), kk)
        vals = rng.integers(0, vocab_size, size=n)
        key = np.sort(local * vocab_size + vals)
        bad = np.zeros(len(todo), dtype=bool)
        bad[key[1:][key[1:] == key[:-1]] // vocab_size] = True
        if len(todo) == len(k):  # first pass over every row: segments are already in place
            out[:] = vals
        else:
            out[np.repeat(starts[todo] - (np.cumsum(kk) - kk), kk) + np.arange(n)] = vals
        todo = todo[bad]
    else:
        raise RuntimeError("no distinct pool after many draws; raise vocab_size")
    for r in np.flatnonzero(~quick).tolist():
        out[starts[r] : starts[r] + k[r]] = rng.choice(vocab_size, size=int(k[r]), replace=False)
    return out


def _pack(task: str, inputs: np.ndarray, n_in: np.ndarray, answers: np.ndarray, n_ans: np.ndarray) -> list[Example]:
    """``[task] input <sep> answer-or-<empty> <end>`` for every row, loss on the answer and ``<end>``.

    ``inputs`` holds row ``r``'s input in its first ``n_in[r]`` columns; ``answers`` is
    every row's answer concatenated (``n_ans[r]`` tokens for row ``r``). One token buffer
    for the block; each example's tokens and mask are views of it.
    """
    m = len(n_in)
    length = n_in + 3 + np.maximum(n_ans, 1)
    width = int(length.max())
    grid = np.empty((m, width), dtype=np.int64)
    rows = np.arange(m)
    grid[:, 0] = task_token(task)
    w_in = min(inputs.shape[1], int(n_in.max()))  # columns past every input are never read
    grid[:, 1 : 1 + w_in] = inputs[:, :w_in]
    grid[rows, n_in + 1] = SEP
    grid[rows, n_in + 2] = EMPTY  # overwritten below when the answer is not empty
    if len(answers):
        at = np.repeat(rows, n_ans)
        within = np.arange(len(answers)) - np.repeat(np.cumsum(n_ans) - n_ans, n_ans)
        grid[at, n_in[at] + 2 + within] = answers
    grid[rows, length - 1] = END
    tokens = grid[np.arange(width) < length[:, None]]
    ends_a = np.cumsum(length)
    starts_a = ends_a - length
    step = np.zeros(len(tokens) + 1, dtype=np.int8)  # +1 where an answer starts, -1 after its <end>
    step[starts_a + n_in + 2] = 1
    step[ends_a] = -1
    mask = np.cumsum(step[:-1], dtype=np.int8)
    ends = ends_a.tolist()
    starts = starts_a.tolist()
    return [
        Example(tokens[a:b], mask[a:b], {"task": task, "input_length": i, "answer_length": j})
        for a, b, i, j in zip(starts, ends, n_in.tolist(), n_ans.tolist(), strict=True)
    ]


def _set_operation_batch(rng: np.random.Generator, cfg: SimplerTasksConfig, task: str, m: int) -> list[Example]:
    """``m`` examples of one set operation (the draws of :func:`_set_operand_array`, vectorised)."""
    # total ~ randint(min-1, max-1), so the input (total + <arg>) is always inside the
    # bound and the reference's redraw loop never runs
    total = rng.integers(cfg.min_length - 1, cfg.max_length, size=m)
    n1 = rng.integers(0, total + 1)  # randint(0, total)
    k = total // 2
    pool = distinct_segments(rng, k, cfg.vocab_size)  # the shared pool, random.sample
    width = int(total.max())
    # random.choices(pool, k=total): one uniform index into each row's first k entries
    pick = (rng.random(int(total.sum())) * np.repeat(k, total)).astype(np.int64)
    seq = pool[np.repeat(np.cumsum(k) - k, total) + pick] + SYMBOL0
    # the input with <arg> after the first n1 items
    at = np.arange(width + 1)
    src = (np.cumsum(total) - total)[:, None] + at - (at > n1[:, None])
    inputs = seq[np.minimum(src, len(seq) - 1)]  # columns past the input are overwritten later
    inputs[np.arange(m), n1] = ARG
    flat = seq.tolist()
    answers: list[int] = []
    n_ans = []
    at = 0
    for a, t in zip(n1.tolist(), total.tolist(), strict=True):
        s1, s2 = set(flat[at : at + a]), set(flat[at + a : at + t])
        at += t
        before = len(answers)
        if task == "union":
            answers.extend(s1.union(s2))
        elif task == "intersect":
            answers.extend(s1.intersection(s2))
        elif task == "set_1_minus_2":
            answers.extend(s1 - s2)
        else:
            answers.extend(s2 - s1)
        n_ans.append(len(answers) - before)
    return _pack(task, inputs, total + 1, np.array(answers, dtype=np.int64), np.array(n_ans, dtype=np.int64))


def _set_batch(rng: np.random.Generator, cfg: SimplerTasksConfig, m: int) -> list[Example]:
    """``m`` examples of ``set`` (the draws of :func:`_runs` with ``shuffle``, vectorised)."""
    # n ~ randint(min, max) tokens in runs: always inside the bound, never redrawn
    n = rng.integers(cfg.min_length, cfg.max_length + 1, size=m)
    parts = rng.integers(1, n + 1)  # randint(1, n) runs
    width = int(parts.max())
    chars = rng.integers(SYMBOL0, SYMBOL0 + cfg.vocab_size, size=(m, width))
    # run lengths: one each, plus a uniform multinomial of the other n - parts tokens
    balls = n - parts
    ball_row = np.repeat(np.arange(m), balls)
    ball_bin = (rng.random(len(ball_row)) * parts[ball_row]).astype(np.int64)
    counts = np.bincount(ball_row * width + ball_bin, minlength=m * width).reshape(m, width)
    counts += np.arange(width) < parts[:, None]
    flat = np.repeat(chars.ravel(), counts.ravel())  # the runs, row after row
    row_of = np.repeat(np.arange(m), n)
    # shuffle within each row: sort by row plus a uniform key in [0, 1)
    # (row + u sorts rows apart and shuffles inside each; a tie has probability ~1e-10)
    flat = flat[np.argsort(row_of + rng.random(len(flat)))]
    starts = np.cumsum(n) - n
    pos = np.arange(len(flat)) - starts[row_of]
    inputs = np.zeros((m, int(n.max())), dtype=np.int64)
    inputs[row_of, pos] = flat
    # answer: each row's distinct tokens in order of first occurrence (dict.fromkeys)
    key = row_of * (SYMBOL0 + cfg.vocab_size) + flat
    _, first = np.unique(key, return_index=True)
    first.sort()
    n_ans = np.bincount(row_of[first], minlength=m)
    return _pack("set", inputs, n, flat[first], n_ans)


def digits_batch(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`digits` of many non-negative integers: all digit tokens back to back, and counts."""
    values = np.asarray(values, dtype=np.int64)
    nd = np.ones(len(values), dtype=np.int64)
    power = 10
    while (values >= power).any():
        nd += values >= power
        power *= 10
    width = int(nd.max()) if len(values) else 1
    j = np.arange(width)
    place = 10 ** np.maximum(nd[:, None] - 1 - j, 0)
    grid = DIGIT0 + (values[:, None] // place) % 10
    return grid[j < nd[:, None]], nd


#: Unary tasks whose input is ``randint(min, max)`` uniform tokens, drawn by :func:`_plain_batch`.
PLAIN_TASKS = ("copy", "reverse", "first_char", "last_char", "length", "duplicate")


def _plain_batch(rng: np.random.Generator, cfg: SimplerTasksConfig, task: str, m: int) -> list[Example]:
    """``m`` examples of one of :data:`PLAIN_TASKS` (the draws of :func:`_plain`, vectorised)."""
    n = rng.integers(cfg.min_length, cfg.max_length + 1, size=m)  # always inside the bound
    width = int(n.max())
    inputs = rng.integers(SYMBOL0, SYMBOL0 + cfg.vocab_size, size=(m, width))
    col = np.arange(width)
    valid = col < n[:, None]
    rows = np.arange(m)
    if task == "copy":
        answers, n_ans = inputs[valid], n
    elif task == "reverse":
        answers, n_ans = inputs[rows[:, None], np.maximum(n[:, None] - 1 - col, 0)][valid], n
    elif task == "first_char":
        answers, n_ans = inputs[:, 0], np.ones(m, dtype=np.int64)
    elif task == "last_char":
        answers, n_ans = inputs[rows, n - 1], np.ones(m, dtype=np.int64)
    elif task == "length":
        answers, n_ans = numbers_batch(n, _base(cfg))
    else:  # duplicate
        answers, n_ans = np.repeat(inputs[valid], 2), 2 * n
    return _pack(task, inputs, n, answers, n_ans)


def _count_batch(rng: np.random.Generator, cfg: SimplerTasksConfig, m: int) -> list[Example]:
    """``m`` examples of ``count`` (the draws of :func:`_count`, vectorised)."""
    # seq + <arg> + query is s_len + 2 tokens: always inside the bound, never redrawn
    s_len = rng.integers(cfg.min_length - 2, cfg.max_length - 1, size=m)  # randint(min-2, max-2)
    query = rng.integers(SYMBOL0, SYMBOL0 + cfg.vocab_size, size=m)
    hits = (rng.random(m) * (s_len + 1)).astype(np.int64)  # randint(0, s_len) planted copies
    width = int(s_len.max())
    col = np.arange(width)
    seq = rng.integers(SYMBOL0, SYMBOL0 + cfg.vocab_size, size=(m, width))
    seq = np.where(col < hits[:, None], query[:, None], seq)
    # shuffle the first s_len entries of each row: sort by uniform keys, padding keys last
    keys = rng.random((m, width))
    keys[col >= s_len[:, None]] = 2.0
    seq = np.take_along_axis(seq, np.argsort(keys, axis=1), axis=1)
    rows = np.arange(m)
    inputs = np.empty((m, width + 2), dtype=np.int64)
    inputs[:, :width] = seq
    inputs[rows, s_len] = ARG
    inputs[rows, s_len + 1] = query
    count = ((seq == query[:, None]) & (col < s_len[:, None])).sum(axis=1)
    answers, n_ans = numbers_batch(count, _base(cfg))
    return _pack("count", inputs, s_len + 2, answers, n_ans)


def _search_batch(rng: np.random.Generator, cfg: SimplerTasksConfig, m: int) -> list[Example]:
    """``m`` examples of ``search`` (the draws of :func:`_search_or_delete`, vectorised).

    The reference's redraw loop depends only on the drawn lengths (and, in the query-absent
    branch, redraws only the tokens until the query does not occur, lengths unchanged), so
    the lengths of every row are drawn first, rows outside the bound redrawn from the coin
    on, and the tokens drawn once the lengths stand.
    """
    lo, hi = cfg.min_length, cfg.max_length
    total = hi - 1
    positive = np.zeros(m, dtype=bool)
    s_len = np.zeros(m, dtype=np.int64)
    q_len = np.zeros(m, dtype=np.int64)
    pending = np.arange(m)
    for _ in range(MAX_DRAWS):
        k = len(pending)
        if k == 0:
            break
        pos = rng.random(k) < cfg.search_positive_share
        q_pos = rng.integers(1, total // 3 + 1, size=k)
        s_pos = rng.integers(2 * q_pos, total - q_pos + 1)
        longer = rng.random(k) < 0.01  # the reference's 1%: a query longer than the sequence
        q_long = rng.integers(lo + 1, max(hi, lo + 1) + 1, size=k)
        s_long = (rng.random(k) * q_long).astype(np.int64)  # randint(0, q - 1)
        s_abs = rng.integers(lo, hi + 1, size=k)
        q_abs = rng.integers(lo, s_abs + 1)
        s = np.where(pos, s_pos, np.where(longer, s_long, s_abs))
        q = np.where(pos, q_pos, np.where(longer, q_long, q_abs))
        n = s + 1 + q
        ok = (lo <= n) & (n <= hi) & (pos | ~longer | (lo + 1 <= hi))
        took = pending[ok]
        positive[took], s_len[took], q_len[took] = pos[ok], s[ok], q[ok]
        pending = pending[~ok]
    else:
        raise RuntimeError(f"search: no input inside [{lo}, {hi}] after {MAX_DRAWS} draws")
    rows = np.arange(m)
    sw, qw = max(int(s_len.max()), 1), int(q_len.max())
    seq = rng.integers(SYMBOL0, SYMBOL0 + cfg.vocab_size, size=(m, sw))
    query = rng.integers(SYMBOL0, SYMBOL0 + cfg.vocab_size, size=(m, qw))
    # query-present rows: plant the query times ~ randint(1, s // q) times, the filler
    # between the copies a uniform multinomial (zeros allowed) of what is left
    pr = np.flatnonzero(positive)
    if len(pr):
        qp, sp = q_len[pr], s_len[pr]
        times = 1 + (rng.random(len(pr)) * (sp // qp)).astype(np.int64)
        bins = times + 1
        balls = sp - times * qp
        ball_row = np.repeat(np.arange(len(pr)), balls)
        ball_bin = (rng.random(len(ball_row)) * bins[ball_row]).astype(np.int64)
        w = int(bins.max())
        gaps = np.bincount(ball_row * w + ball_bin, minlength=len(pr) * w).reshape(len(pr), w)
        occ_row = np.repeat(np.arange(len(pr)), times)
        occ_j = np.arange(len(occ_row)) - np.repeat(np.cumsum(times) - times, times)
        start = np.cumsum(gaps, axis=1)[occ_row, occ_j] + occ_j * qp[occ_row]
        cell_row = np.repeat(occ_row, qp[occ_row])
        cell_k = np.arange(len(cell_row)) - np.repeat(np.cumsum(qp[occ_row]) - qp[occ_row], qp[occ_row])
        seq[pr[cell_row], np.repeat(start, qp[occ_row]) + cell_k] = query[pr[cell_row], cell_k]
    # query-absent rows: tokens redrawn while the query occurs (lengths kept)
    for r in np.flatnonzero(~positive & (q_len <= s_len)).tolist():
        for _ in range(MAX_DRAWS):
            if find(seq[r, : s_len[r]], query[r, : q_len[r]]) < 0:
                break
            seq[r] = rng.integers(SYMBOL0, SYMBOL0 + cfg.vocab_size, size=sw)
            query[r] = rng.integers(SYMBOL0, SYMBOL0 + cfg.vocab_size, size=qw)
        else:
            raise RuntimeError(f"search: no query-free sequence after {MAX_DRAWS} draws; raise vocab_size")
    col = np.arange(sw + 1 + qw)
    at_query = col - s_len[:, None] - 1
    inputs = np.where(
        col < s_len[:, None],
        seq[rows[:, None], np.minimum(col, sw - 1)],
        np.where(at_query < 0, ARG, query[rows[:, None], np.clip(at_query, 0, qw - 1)]),
    )
    answers = np.where(positive, YES, NO).astype(np.int64)
    got = _pack("search", inputs, s_len + 1 + q_len, answers, np.ones(m, dtype=np.int64))
    for ex, p in zip(got, positive.tolist(), strict=True):
        ex.meta["positive"] = p
    return got


# --------------------------------------------------------------------------- task


class SimplerTasksTask(SymbolicTask):
    """``[task] input <sep> output <end>``; loss on ``output <end>`` (``<empty>`` if no output)."""

    block_size = 32

    def __init__(self, config: SimplerTasksConfig):
        self.config = config
        self.vocab = simpler_vocab(config.vocab_size, config.max_length if config.numbers == "tokens" else None)
        self._number_base = _base(config)
        self._tasks = tuple(config.tasks)
        # about 128 examples of every task in the mix per block, so each task's group is
        # large enough for its vectorised batch
        self.block_size = min(BLOCK_MAX, BLOCK_PER_TASK * len(self._tasks))

    def _draw_task(self, src: Source) -> str:
        return self._tasks[src.randint(0, len(self._tasks) - 1)] if len(self._tasks) > 1 else self._tasks[0]

    def sample(self, rng: np.random.Generator | Source) -> Problem:
        src = rng if isinstance(rng, Source) else Source(rng, self.config.vocab_size)
        return self._sample_task(src, self._draw_task(src))

    def _sample_task(self, src: Source, task: str) -> Problem:
        cfg = self.config
        sampler = SAMPLERS[task]
        binary = task in BINARY_TASKS
        for _ in range(MAX_DRAWS):
            p = sampler(src, cfg, task)
            if p is None:
                continue
            n = len(p.seq) + (1 + len(p.query) if binary else 0)
            if cfg.min_length <= n <= cfg.max_length:
                return p
        raise RuntimeError(f"{task}: no input inside [{cfg.min_length}, {cfg.max_length}] after {MAX_DRAWS} draws")

    def solve(self, problem: Problem) -> np.ndarray:
        return solve(problem, self._number_base)

    def serialize(self, problem: Problem, answer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        head = np.array([task_token(problem.task)], dtype=np.int64)
        prompt = np.concatenate([head, problem.input_tokens(), np.array([SEP], dtype=np.int64)])
        body = answer if len(answer) else np.array([EMPTY], dtype=np.int64)
        return prompt, np.concatenate([body, np.array([END], dtype=np.int64)])

    def _example(self, src: Source) -> Example:
        return self._example_of(src, self._draw_task(src))

    def _example_of(self, src: Source, task: str) -> Example:
        # serialize() written into one preallocated array: same layout, fewer numpy calls
        problem = self._sample_task(src, task)
        answer = self.solve(problem)
        seq, query = problem.seq, problem.query
        ns = len(seq)
        n_in = ns if query is None else ns + 1 + len(query)
        n_ans = len(answer)
        tokens = np.empty(n_in + 3 + max(n_ans, 1), dtype=np.int64)
        tokens[0] = task_token(problem.task)
        tokens[1 : 1 + ns] = seq
        if query is not None:
            tokens[1 + ns] = ARG
            tokens[2 + ns : 1 + n_in] = query
        tokens[1 + n_in] = SEP
        if n_ans:
            tokens[2 + n_in : -1] = answer
        else:
            tokens[2 + n_in] = EMPTY
        tokens[-1] = END
        mask = np.zeros(len(tokens), dtype=np.int8)
        mask[2 + n_in :] = 1
        meta: dict[str, Any] = {"task": problem.task, "input_length": n_in, "answer_length": n_ans}
        if problem.positive is not None:
            meta["positive"] = problem.positive
        return Example(tokens, mask, meta)

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        return self._example(Source(rng, self.config.vocab_size))

    def generate_block(self, rng: np.random.Generator, *, seed: int, split: str, block: int) -> list[Example]:
        """One block: the task of every example first, then each task's examples as a batch.

        ``set`` and the set operations are drawn vectorised across the block
        (:func:`_set_batch`, :func:`_set_operation_batch`); the other tasks one example at a
        time from a shared :class:`Source`. Groups are drawn in task order, so the block is
        a pure function of its generator.
        """
        n = self.block_size
        tasks = self._tasks
        if len(tasks) == 1:
            groups = [(tasks[0], None)]
        else:
            ids = rng.integers(0, len(tasks), size=n)
            groups = [(tasks[t], np.flatnonzero(ids == t).tolist()) for t in range(len(tasks))]
        out: list[Example] = [None] * n  # type: ignore[list-item]
        src: Source | None = None
        for task, where in groups:
            m = n if where is None else len(where)
            if m == 0:
                continue
            if m < BATCH_MIN:  # a batch's fixed numpy cost outweighs a few examples
                if src is None:
                    src = Source(rng, self.config.vocab_size)
                got = [self._example_of(src, task) for _ in range(m)]
            elif task in SET_OPERATIONS:
                got = _set_operation_batch(rng, self.config, task, m)
            elif task == "set":
                got = _set_batch(rng, self.config, m)
            elif task in PLAIN_TASKS:
                got = _plain_batch(rng, self.config, task, m)
            elif task == "count":
                got = _count_batch(rng, self.config, m)
            elif task == "search":
                got = _search_batch(rng, self.config, m)
            else:
                if src is None:
                    src = Source(rng, self.config.vocab_size)
                got = [self._example_of(src, task) for _ in range(m)]
            if where is None:
                return got
            for i, ex in zip(where, got, strict=True):
                out[i] = ex
        return out

    def stats(self, *, sample: int, seed: int = 0, examples: list[Any] | None = None) -> dict[str, Any]:
        """Input and answer length distributions, the task mix and the positive shares.

        ``examples``: the ``sample`` train examples, when the caller already has them.
        """
        ds = examples if examples is not None else VirtualDataset(self, seed=seed, split="train", length=sample)
        inputs: list[int] = []
        answers: list[int] = []
        mix: Counter[str] = Counter()
        positive: dict[str, list[int]] = {}
        empty: Counter[str] = Counter()
        for ex in ds:
            m = ex.meta
            inputs.append(m["input_length"])
            answers.append(m["answer_length"])
            mix[m["task"]] += 1
            if m["answer_length"] == 0:
                empty[m["task"]] += 1
            if "positive" in m:
                positive.setdefault(m["task"], []).append(int(m["positive"]))

        return {
            "input_length": summary(inputs),
            "answer_length": summary(answers),
            "task_mix": {t: mix[t] / sample for t in self._tasks},
            "positive_share": {t: sum(v) / len(v) for t, v in positive.items()},
            "empty_answer_share": {t: empty[t] / mix[t] for t in self._tasks if mix[t]},
            "input_bound": [self.config.min_length, self.config.max_length],
        }
