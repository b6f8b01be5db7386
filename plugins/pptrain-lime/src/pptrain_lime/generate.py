"""The LIME generator (written from the reference's description, vectorised over a block).

Per example, following ``reason/generate_data.py`` of ``tonywu95/LIME@2a4045f`` step by
step (numpy in place of Python's ``random``):

1. 68 distinct symbols, a uniform ordered sample without replacement from
   ``0..vocab_size-1``, split 24 upper / 24 lower / 20 math in that order;
2. the mode (mixed: uniform over induct, deduct, abduct);
3. ``c ~ U{3..5}`` variables (the first ``c`` upper symbols) and ``l ~ U{5..19}`` math
   symbols; ``2c`` variable occurrences drawn with replacement from the ``c`` variables;
   the used variables are ``list(set(occurrences))`` in CPython's iteration order for the
   symbol *values* (ints), computed with Python's own ``set`` in draw order, as the
   reference does;
4. the rule: the ``2c`` occurrences and ``l`` math symbols (with replacement), shuffled;
5. the case: for each used variable in that order, a string of ``U{2..8}`` symbols drawn
   with replacement from lower + math; the result: the rule with every variable
   occurrence replaced by its string.

A block of :attr:`LimeTask.block_size` examples is drawn with one numpy call per step,
each part of an example laid out in a fixed-width grid with a validity mask; the whole
block is then compacted row by row (boolean indexing reads row-major) into one token
buffer, and every example is a view of it. Example ``i`` is example ``i % block_size`` of
block ``i // block_size``, drawn from the block's own seed: a pure function of
``(seed, split, i)``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import numpy as np

from pptrain_core.data import Example, Task, TokenizerSpec, VirtualDataset
from pptrain_core.stats import summary
from pptrain_lime.specs import (
    COLON,
    COMMA,
    END,
    LBRACK,
    LOWER,
    MATH,
    MODES,
    N_DRAWN,
    N_LOWER,
    N_MATH,
    N_UPPER,
    PAD,
    PATTERN_MAX,
    PATTERN_MIN,
    RBRACK,
    SEP,
    SPACE,
    SPECIAL_NAMES,
    SUBST_MAX,
    SUBST_MIN,
    SYMBOL0,
    UPPER,
    VARS_MAX,
    VARS_MIN,
    LimeConfig,
    mode_token,
)

KEYS_MAX_VOCAB = 400
"""Below this ``vocab_size`` the 68 symbols are the smallest of one uniform key per symbol;
from it on, the first 68 distinct values of an i.i.d. stream (measured: faster from about 300)."""

RULE_W = 2 * VARS_MAX + PATTERN_MAX
"""Widest rule: 10 variable occurrences and 19 math symbols."""
BLOCK_W = 3 + SUBST_MAX + 2
"""One case entry ``X : [ s1 .. sk ] ,``, at its widest."""
CASE_W = VARS_MAX * BLOCK_W
RESULT_W = RULE_W * SUBST_MAX
"""The result grid: one row of ``SUBST_MAX`` cells per rule position."""
PART_W = max(RULE_W, CASE_W, RESULT_W)
MID_W = 1 + N_LOWER + 1 + N_MATH + 1
"""``<LOWER> l1..l24 <MATH> m1..m20 <space>``."""

PART_RULE, PART_CASE, PART_RESULT = 0, 1, 2
#: mode -> (first source part, second source part, target)
LAYOUT: dict[str, tuple[int, int, int]] = {
    "deduct": (PART_RULE, PART_CASE, PART_RESULT),
    "abduct": (PART_RULE, PART_RESULT, PART_CASE),
    "induct": (PART_RESULT, PART_CASE, PART_RULE),
}


@attrs.frozen
class LimeNames:
    """Display names: the fixed special names, ``<reserved_i>``, and ``str(s)`` for symbol ``s``.

    Symbols print as the reference's source files write them (plain integers).
    """

    def __call__(self, token_id: int) -> str:
        token_id = int(token_id)
        if token_id >= SYMBOL0:
            return str(token_id - SYMBOL0)
        return SPECIAL_NAMES.get(token_id, f"<reserved_{token_id}>")


def lime_vocab(vocab_size: int) -> TokenizerSpec:
    """``32 + vocab_size`` ids: fixed specials and mode tokens, then the symbols."""
    return TokenizerSpec(size=SYMBOL0 + vocab_size, names=LimeNames(), pad_id=PAD, eos_id=END, sep_id=SEP)


# --------------------------------------------------------------------------- sampling


def distinct_rows(rng: np.random.Generator, rows: int, vocab_size: int, k: int = N_DRAWN) -> np.ndarray:
    """``rows`` x ``k`` symbol values; each row a uniform ordered sample without replacement.

    ``random.sample(range(vocab_size), k)`` for many rows at once. A small vocabulary: one
    uniform key per symbol, the ``k`` smallest keys in increasing order (argpartition, then
    a sort of ``k``). A large one: the first ``k`` distinct values of an i.i.d. stream (also
    a uniform ordered sample), rows without enough distinct values drawn by ``choice``.
    """
    if vocab_size < KEYS_MAX_VOCAB:
        keys = rng.random((rows, vocab_size))
        part = np.argpartition(keys, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(keys, part, axis=1), axis=1)
        return np.take_along_axis(part, order, axis=1)
    n = k + 16 + (k * k) // vocab_size  # >= k distinct values, all but very rarely
    vals = rng.integers(0, vocab_size, size=(rows, n))
    srt = np.argsort(vals, axis=1, kind="stable")
    sv = np.take_along_axis(vals, srt, axis=1)
    first_sorted = np.ones((rows, n), dtype=bool)
    first_sorted[:, 1:] = sv[:, 1:] != sv[:, :-1]
    first = np.empty_like(first_sorted)
    np.put_along_axis(first, srt, first_sorted, axis=1)
    keep = first & (np.cumsum(first, axis=1) <= k)
    ok = keep.sum(axis=1) == k
    out = np.empty((rows, k), dtype=np.int64)
    out[ok] = vals[ok][keep[ok]].reshape(-1, k)
    for r in np.flatnonzero(~ok).tolist():
        out[r] = rng.choice(vocab_size, size=k, replace=False)
    return out


def python_set_order(values: list[int]) -> list[int]:
    """``list(set(values))``: CPython's iteration order, which the reference writes."""
    return list(set(values))


