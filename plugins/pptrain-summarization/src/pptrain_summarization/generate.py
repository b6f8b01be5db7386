"""Generators for nonsense-document summarization (written from the reference's description).

OurTasks follows ``pretraining_datasetgen/ourtasks.py`` of
``acmi-lab/pretraining-with-nonsense@ec2698f`` step by step: a document of
``10 + U{-3..3}`` sentences of ``10 + U{-5..5}`` pseudo-words each ending in ``.``; an
ordered draw of 3 distinct sub-tasks; every sub-task's ``modify_input`` in that order,
then every ``get_output`` in the same order, concatenated. A document is a list of
sentences, each a Python list of token ids; a keyword only ever replaces a pseudo-word,
so no sub-task overwrites another's keyword. The STEP tasks follow ``steptasks.py``:
the shortest prefix of a 100-sentence document holding more than the task's budget.

Random draws come from numpy's PCG64 (``rng``), not from numpy's global state as in the
reference: the same distributions, different streams. Scalar draws are served from a
buffer of uniforms (:class:`Draw`); document words are drawn for a whole block at once.
Examples are generated in blocks of :attr:`SummarizationTask.block_size` consecutive
indices from the block's own seed, so example ``i`` is a pure function of
``(seed, split, i)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from pptrain_core.data import Example, Task, TokenizerSpec, VirtualDataset
from pptrain_core.stats import summary as distribution
from pptrain_summarization.layout import (
    DOT,
    END,
    KEYWORD_START,
    MASK,
    N_WORDS,
    PAD,
    PHRASES,
    SEP,
    SIZE,
    SUBTASK_NAMES,
    WORD0,
    build_names,
    family_token,
    number_id,
    word_id,
)
from pptrain_summarization.specs import SummarizationConfig

MAX_DRAWS = 10_000
"""Give up (with an error naming the task) after this many rejected documents."""

NAMES: tuple[str, ...] = build_names()


@attrs.frozen
class SummaryNames:
    """Display names by id (a tiny picklable callable over the module's name table)."""

    def __call__(self, token_id: int) -> str:
        return NAMES[int(token_id)]


def summarization_vocab() -> TokenizerSpec:
    return TokenizerSpec(size=SIZE, names=SummaryNames(), pad_id=PAD, eos_id=END, sep_id=SEP)


class Infeasible(Exception):
    """A sub-task found no pseudo-word to replace; the document is drawn again."""


# --------------------------------------------------------------------------- random source


class Draw:
    """Buffered scalar uniforms from one generator."""

    __slots__ = ("rng", "_buf", "_i")

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self._buf: list[float] = []
        self._i = 0

    def u(self) -> float:
        if self._i == len(self._buf):
            self._buf = self.rng.random(1024).tolist()
            self._i = 0
        x = self._buf[self._i]
        self._i += 1
        return x

    def below(self, n: int) -> int:
        """Uniform on ``0..n-1``."""
        return int(self.u() * n)

    def randint(self, low: int, high: int) -> int:
        """Uniform on ``low..high``, both ends included."""
        return low + int(self.u() * (high - low + 1))

    def lines(self, n: int, k: int) -> list[int]:
        """``k`` distinct sentence indices of ``n``, sorted (``choice(range(n), k, replace=False)``)."""
        if k == 1:
            return [int(self.u() * n)]
        out: list[int] = []
        while len(out) < k:
            x = int(self.u() * n)
            if x not in out:
                out.append(x)
        out.sort()
        return out

    def sample(self, n: int, k: int) -> list[int]:
        """An ordered sample of ``k`` distinct values of ``0..n-1`` (partial Fisher-Yates)."""
        pool = list(range(n))
        for j in range(k):
            r = j + int(self.u() * (n - j))
            pool[j], pool[r] = pool[r], pool[j]
        return pool[:k]

    def shuffle(self, items: list) -> None:
        for j in range(len(items) - 1, 0, -1):
            r = int(self.u() * (j + 1))
            items[j], items[r] = items[r], items[j]


def pick_word(d: Draw, line: list[int], limit: int, exclude: int = -1) -> int:
    """A uniform position ``< limit`` holding a pseudo-word (the reference's words without ``_``)."""
    if limit > 0:
        for _ in range(16):
            i = int(d.u() * limit)
            if line[i] >= WORD0 and i != exclude:
                return i
    allowed = [i for i in range(max(limit, 0)) if line[i] >= WORD0 and i != exclude]
    if not allowed:
        raise Infeasible
    return allowed[int(d.u() * len(allowed))]


# --------------------------------------------------------------------------- the 16 sub-tasks

Lines = list[list[int]]


def _kw(name: str, n: int) -> list[int]:
    return list(range(KEYWORD_START[name], KEYWORD_START[name] + n))


def _phrase(key: str, **fill: int) -> list[int]:
    out = []
    for w in PHRASES[key]:
        if w.startswith("{"):
            out.append(number_id(fill[w[1:-1]]))
        else:
            out.append(word_id(w))
    return out


KW3, KW4, KW5, KW6 = (_kw(n, 10) for n in SUBTASK_NAMES[:4])
BEGIN_QUOTE, END_QUOTE = _kw("copy_quoted", 2)
BULLET = _kw("copy_bulleted", 1)[0]
KW10 = _kw("classify_keyword", 10)
KW11 = _kw("replace_class_keyword", 12)  # 9 keywords (class c = index // 3), then the 3 class tokens
KW12 = _kw("majority_keyword", 2)
KW13 = _kw("topic_segregation", 12)
NUM14 = _kw("threshold_number", 100)
NUM16 = _kw("largest_number", 100)
KW18 = _kw("paraphrase_words", 80)  # src_s at 4s, target_s_v at 4s+1+v
J19 = _kw("join_clauses", 5)
J20 = _kw("break_clauses", 5)
KW21 = _kw("truncate_sentence", 10)
POSITIVE, NEGATIVE = _phrase("positive"), _phrase("negative")
ABOVE, BELOW = _phrase("above"), _phrase("below")
MAJORITY = [_phrase("majority", k=k) for k in (1, 2)]
LARGEST = [_phrase("largest", n=n) for n in range(100)]
COMBINED = _phrase("combined")
SECTION = _phrase("section")[0]


def _plant_one(kws: list[int]) -> Callable[[Draw, Lines], tuple[int, int]]:
    """One sentence, one random pseudo-word replaced by one of ``kws`` (d3, d10, d11, d14, d18, d21)."""
    n = len(kws)

    def modify(d: Draw, lines: Lines) -> tuple[int, int]:
        li = int(d.u() * len(lines))
        line = lines[li]
        p = pick_word(d, line, len(line))
        k = int(d.u() * n)
        line[p] = kws[k]
        return li, k

    return modify


def _plant_each(kws: list[int], count: Callable[[Draw], int]) -> Callable[[Draw, Lines], list[tuple[int, int]]]:
    """``count`` distinct sentences, each with an independent random keyword (d4, d5, d12, d13)."""
    n = len(kws)

    def modify(d: Draw, lines: Lines) -> list[tuple[int, int]]:
        out = []
        for li in d.lines(len(lines), count(d)):
            line = lines[li]
            p = pick_word(d, line, len(line))
            k = int(d.u() * n)
            line[p] = kws[k]
            out.append((li, k))
        return out

    return modify


def _plant_distinct(kws: list[int], count: Callable[[Draw], int], margin: int):
    """``count`` distinct sentences with distinct keywords, position ``< len - margin`` (d6, d16, d19)."""

    def modify(d: Draw, lines: Lines) -> list[tuple[int, int]]:
        lis = d.lines(len(lines), count(d))
        ks = d.sample(len(kws), len(lis))
        for li, k in zip(lis, ks, strict=True):
            line = lines[li]
            line[pick_word(d, line, len(line) - margin)] = kws[k]
        return list(zip(lis, ks, strict=True))

    return modify


def _three(d: Draw) -> int:
    return 3


def _quote(d: Draw, lines: Lines) -> int:
    li = int(d.u() * len(lines))
    line = lines[li]
    n = len(line)
    b = d.randint(0 if line[0] >= WORD0 else 1, n - 1)
    e = d.randint(b + 1, n)
    lines[li] = [*line[:b], BEGIN_QUOTE, *line[b:e], END_QUOTE, *line[e:]]
    return li


def _bullet(d: Draw, lines: Lines) -> int:
    li = int(d.u() * len(lines))
    lines[li].insert(0, BULLET)
    return li


def _break(d: Draw, lines: Lines) -> tuple[int, int, int]:
    li = int(d.u() * len(lines))
    line = lines[li]
    p0 = pick_word(d, line, len(line) - 1)
    p1 = pick_word(d, line, len(line) - 1, exclude=p0)
    j0, j1 = d.sample(5, 2)
    line[p0], line[p1] = J20[j0], J20[j1]
    return li, J20[j0], J20[j1]


def _cat(lines: Lines, lis) -> list[int]:
    out: list[int] = []
    for li in lis:
        out += lines[li]
    return out


def _out_topics(d: Draw, lines: Lines, st: list[tuple[int, int]]) -> list[int]:
    out: list[int] = []
    for c in range(3):
        out += (SECTION, KW13[9 + c])
        for li, k in st:  # st is in document order
            if k // 3 == c:
                out += lines[li]
    return out


def _out_shuffled(d: Draw, lines: Lines, st: list[tuple[int, int]]) -> list[int]:
    lis = [li for li, _ in st]
    d.shuffle(lis)
    return _cat(lines, lis)


def _out_quote(d: Draw, lines: Lines, li: int) -> list[int]:
    line = lines[li]
    inner = line[line.index(BEGIN_QUOTE) + 1 : line.index(END_QUOTE)]
    if inner[-1] != DOT:
        inner.append(DOT)
    return inner


def _out_replace(table: list[int], new: Callable[[Draw, int], int]):
    def out(d: Draw, lines: Lines, st: tuple[int, int]) -> list[int]:
        li, k = st
        line = list(lines[li])
        line[line.index(table[k])] = new(d, k)
        return line

    return out


def _out_joined(d: Draw, lines: Lines, st: list[tuple[int, int]]) -> list[int]:
    out = list(COMBINED)
    for li, k in st:
        line = lines[li]
        p = line.index(J19[k])
        out += line[p : len(line) - 1]
    out.append(DOT)
    return out


def _out_broken(d: Draw, lines: Lines, st: tuple[int, int, int]) -> list[int]:
    li, j0, j1 = st
    line = lines[li]
    a, b = line.index(j0), line.index(j1)
    if a > b:
        a, b = b, a
    prefix = line[:a]
    return [*prefix, *line[a:b], DOT, *prefix, *line[b : len(line) - 1], DOT]


def _out_truncated(d: Draw, lines: Lines, st: tuple[int, int]) -> list[int]:
    line = lines[st[0]]
    return [*line[: line.index(KW21[st[1]])], DOT]


#: name -> (modify(draw, lines) -> state, output(draw, lines, state) -> tokens)
SUBTASK_FUNCS: dict[str, tuple[Callable, Callable]] = {
    "copy_keyword_one": (_plant_one(KW3), lambda d, lines, st: list(lines[st[0]])),
    "copy_keyword_multiple": (_plant_each(KW4, _three), lambda d, lines, st: _cat(lines, [li for li, _ in st])),
    "copy_keyword_shuffled": (_plant_each(KW5, _three), _out_shuffled),
    "copy_keyword_sorted": (
        _plant_distinct(KW6, _three, 0),
        lambda d, lines, st: _cat(lines, [li for _, li in sorted((k, li) for li, k in st)]),
    ),
    "copy_quoted": (_quote, _out_quote),
    "copy_bulleted": (_bullet, lambda d, lines, li: lines[li][1:]),
    "classify_keyword": (
        _plant_one(KW10),
        lambda d, lines, st: list(POSITIVE if st[1] < 5 else NEGATIVE),
    ),
    "replace_class_keyword": (_plant_one(KW11[:9]), _out_replace(KW11, lambda d, k: KW11[9 + k // 3])),
    "majority_keyword": (
        _plant_each(KW12, lambda d: 2 * d.randint(1, 2) + 1),
        lambda d, lines, st: list(MAJORITY[int(2 * sum(k for _, k in st) > len(st))]),
    ),
    "topic_segregation": (_plant_each(KW13[:9], lambda d: d.randint(2, 5)), _out_topics),
    "threshold_number": (_plant_one(NUM14), lambda d, lines, st: list(ABOVE if st[1] >= 50 else BELOW)),
    "largest_number": (
        _plant_distinct(NUM16, lambda d: d.randint(1, 4), 0),
        lambda d, lines, st: list(LARGEST[max(k for _, k in st)]),
    ),
    "paraphrase_words": (
        _plant_one(KW18[0::4]),
        _out_replace(KW18[0::4], lambda d, k: KW18[4 * k + 1 + int(d.u() * 3)]),
    ),
    "join_clauses": (_plant_distinct(J19, _three, 2), _out_joined),
    "break_clauses": (_break, _out_broken),
    "truncate_sentence": (_plant_one(KW21), _out_truncated),
}
assert set(SUBTASK_FUNCS) == set(SUBTASK_NAMES)


# --------------------------------------------------------------------------- the task


class SummarizationTask(Task):
    """OurTasks and the STEP tasks on nonsense documents; see :class:`SummarizationConfig`."""

    block_size = 32

    def __init__(self, config: SummarizationConfig):
        self.config = config
        self.vocab = summarization_vocab()
        self._tasks = tuple(config.tasks)
        self._subtasks = tuple(config.subtasks)
        self._funcs = [SUBTASK_FUNCS[s] for s in self._subtasks]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_funcs"]  # module-level closures: rebuilt from the names on unpickling
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._funcs = [SUBTASK_FUNCS[s] for s in self._subtasks]

    # ----------------------------------------------------------------- blocks

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        return self._examples(rng, 1)[0]

    def generate_block(self, rng: np.random.Generator, *, seed: int, split: str, block: int) -> list[Example]:
        return self._examples(rng, self.block_size)

    def _examples(self, rng: np.random.Generator, n: int) -> list[Example]:
        """``n`` examples: the task of each first, then each task's examples together, in task order."""
        tasks = self._tasks
        if len(tasks) == 1:
            groups = [(tasks[0], list(range(n)))]
        else:
            ids = rng.integers(0, len(tasks), size=n).tolist()
            groups = [(t, [i for i in range(n) if ids[i] == j]) for j, t in enumerate(tasks)]
        out: list[Example] = [None] * n  # type: ignore[list-item]
        for task, where in groups:
            if not where:
                continue
            got = self._ourtasks(rng, len(where)) if task == "ourtasks" else self._step(rng, task, len(where))
            for i, ex in zip(where, got, strict=True):
                out[i] = ex
        return out

    # ----------------------------------------------------------------- OurTasks

    def _documents(self, rng: np.random.Generator, n: int) -> list[Lines]:
        """``n`` documents, every sentence and word drawn with a few numpy calls."""
        c = self.config
        ns = np.maximum(
            c.num_sentences + rng.integers(-c.num_sentences_tolerance, c.num_sentences_tolerance + 1, size=n), 1
        )
        lo, hi = c.sentence_length - c.sentence_length_tolerance, c.sentence_length + c.sentence_length_tolerance
        lens = np.maximum(rng.integers(lo, hi + 1, size=int(ns.sum())), 1)
        words = rng.integers(WORD0, WORD0 + N_WORDS, size=int(lens.sum())).tolist()
        docs: list[Lines] = []
        w = s = 0
        lens_l = lens.tolist()
        for k in ns.tolist():
            lines = []
            for length in lens_l[s : s + k]:
                line = words[w : w + length]
                line.append(DOT)
                lines.append(line)
                w += length
            s += k
            docs.append(lines)
        return docs

    def _apply(self, d: Draw, lines: Lines) -> tuple[list[int], list[str]]:
        """Modify the document with ``tasks_per_document`` distinct sub-tasks; their summary and names."""
        funcs = self._funcs
        chosen = d.sample(len(funcs), self.config.tasks_per_document) if len(funcs) > 1 else [0]
        states = [funcs[t][0](d, lines) for t in chosen]
        summary: list[int] = []
        for t, st in zip(chosen, states, strict=True):
            summary += funcs[t][1](d, lines, st)
        return summary, [self._subtasks[t] for t in chosen]

    def _ourtasks(self, rng: np.random.Generator, n: int) -> list[Example]:
        d = Draw(rng)
        docs = self._documents(rng, n)
        flat: list[int] = []
        bounds: list[tuple[int, int, int]] = []
        metas: list[dict[str, Any]] = []
        fam = family_token("ourtasks")
        for lines in docs:
            redraws = 0
            while True:
                try:
                    summary, names = self._apply(d, lines)
                    break
                except Infeasible:
                    redraws += 1
                    if redraws >= MAX_DRAWS:
                        raise RuntimeError(
                            f"ourtasks: no document fits sub-tasks {self._subtasks} after {MAX_DRAWS} draws; "
                            "raise sentence_length or num_sentences"
                        ) from None
                    lines = self._documents(rng, 1)[0]
            start = len(flat)
            flat.append(fam)
            for line in lines:
                flat += line
            flat.append(SEP)
            cut = len(flat)
            flat += summary
            flat.append(END)
            bounds.append((start, cut, len(flat)))
            metas.append(
                {
                    "task": "ourtasks",
                    "subtasks": names,
                    "sentences": len(lines),
                    "document_length": cut - start - 2,
                    "summary_length": len(summary),
                    "redraws": redraws,
                }
            )
        tokens = np.array(flat, dtype=np.int64)
        mask = np.zeros(len(flat), dtype=np.int8)
        out = []
        for (s, c, e), meta in zip(bounds, metas, strict=True):
            mask[c:e] = 1
            out.append(Example(tokens[s:e], mask[s:e], meta))
        return out

    # ----------------------------------------------------------------- STEP

    def _step_lengths(self, rng: np.random.Generator, n: int, budget: int):
        """Sentence token counts of ``n`` STEP documents, each cut after its first sentence
        that brings it past ``budget`` tokens; a row overshooting by more than
        ``overshoot_limit`` (or never passing the budget) is drawn again.

        Returns ``(toks, cs, last, redraws)``: per-sentence token counts (words and the
        ``.``) and their running sums, ``(n, step_sentences)``; the index of each row's last
        kept sentence; how often each row was drawn again.
        """
        c = self.config
        lo, hi = c.sentence_length - c.sentence_length_tolerance, c.sentence_length + c.sentence_length_tolerance
        shape = (n, c.step_sentences)
        toks = np.maximum(rng.integers(lo, hi + 1, size=shape), 1) + 1
        redraws = np.zeros(n, dtype=np.int64)
        rows = np.arange(n)
        for _ in range(MAX_DRAWS):
            cs = np.cumsum(toks, axis=1)
            last = (cs <= budget).sum(axis=1)
            bad = last == c.step_sentences
            bad |= cs[rows, np.minimum(last, c.step_sentences - 1)] > budget + c.overshoot_limit
            if not bad.any():
                return toks, cs, last, redraws
            where = np.flatnonzero(bad)
            redraws[where] += 1
            toks[where] = np.maximum(rng.integers(lo, hi + 1, size=(len(where), c.step_sentences)), 1) + 1
        raise RuntimeError(
            f"no STEP document of {c.step_sentences} sentences exceeded {budget} tokens by at most "
            f"{c.overshoot_limit} in {MAX_DRAWS} draws; raise step_sentences or overshoot_limit"
        )

    def _step(self, rng: np.random.Generator, task: str, n: int) -> list[Example]:
        """``n`` examples of one STEP task, drawn together: lengths, words, shuffles and masks in numpy."""
        c = self.config
        toks, cs, last, redraws = self._step_lengths(rng, n, c.step_budget(task))
        rows = np.arange(n)
        length = cs[rows, last]  # document tokens
        offset = np.cumsum(length) - length
        kept = np.arange(c.step_sentences)[None, :] <= last[:, None]  # (n, S) sentences in the document
        docs = rng.integers(WORD0, WORD0 + N_WORDS, size=int(length.sum()))
        docs[(cs - 1 + offset[:, None])[kept]] = DOT
        meta_extra: list[dict[str, Any]] = [{} for _ in range(n)]
        if task == "sentence_reordering":
            keys = rng.random(toks.shape)
            keys[~kept] = 2.0  # dropped sentences sort last; the kept ones in a uniform random order
            perm = np.argsort(keys, axis=1)
            order_kept = np.take_along_axis(kept, perm, axis=1)
            pl = np.take_along_axis(toks, perm, axis=1)[order_kept]
            ps = (np.take_along_axis(cs - toks, perm, axis=1) + offset[:, None])[order_kept]
            sources = docs[np.repeat(ps - (np.cumsum(pl) - pl), pl) + np.arange(len(docs))]
            src_len, src_off, tgt_len = length, offset, length
        elif task == "next_sentence":
            i, t = c.next_input_tokens, c.next_target_tokens
            sources = docs
            src_len, src_off = np.full(n, i), offset
            tgt_len = np.full(n, t)
        else:
            m = rng.integers(c.mask_span_min, c.mask_span_max + 1, size=n)
            start = rng.integers(0, c.mask_window - m + 1)
            total = int(m.sum())
            u = rng.random(total)
            rand = rng.integers(WORD0, WORD0 + N_WORDS, size=total)
            pos = np.repeat(offset + start - (np.cumsum(m) - m), m) + np.arange(total)
            pm, pr = c.mask_token_share, c.mask_token_share + c.mask_random_share
            sources = docs.copy()
            sources[pos] = np.where(u < pm, MASK, np.where(u < pr, rand, docs[pos]))
            ends = np.cumsum(m)
            masked = np.add.reduceat(u < pm, ends - m) if total else np.zeros(n, dtype=np.int64)
            rnd = np.add.reduceat((u >= pm) & (u < pr), ends - m) if total else np.zeros(n, dtype=np.int64)
            for e in range(n):
                meta_extra[e] = {
                    "span_start": int(start[e]),
                    "span_length": int(m[e]),
                    "masked": int(masked[e]),
                    "randomised": int(rnd[e]),
                }
            src_len, src_off, tgt_len = length, offset, length
        tgt_off = offset + (src_len if task == "next_sentence" else 0)
        sizes = src_len + tgt_len + 3
        out_off = (np.cumsum(sizes) - sizes).tolist()
        tokens = np.empty(int(sizes.sum()), dtype=np.int64)
        mask = np.zeros(len(tokens), dtype=np.int8)
        fam = family_token(task)
        out = []
        sl, so, tl, to = src_len.tolist(), src_off.tolist(), tgt_len.tolist(), tgt_off.tolist()
        sents, redr = (last + 1).tolist(), redraws.tolist()
        for e in range(n):
            p, a, b = out_off[e], sl[e], tl[e]
            tokens[p] = fam
            tokens[p + 1 : p + 1 + a] = sources[so[e] : so[e] + a]
            tokens[p + 1 + a] = SEP
            tokens[p + 2 + a : p + 2 + a + b] = docs[to[e] : to[e] + b]
            tokens[p + 2 + a + b] = END
            mask[p + 2 + a : p + 3 + a + b] = 1
            meta = {"task": task, "sentences": sents[e], "redraws": redr[e], "document_length": a, "summary_length": b}
            meta.update(meta_extra[e])
            out.append(Example(tokens[p : p + a + b + 3], mask[p : p + a + b + 3], meta))
        return out

    # ----------------------------------------------------------------- stats

    def stats(self, *, sample: int, seed: int = 0, examples: list[Any] | None = None) -> dict[str, Any]:
        """Document/summary lengths, the task and sub-task mix, STEP redraws and mask shares.

        ``examples``: the ``sample`` train examples, when the caller already has them.
        """
        ds = examples if examples is not None else VirtualDataset(self, seed=seed, split="train", length=sample)
        doc_len: list[int] = []
        sum_len: list[int] = []
        sentences: list[int] = []
        mix: Counter[str] = Counter()
        sub: Counter[str] = Counter()
        per_doc: Counter[int] = Counter()
        redraws = 0
        span: list[int] = []
        masked = randomised = 0
        for ex in ds:
            m = ex.meta
            doc_len.append(m["document_length"])
            sum_len.append(m["summary_length"])
            sentences.append(m["sentences"])
            mix[m["task"]] += 1
            redraws += m["redraws"]
            if "subtasks" in m:
                sub.update(m["subtasks"])
                per_doc[len(set(m["subtasks"]))] += 1
            if "span_length" in m:
                span.append(m["span_length"])
                masked += m["masked"]
                randomised += m["randomised"]

        out: dict[str, Any] = {
            "document_length": distribution(doc_len),
            "summary_length": distribution(sum_len),
            "sentences": distribution(sentences),
            "task_mix": {t: mix[t] / sample for t in self._tasks},
            "redraws_per_example": redraws / sample,
        }
        if mix["ourtasks"]:
            out["subtask_share"] = {s: sub[s] / mix["ourtasks"] for s in self._subtasks}
            out["distinct_subtasks_per_document"] = {str(k): v / mix["ourtasks"] for k, v in sorted(per_doc.items())}
        if span:
            total = sum(span)
            out["mask_span_length"] = distribution(span)
            out["mask_shares"] = {
                "mask_token": masked / total,
                "random_word": randomised / total,
                "kept": 1 - (masked + randomised) / total,
            }
        return out
