"""k-Shuffle-Dyck: generator properties checked by an independent checker, presets.

A k-Shuffle-Dyck prefix is valid when no type is ever closed more often than it was
opened; types interleave freely. The walk additionally caps the total depth at
``max_depth`` and forces an open at depth 0 and a close at the cap.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pptrain_core.config import structure
from pptrain_core.data import example_at, rng_for
from pptrain_dyck.dyck import ShuffleDyckTask
from pptrain_dyck.dyck_specs import SHUFFLE_DYCK, ShuffleDyckConfig


def shuffle_profile(tokens, k, max_depth):
    """Per-type open counts before each token; asserts every rule of the walk.

    Returns the list of ``(counts before, token)`` and the final counts.
    """
    counts = [0] * k
    history = []
    for pos, tok in enumerate(tokens):
        tok = int(tok)
        assert 0 <= tok < 2 * k, f"id {tok} at {pos} is not a bracket"
        depth = sum(counts)
        assert depth <= max_depth, f"depth {depth} over the cap {max_depth} at {pos}"
        history.append((tuple(counts), tok))
        if depth == 0:
            assert tok < k, f"depth 0 must open, got close at {pos}"
        if depth >= max_depth:
            assert tok >= k, f"depth {depth} at the cap must close, got open at {pos}"
        if tok < k:
            counts[tok] += 1
        else:
            assert counts[tok - k] > 0, f"close of type {tok - k} at {pos} with none of that type open"
            counts[tok - k] -= 1
        assert min(counts) >= 0
    assert sum(counts) <= max_depth
    return history, counts


def gen(task, i, seed=0):
    return task.generate(rng_for(seed, "train", "example", i), seed=seed, split="train", index=i)


def task_for(k=8, length=512, p_open=0.5, max_depth=8):
    return ShuffleDyckTask(ShuffleDyckConfig(k=k, length=length, p_open=p_open, max_depth=max_depth))


def test_checker_rejects_bad_strings():
    shuffle_profile([0, 1, 2, 3], 2, 2)  # (0 (1 0) 1): crossing is fine in shuffle-Dyck
    for bad, depth in (([2], 2), ([0, 3], 2), ([0, 0, 0], 2), ([0, 4], 2)):
        with pytest.raises(AssertionError):
            shuffle_profile(bad, 2, depth)
    with pytest.raises(AssertionError):
        shuffle_profile([0, 1, 2, 2], 2, 4)  # type 0 closed twice while type 1 is still open


@settings(max_examples=150, deadline=None)
@given(
    k=st.integers(1, 70),
    length=st.integers(2, 400),
    p_open=st.floats(0.0, 1.0),
    max_depth=st.integers(1, 24),
    seed=st.integers(0, 2**32 - 1),
)
def test_sequences_are_valid_prefixes(k, length, p_open, max_depth, seed):
    task = task_for(k, length, p_open, max_depth)
    ex = gen(task, 0, seed=seed)
    assert len(ex) == length
    assert ex.loss_mask.tolist() == [0] + [1] * (length - 1)
    history, final = shuffle_profile(ex.tokens.tolist(), k, max_depth)
    deepest = max([sum(c) for c, _ in history] + [sum(final)])
    assert ex.meta == {"depth_max": deepest, "unclosed": sum(final)}


@pytest.mark.parametrize(("preset", "depth"), [("paper_jiang_k64", 16), ("paper_hu_k64", 8)])
def test_paper_presets_reach_the_depth_cap(preset, depth):
    cfg = structure(dict(SHUFFLE_DYCK.preset(preset).values), ShuffleDyckConfig)
    assert cfg.max_depth == depth
    task = ShuffleDyckTask(cfg)
    unbalanced = 0
    for i in range(10):
        ex = gen(task, i)
        assert len(ex) == 2048
        history, final = shuffle_profile(ex.tokens.tolist(), cfg.k, depth)
        assert max(sum(c) for c, _ in history) == depth, "a 2048-token walk should touch the cap"
        unbalanced += sum(final) > 0
    assert unbalanced >= 3, "the paper walks stop at 2048 tokens and usually end unbalanced"


@pytest.mark.parametrize("p_open", [0.3, 0.51, 0.7])
def test_open_rate_between_floor_and_cap(p_open):
    k, max_depth = 64, 8
    task = task_for(k, 2048, p_open, max_depth)
    opens = free = 0
    for i in range(10):
        history, _ = shuffle_profile(gen(task, i).tokens.tolist(), k, max_depth)
        for counts, tok in history:
            if 0 < sum(counts) < max_depth:
                free += 1
                opens += tok < k
    sd = (p_open * (1 - p_open) / free) ** 0.5
    assert abs(opens / free - p_open) < 5 * sd, (opens / free, p_open, free)


def test_close_picks_an_open_type_uniformly_not_by_count():
    """With two types open in unequal numbers, each is closed half the time.

    Weighting by count (closing a random open *bracket*) would close the majority type
    with probability a/(a+b) > 1/2; the papers pick a random open *type*.
    """
    k, max_depth = 2, 10
    task = task_for(k, 4096, 0.6, max_depth)
    majority = events = weighted = 0.0
    for i in range(8):
        for counts, tok in shuffle_profile(gen(task, i).tokens.tolist(), k, max_depth)[0]:
            a, b = counts
            if tok >= k and a > 0 and b > 0 and a != b:
                events += 1
                big = 0 if a > b else 1
                majority += (tok - k) == big
                weighted += max(a, b) / (a + b)
    assert events > 2000
    sd = (0.25 / events) ** 0.5
    assert abs(majority / events - 0.5) < 5 * sd, majority / events
    assert weighted / events > 0.5 + 10 * sd, "the test would not tell uniform from count-weighted"


def test_exact_distribution_small_case():
    """k=1, max depth 2, length 4, hand-derived with q = 1 - p.

    Token 0 opens (depth 0). Token 1: open w.p. p (depth 2 = cap), else close (depth 0).
    After "((" the cap forces a close, then depth 1 is free again: token 3 opens w.p. p
    ("(()(") or closes ("(())"). After "()" depth 0 forces an open, then token 3 opens
    w.p. p ("()((") or closes ("()()").
    """
    p = 0.3
    q = 1 - p
    expected = {(0, 0, 1, 0): p * p, (0, 0, 1, 1): p * q, (0, 1, 0, 0): q * p, (0, 1, 0, 1): q * q}
    task = task_for(k=1, length=4, p_open=p, max_depth=2)
    n = 6000
    seen = Counter(tuple(gen(task, i).tokens.tolist()) for i in range(n))
    assert set(seen) == set(expected)
    for seq, prob in expected.items():
        sd = (prob * (1 - prob) / n) ** 0.5
        assert abs(seen[seq] / n - prob) < 5 * sd, (seq, seen[seq] / n, prob)


def test_open_types_are_uniform_and_interleave():
    k = 8
    task = task_for(k, 2048, 0.5, 8)
    opens = Counter()
    crossing = 0
    for i in range(6):
        toks = gen(task, i).tokens.tolist()
        opens.update(t for t in toks if t < k)
        stack = []  # detect a close that is not of the most recent open: a shuffle, not Dyck
        for t in toks:
            if t < k:
                stack.append(t)
            else:
                crossing += stack[-1] != t - k
                stack.reverse()
                stack.remove(t - k)  # the latest open of that type
                stack.reverse()
    n = sum(opens.values())
    chi2 = sum((opens[b] - n / k) ** 2 / (n / k) for b in range(k))
    assert chi2 < 30, chi2
    assert crossing > 100, "types should interleave, not nest"


@pytest.mark.parametrize("preset", SHUFFLE_DYCK.presets, ids=lambda p: p.name)
def test_every_preset_builds_and_generates_valid_data(preset):
    cfg = structure({**preset.values}, ShuffleDyckConfig)
    task = SHUFFLE_DYCK.build(cfg)
    for i in range(3):
        ex = example_at(task, 0, "train", i)
        assert len(ex) == cfg.length
        shuffle_profile(ex.tokens.tolist(), cfg.k, cfg.max_depth)


def test_preset_values_and_provenance():
    hu = SHUFFLE_DYCK.preset("paper_hu_k64")
    assert dict(hu.values) == {"k": 64, "length": 2048, "p_open": 0.51, "max_depth": 8}
    jiang = SHUFFLE_DYCK.preset("paper_jiang_k64")
    assert dict(jiang.values) == {"k": 64, "length": 2048, "p_open": 0.5, "max_depth": 16}
    assert hu.status() == jiang.status() == "verified"
    assert SHUFFLE_DYCK.preset("small_k8").status() == "ours"
    assert SHUFFLE_DYCK.default_preset == "paper_hu_k64"


def test_determinism():
    task = task_for(8, 256)
    a = [example_at(task, 1, "train", i) for i in range(5)]
    assert a == [example_at(task_for(8, 256), 1, "train", i) for i in range(5)]
    assert len({ex.tokens.tobytes() for ex in a}) == 5
    assert a[0] != example_at(task, 2, "train", 0)