def lime_block(rng: np.random.Generator, config: LimeConfig, rows: int) -> list[Example]:
    """``rows`` examples drawn together (see the module docstring for the procedure)."""
    b = rows
    ar = np.arange(b)
    vocab = config.vocab_size

    # 1. 68 distinct symbols: upper / lower / math
    sym = distinct_rows(rng, b, vocab)
    upper = sym[:, :N_UPPER]
    lower = sym[:, N_UPPER : N_UPPER + N_LOWER]
    math = sym[:, N_UPPER + N_LOWER :]

    # 2. mode
    if config.mode == "mixed":
        mode = rng.integers(0, len(MODES), size=b)
    else:
        mode = np.full(b, MODES.index(config.mode))

    # 3. sizes, variable occurrences and the used variables in set order
    c = rng.integers(VARS_MIN, VARS_MAX + 1, size=b)
    ell = rng.integers(PATTERN_MIN, PATTERN_MAX + 1, size=b)
    n_occ = 2 * c
    occ_idx = (rng.random((b, 2 * VARS_MAX)) * c[:, None]).astype(np.int64)  # random.choices(upper[:c])
    occ = np.take_along_axis(upper, occ_idx, axis=1)
    used_pad = np.full((b, VARS_MAX), -1, dtype=np.int64)
    n_used = np.empty(b, dtype=np.int64)
    for r, (row, n) in enumerate(zip(occ.tolist(), n_occ.tolist(), strict=True)):
        used = python_set_order(row[:n])
        used_pad[r, : len(used)] = used
        n_used[r] = len(used)

    # 4. the rule: occurrences then math symbols, shuffled (a uniform permutation per row)
    cols = np.arange(RULE_W)
    raw = np.concatenate([occ, np.take_along_axis(math, rng.integers(0, N_MATH, size=(b, PATTERN_MAX)), axis=1)], 1)
    # left-align: positions j < 2c are occurrences, 2c <= j < 2c + l math symbols
    src_col = np.where(cols[None, :] < n_occ[:, None], cols[None, :], cols[None, :] - n_occ[:, None] + 2 * VARS_MAX)
    raw = np.take_along_axis(raw, np.minimum(src_col, RULE_W - 1), axis=1)
    is_var_raw = cols[None, :] < n_occ[:, None]
    rule_len = n_occ + ell
    rule_ok = cols[None, :] < rule_len[:, None]
    keys = rng.random((b, RULE_W)) + ~rule_ok  # padding sorts last
    perm = np.argsort(keys, axis=1)
    rule = np.take_along_axis(raw, perm, axis=1)
    is_var = np.take_along_axis(is_var_raw, perm, axis=1) & rule_ok

    # 5. the case: one string per used variable, from lower + math
    slen = rng.integers(SUBST_MIN, SUBST_MAX + 1, size=(b, VARS_MAX))
    pool = np.concatenate([lower, math], axis=1)
    chars = np.take_along_axis(pool, rng.integers(0, N_LOWER + N_MATH, size=(b, VARS_MAX * SUBST_MAX)), axis=1).reshape(
        b, VARS_MAX, SUBST_MAX
    )
    var_ok = np.arange(VARS_MAX)[None, :] < n_used[:, None]
    slen = np.where(var_ok, slen, 0)

    # ---- grids (token ids) with validity masks
    S = SYMBOL0
    # case entries: X : [ s1 .. sk ] ,
    bc = np.arange(BLOCK_W)[None, None, :]
    k3 = bc - 3
    ch = chars[:, :, np.clip(np.arange(BLOCK_W) - 3, 0, SUBST_MAX - 1)]
    sl = slen[:, :, None]
    case = np.where(
        bc == 0,
        used_pad[:, :, None] + S,
        np.where(
            bc == 1,
            COLON,
            np.where(bc == 2, LBRACK, np.where(k3 < sl, ch + S, np.where(k3 == sl, RBRACK, COMMA))),
        ),
    )
    case_ok = var_ok[:, :, None] & (bc < sl + 5)
    last = np.maximum(n_used - 1, 0)
    case_ok[ar, last, slen[ar, last] + 4] = False  # no trailing comma
    case = case.reshape(b, CASE_W)
    case_ok = case_ok.reshape(b, CASE_W)
    case_len = case_ok.sum(axis=1)

    # result: each rule position expands to its variable's string, or is its math symbol
    which = np.argmax(rule[:, :, None] == used_pad[:, None, :], axis=2)  # used index (vars only)
    sub = chars[ar[:, None], which]  # (b, RULE_W, SUBST_MAX)
    sub_len = slen[ar[:, None], which]
    t = np.arange(SUBST_MAX)[None, None, :]
    res = np.where(is_var[:, :, None], sub, rule[:, :, None]) + S
    res_ok = rule_ok[:, :, None] & np.where(is_var[:, :, None], t < sub_len[:, :, None], t == 0)
    res = res.reshape(b, RESULT_W)
    res_ok = res_ok.reshape(b, RESULT_W)
    res_len = res_ok.sum(axis=1)

    parts = np.zeros((3, b, PART_W), dtype=np.int64)
    parts_ok = np.zeros((3, b, PART_W), dtype=bool)
    parts[PART_RULE, :, :RULE_W] = rule + S
    parts_ok[PART_RULE, :, :RULE_W] = rule_ok
    parts[PART_CASE, :, :CASE_W] = case
    parts_ok[PART_CASE, :, :CASE_W] = case_ok
    parts[PART_RESULT, :, :RESULT_W] = res
    parts_ok[PART_RESULT, :, :RESULT_W] = res_ok
    part_len = np.stack([rule_len, case_len, res_len])
    order = np.array([LAYOUT[m] for m in MODES])[mode]  # (b, 3): first source, second source, target
    a_, b_, t_ = order[:, 0], order[:, 1], order[:, 2]

    # ---- the whole example: head, used vars, declarations, A <space> B <sep> T <end>
    head = [mode_token(m) for m in MODES]
    pieces: list[np.ndarray] = []
    oks: list[np.ndarray] = []
    loss: list[np.ndarray] = []
    ones = np.ones((b, 1), dtype=bool)

    def add(values: np.ndarray, ok: np.ndarray, carries_loss: bool = False) -> None:
        pieces.append(values)
        oks.append(ok)
        loss.append(np.full(values.shape, carries_loss))

    if config.mode_token:
        add(np.array(head)[mode][:, None], ones)
    add(np.full((b, 1), UPPER), ones)
    add(used_pad + S, var_ok)
    mid = np.empty((b, MID_W), dtype=np.int64)
    mid[:, 0] = LOWER
    mid[:, 1 : 1 + N_LOWER] = lower + S
    mid[:, 1 + N_LOWER] = MATH
    mid[:, 2 + N_LOWER : 2 + N_LOWER + N_MATH] = math + S
    mid[:, -1] = SPACE
    add(mid, np.ones((b, MID_W), dtype=bool))
    add(parts[a_, ar], parts_ok[a_, ar])
    add(np.full((b, 1), SPACE), ones)
    add(parts[b_, ar], parts_ok[b_, ar])
    add(np.full((b, 1), SEP), ones)
    add(parts[t_, ar], parts_ok[t_, ar], True)
    add(np.full((b, 1), END), ones, True)

    grid_ok = np.concatenate(oks, axis=1)
    tokens = np.concatenate(pieces, axis=1)[grid_ok]
    mask = np.concatenate(loss, axis=1)[grid_ok].astype(np.int8)
    length = grid_ok.sum(axis=1)
    ends = np.cumsum(length)
    starts = ends - length

    tgt_len = part_len[t_, ar]
    src_len = length - tgt_len - 2  # everything before <sep>
    names = [MODES[m] for m in mode.tolist()]
    rows_meta = zip(
        starts.tolist(),
        ends.tolist(),
        names,
        c.tolist(),
        n_used.tolist(),
        ell.tolist(),
        case_len.tolist(),
        res_len.tolist(),
        src_len.tolist(),
        tgt_len.tolist(),
        strict=True,
    )
    return [
        Example(
            tokens[s:e],
            mask[s:e],
            {
                "mode": m,
                "num_vars": nv,
                "used_vars": nu,
                "math_in_rule": ml,
                "rule_length": 2 * nv + ml,
                "case_length": cl,
                "result_length": rl,
                "source_length": sl,
                "target_length": tl,
            },
        )
        for s, e, m, nv, nu, ml, cl, rl, sl, tl in rows_meta
    ]


