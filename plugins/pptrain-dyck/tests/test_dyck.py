"""k-Dyck: generator properties checked by an independent checker, configs, presets.

The checker below is written from the definition of a Dyck language, not from the
generator. Expected distributions are derived by hand from the rule described in Jiang
et al.'s and Hu et al.'s code (see docs/tasks/dyck.md), never copied from our output.
"""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pptrain_core.config import FieldValueError, structure
from pptrain_core.data import example_at, rng_for
from pptrain_core.errors import ConfigError
from pptrain_core.testing.checks import parametrize_with_task_checks
from pptrain_dyck.dyck import DyckTask, ShuffleDyckTask
from pptrain_dyck.dyck_specs import DYCK, SHUFFLE_DYCK, DyckConfig, ShuffleDyckConfig

# --------------------------------------------------------------------------- independent checker


def depth_profile(tokens, k):
    """Nesting depth *before* each token, checking well-formedness on the way.

    Raises AssertionError on an id outside ``0..2k-1``, a close with nothing open, or a
    close whose type differs from the most recent unmatched open. Returns the depths and
    the stack left at the end.
    """
    stack = []
    depths = []
    for pos, tok in enumerate(tokens):
        tok = int(tok)
        assert 0 <= tok < 2 * k, f"id {tok} at {pos} is not a bracket of a {k}-Dyck vocabulary"
        depths.append(len(stack))
        if tok < k:
            stack.append(tok)
        else:
            assert stack, f"close {tok} at {pos} with nothing open"
            assert stack[-1] == tok - k, f"close of type {tok - k} at {pos} but type {stack[-1]} is on top"
            stack.pop()
    return depths, stack


def split_words(tokens, k):
    """Cut a well-formed prefix into words at every return to depth 0 (last may be open)."""
    words, cur, depth = [], [], 0
    for tok in tokens:
        cur.append(int(tok))
        depth += 1 if tok < k else -1
        if depth == 0:
            words.append(cur)
            cur = []
    return words, cur


def assert_balanced_dyck(tokens, k):
    _, stack = depth_profile(tokens, k)
    assert not stack, f"{len(stack)} brackets left open"
    words, rest = split_words(tokens, k)
    assert not rest and sum(map(len, words)) == len(tokens)
    for w in words:  # each word is itself balanced
        _, s = depth_profile(w, k)
        assert not s


def gen(task, i, seed=0, split="train"):
    return task.generate(rng_for(seed, split, "example", i), seed=seed, split=split, index=i)


def jiang(k=8, length=256, p_open=0.5):
    return DyckTask(DyckConfig(k=k, length=length, p_open=p_open))


def hu(k=8, length=256, p_open=0.5, **kw):
    return DyckTask(DyckConfig(k=k, length=length, p_open=p_open, variant="hu", **kw))


# --------------------------------------------------------------------------- checker self-test


def test_checker_rejects_bad_strings():
    k = 2
    depth_profile([0, 2, 1, 3], k)  # (0 0) (1 1)
    for bad in ([0, 3], [2], [0, 1, 2, 3], [0, 4], [-1]):
        with pytest.raises(AssertionError):
            depth_profile(bad, k)
    with pytest.raises(AssertionError):
        assert_balanced_dyck([0, 1, 3], k)


# --------------------------------------------------------------------------- Jiang's k-Dyck