# --------------------------------------------------------------------------- task


class LimeTask(Task):
    """``[mode] <UPPER> .. <LOWER> .. <MATH> .. <space> A <space> B <sep> target <end>``; loss on ``target <end>``."""

    block_size = 64

    def __init__(self, config: LimeConfig):
        self.config = config
        self.vocab = lime_vocab(config.vocab_size)

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        """One example from ``rng`` (a one-row block); datasets read whole blocks instead."""
        return lime_block(rng, self.config, 1)[0]

    def generate_block(self, rng: np.random.Generator, *, seed: int, split: str, block: int) -> list[Example]:
        return lime_block(rng, self.config, self.block_size)

    def stats(self, *, sample: int, seed: int = 0, examples: list[Any] | None = None) -> dict[str, Any]:
        """Source, target and total length distributions, the mode mix and the draw counts.

        ``examples``: the ``sample`` train examples, when the caller already has them.
        """
        ds = examples if examples is not None else VirtualDataset(self, seed=seed, split="train", length=sample)
        values: dict[str, list[int]] = {
            k: []
            for k in (
                "length",
                "source_length",
                "target_length",
                "rule_length",
                "case_length",
                "result_length",
            )
        }
        mix: Counter[str] = Counter()
        num_vars: Counter[int] = Counter()
        used_vars: Counter[int] = Counter()
        math_in_rule: Counter[int] = Counter()
        target_by_mode: dict[str, list[int]] = {m: [] for m in MODES}
        for ex in ds:
            m = ex.meta
            values["length"].append(len(ex))
            for k in values:
                if k != "length":
                    values[k].append(m[k])
            mix[m["mode"]] += 1
            num_vars[m["num_vars"]] += 1
            used_vars[m["used_vars"]] += 1
            math_in_rule[m["math_in_rule"]] += 1
            target_by_mode[m["mode"]].append(m["target_length"])

        def shares(cnt: Counter[int]) -> dict[str, float]:
            return {str(k): cnt[k] / sample for k in sorted(cnt)}

        out: dict[str, Any] = {name: summary(v) for name, v in values.items()}
        out["target_length_by_mode"] = {mode: summary(v) for mode, v in target_by_mode.items() if v}
        out["mode_mix"] = {mode: mix[mode] / sample for mode in MODES}
        out["num_vars"] = shares(num_vars)
        out["used_vars"] = shares(used_vars)
        out["math_in_rule"] = {"min": min(math_in_rule), "max": max(math_in_rule), "mean": _mean(math_in_rule)}
        return out


def _mean(cnt: Counter[int]) -> float:
    total = sum(cnt.values())
    return sum(k * v for k, v in cnt.items()) / total if total else 0.0