@settings(max_examples=150, deadline=None)
@given(
    k=st.integers(1, 70),
    half=st.integers(1, 150),
    p_open=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_jiang_sequences_are_balanced_and_exact_length(k, half, p_open, seed):
    task = jiang(k, 2 * half, p_open)
    ex = gen(task, 0, seed=seed)
    assert len(ex) == 2 * half
    assert ex.tokens.dtype == np.int64
    assert_balanced_dyck(ex.tokens, k)
    assert int(ex.tokens.max()) < task.vocab.size - 1, "pad must never appear inside a sequence"
    assert ex.loss_mask.tolist() == [0] + [1] * (2 * half - 1)
    depths, _ = depth_profile(ex.tokens, k)
    assert ex.meta == {"depth_max": max(depths), "unclosed": 0}


def test_jiang_rules_hold_at_every_step():
    """Depth 0 forces an open; once the tokens left equal the depth, only closes follow."""
    k, length = 16, 512
    task = jiang(k, length)
    for i in range(30):
        toks = gen(task, i).tokens.tolist()
        depths, _ = depth_profile(toks, k)
        assert toks[-1] >= k
        forced_from = None
        for t, (d, tok) in enumerate(zip(depths, toks, strict=True)):
            left = length - t
            assert d <= left, "more brackets open than tokens left"
            if d == 0:
                assert tok < k, "an empty stack must open"
            if forced_from is None and d == left:
                forced_from = t
        assert forced_from is not None
        assert all(tok >= k for tok in toks[forced_from:]), "forced closes interrupted"


def _exact_jiang_l6(p):
    """Hand-derived distribution of Jiang's walk for k=1, length 6 (0 = open, 1 = close).

    Token 0 must open. Then, with q = 1 - p: ((())) takes open, open (p*p; the rest is
    forced); (()()) open, close, open (p*q*p); (())() open, close, close (p*q*q; the
    empty stack then forces "()"); ()(()) close, forced open, open (q*p); ()()() close,
    forced open, close (q*q).
    """
    q = 1 - p
    return {
        (0, 0, 0, 1, 1, 1): p * p,
        (0, 0, 1, 0, 1, 1): p * q * p,
        (0, 0, 1, 1, 0, 1): p * q * q,
        (0, 1, 0, 0, 1, 1): q * p,
        (0, 1, 0, 1, 0, 1): q * q,
    }


@pytest.mark.parametrize("p_open", [0.3, 0.5])
def test_jiang_exact_distribution_for_length_6(p_open):
    expected = _exact_jiang_l6(p_open)
    assert abs(sum(expected.values()) - 1) < 1e-12
    task = jiang(k=1, length=6, p_open=p_open)
    n = 6000
    seen = Counter(tuple(gen(task, i).tokens.tolist()) for i in range(n))
    assert set(seen) <= set(expected), f"impossible sequences: {set(seen) - set(expected)}"
    for seq, prob in expected.items():
        sd = (prob * (1 - prob) / n) ** 0.5
        assert abs(seen[seq] / n - prob) < 5 * sd + 1e-9, (seq, seen[seq] / n, prob)


@pytest.mark.parametrize("p_open", [0.3, 0.5, 0.7])
def test_jiang_open_rate_among_free_choices(p_open):
    """Where opening and closing are both allowed (0 < d < left-1), opens happen at rate p_open."""
    k, length = 64, 2048
    task = jiang(k, length, p_open)
    opens = free = 0
    for i in range(12):
        toks = gen(task, i).tokens.tolist()
        depths, _ = depth_profile(toks, k)
        for t, (d, tok) in enumerate(zip(depths, toks, strict=True)):
            if 0 < d < length - t - 1:
                free += 1
                opens += tok < k
    rate = opens / free
    sd = (p_open * (1 - p_open) / free) ** 0.5
    assert free > 5000
    assert abs(rate - p_open) < 5 * sd, (rate, p_open, free)


def test_open_types_are_uniform():
    k = 8
    task = jiang(k, 2048)
    counts = Counter()
    for i in range(10):
        counts.update(t for t in gen(task, i).tokens.tolist() if t < k)
    n = sum(counts.values())
    chi2 = sum((counts[b] - n / k) ** 2 / (n / k) for b in range(k))
    assert set(counts) == set(range(k))
    assert chi2 < 30, chi2  # 7 degrees of freedom: p(chi2 > 30) ~ 1e-4


def test_jiang_deep_nesting_happens():
    """Jiang's walk has no depth cap: a 2048-token walk at p_open 0.5 typically wanders deep."""
    task = jiang(64, 2048)
    deepest = [gen(task, i).meta["depth_max"] for i in range(10)]
    assert max(deepest) > 16


# --------------------------------------------------------------------------- Hu's k-Dyck


def check_hu(tokens, k, *, min_depth, max_depth, max_word_length):
    """Words concatenated then cut: returns (complete words, open tail, final stack)."""
    depths, stack = depth_profile(tokens, k)
    assert max(depths + [len(stack)]) <= max_depth
    words, tail = split_words(tokens, k)
    for w in words + ([tail] if tail else []):
        head = w[:min_depth]
        assert all(t < k for t in head), "a word must start with min_depth opens"
        for j, tok in enumerate(w):
            if j >= max(min_depth, max_word_length - 1):  # the min_depth opens come first regardless
                assert tok >= k, f"open at word position {j} past the cap {max_word_length}"
        assert len(w) <= max(max_word_length, min_depth) + max_depth
    for w in words:
        wd, _ = depth_profile(w, k)
        assert min(wd[1:] + [1]) >= 1, "a word returned to depth 0 before its end"
    return words, tail, stack


@settings(max_examples=120, deadline=None)
@given(
    k=st.integers(1, 70),
    length=st.integers(2, 400),
    p_open=st.floats(0.0, 1.0),
    max_depth=st.integers(1, 20),
    min_frac=st.floats(0.0, 1.0),
    max_word_length=st.integers(1, 60),
    seed=st.integers(0, 2**32 - 1),
)
def test_hu_words_respect_their_limits(k, length, p_open, max_depth, min_frac, max_word_length, seed):
    min_depth = 1 + int(min_frac * (max_depth - 1))
    task = hu(k, length, p_open, max_depth=max_depth, min_depth=min_depth, max_word_length=max_word_length)
    ex = gen(task, 0, seed=seed)
    assert len(ex) == length
    assert ex.loss_mask.tolist() == [0] + [1] * (length - 1)
    _, tail, stack = check_hu(
        ex.tokens.tolist(), k, min_depth=min_depth, max_depth=max_depth, max_word_length=max_word_length
    )
    assert ex.meta["unclosed"] == len(stack)
    assert (len(stack) == 0) == (not tail)


def test_hu_exact_word_distribution():
    """k=1, max depth 3, cap 4, hand-derived: () q, (()) p*q, ((())) p*p.

    From "(": open w.p. p, else close -> "()". From "((" (2 tokens): open w.p. p -> "(((" then
    depth 3 forces closes -> "((()))"; else close -> "(()", and at word position 3 = cap-1
    an open is not allowed, so it closes -> "(())".
    """
    p = 0.5
    task = hu(k=1, length=4000, p_open=p, max_depth=3, min_depth=1, max_word_length=4)
    words = []
    for i in range(3):
        w, _, _ = check_hu(gen(task, i).tokens.tolist(), 1, min_depth=1, max_depth=3, max_word_length=4)
        words.extend(tuple(x) for x in w)
    seen = Counter(words)
    expected = {(0, 1): 1 - p, (0, 0, 1, 1): p * (1 - p), (0, 0, 0, 1, 1, 1): p * p}
    assert set(seen) == set(expected)
    n = len(words)
    for w, prob in expected.items():
        sd = (prob * (1 - prob) / n) ** 0.5
        assert abs(seen[w] / n - prob) < 5 * sd, (w, seen[w] / n, prob)


def test_hu_paper_preset_reaches_its_depth_and_cuts_words():
    cfg = structure(dict(DYCK.preset("paper_hu_k64").values), DyckConfig)
    task = DyckTask(cfg)
    reached = cut = 0
    for i in range(10):
        ex = gen(task, i)
        words, tail, stack = check_hu(ex.tokens.tolist(), 64, min_depth=1, max_depth=16, max_word_length=510)
        assert len(words) >= 1
        depths, _ = depth_profile(ex.tokens.tolist(), 64)
        deepest = max(depths + [len(stack)])
        assert ex.meta["depth_max"] == deepest
        reached += deepest == 16
        cut += bool(tail)
    assert reached >= 8, "words should hit the depth cap of 16 in almost every 2048-token sequence"
    assert cut >= 3, "the cut at 2048 should usually leave the last word open"


def test_hu_min_depth_opens_every_word():
    task = hu(k=4, length=600, max_depth=6, min_depth=3, max_word_length=40)
    for i in range(10):
        words, _, _ = check_hu(gen(task, i).tokens.tolist(), 4, min_depth=3, max_depth=6, max_word_length=40)
        assert all(len(w) >= 6 for w in words)


# --------------------------------------------------------------------------- tasks, vocabulary, determinism


def test_vocabulary_layout_and_names():
    task = jiang(k=8, length=16)
    v = task.vocab
    assert v.size == 17 and v.pad_id == 16
    assert v.bos_id is None and v.eos_id is None
    assert v.name(7) == "(7" and v.name(8 + 7) == "7)" and v.name(0) == "(0" and v.name(8) == "0)"
    assert v.name(16) == "<pad>"
    assert ShuffleDyckTask(ShuffleDyckConfig(k=3, length=4, max_depth=2)).vocab.name(4) == "1)"
    ex = gen(task, 0)
    assert task.render(ex).split() == [v.name(t) for t in ex.tokens]


@pytest.mark.parametrize("variant", ["jiang", "hu"])
def test_determinism_and_independence(variant):
    task = jiang(8, 128) if variant == "jiang" else hu(8, 128)
    a = [example_at(task, 5, "train", i) for i in range(6)]
    b = [example_at(DyckTask(task.config), 5, "train", i) for i in range(6)]
    assert a == b
    assert len({ex.tokens.tobytes() for ex in a}) == 6
    assert a[0] != example_at(task, 6, "train", 0)
    assert a[0] != example_at(task, 5, "eval", 0)
    same = np.random.default_rng(123)
    again = np.random.default_rng(123)
    assert task.generate(same, seed=0, split="x", index=0) == task.generate(again, seed=0, split="x", index=0)


def test_generation_does_not_touch_global_random_state():
    import random

    np.random.seed(1)
    random.seed(1)
    before = (np.random.random(), random.random())
    np.random.seed(1)
    random.seed(1)
    gen(jiang(), 0)
    gen(hu(), 0)
    assert (np.random.random(), random.random()) == before


def test_task_pickles():
    task = hu(8, 64)
    copy = pickle.loads(pickle.dumps(task))
    assert example_at(copy, 1, "train", 3) == example_at(task, 1, "train", 3)


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 0}, "k"),
        ({"length": 1}, "length"),
        ({"length": 9}, "length"),
        ({"p_open": 1.5}, "p_open"),
        ({"p_open": -0.1}, "p_open"),
        ({"variant": "ji"}, "variant"),
        ({"max_depth": 4}, "max_depth"),
        ({"min_depth": 1}, "min_depth"),
        ({"max_word_length": 100}, "max_word_length"),
        ({"variant": "hu", "max_depth": 0}, "max_depth"),
        ({"variant": "hu", "min_depth": 5, "max_depth": 4}, "min_depth"),
        ({"variant": "hu", "min_depth": 17}, "min_depth"),
        ({"variant": "hu", "max_word_length": 0}, "max_word_length"),
    ],
)
def test_bad_dyck_config_names_the_field(kwargs, field):
    with pytest.raises(FieldValueError) as err:
        DyckConfig(**kwargs)
    assert err.value.field == field
    with pytest.raises(ConfigError) as cerr:
        structure(kwargs, DyckConfig, "$.task.params")
    assert cerr.value.path == f"$.task.params.{field}"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"k": 0}, "k"), ({"length": 1}, "length"), ({"p_open": 1.5}, "p_open"), ({"max_depth": 0}, "max_depth")],
)
def test_bad_shuffle_config_names_the_field(kwargs, field):
    with pytest.raises(FieldValueError) as err:
        ShuffleDyckConfig(**kwargs)
    assert err.value.field == field


def test_hu_unset_fields_take_hus_values():
    cfg = DyckConfig(variant="hu")
    assert (cfg.resolved("max_depth"), cfg.resolved("min_depth"), cfg.resolved("max_word_length")) == (16, 1, 510)
    odd = DyckConfig(variant="hu", length=7)  # Hu cuts words, so any length works
    assert len(gen(DyckTask(odd), 0)) == 7


def test_defaults_are_jiangs_paper_setting():
    cfg = DyckConfig()
    assert (cfg.k, cfg.length, cfg.p_open, cfg.variant) == (64, 2048, 0.5, "jiang")
    s = ShuffleDyckConfig()
    assert (s.k, s.length, s.p_open, s.max_depth) == (64, 2048, 0.5, 16)


# --------------------------------------------------------------------------- presets


@pytest.mark.parametrize("preset", DYCK.presets, ids=lambda p: p.name)
def test_every_dyck_preset_builds_and_generates_valid_data(preset):
    cfg = structure({**preset.values}, DyckConfig)
    task = DYCK.build(cfg)
    for i in range(3):
        ex = example_at(task, 0, "train", i)
        assert len(ex) == cfg.length
        if cfg.variant == "jiang":
            assert_balanced_dyck(ex.tokens, cfg.k)
        else:
            check_hu(
                ex.tokens.tolist(),
                cfg.k,
                min_depth=cfg.resolved("min_depth"),
                max_depth=cfg.resolved("max_depth"),
                max_word_length=cfg.resolved("max_word_length"),
            )


def test_paper_preset_values():
    p = DYCK.preset("paper_k64")
    assert dict(p.values) == {"k": 64, "length": 2048, "p_open": 0.5, "variant": "jiang"}
    assert p.status() == "verified"
    assert DYCK.default_preset == "paper_k64"
    assert DYCK.preset("smoke").status() == "ours"
    assert DYCK.preset("paper_hu_k64").provenance["k"].status == "approximate"


def test_specs_resolve_their_factories():
    from pptrain_core.specs import resolve_factory

    assert resolve_factory(DYCK.factory) is DyckTask
    assert resolve_factory(SHUFFLE_DYCK.factory) is ShuffleDyckTask


@parametrize_with_task_checks([DYCK, SHUFFLE_DYCK], entry_point_module="pptrain_dyck.plugin")
def test_conformance(check):
    check()
