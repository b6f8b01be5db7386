"""The report's statistics, each checked against an independent computation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pptrain_analytics import report_stats as rs

# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_of_a_constant_is_that_constant():
    ci = rs.bootstrap_ci([0.7] * 5)
    assert (ci.estimate, ci.low, ci.high) == (0.7, 0.7, 0.7)
    assert ci.method == "percentile" and not ci.degenerate


def test_bootstrap_single_value_and_empty_are_flagged():
    one = rs.bootstrap_ci([3.5])
    assert tuple(one) == (3.5, 3.5) and one.method == "single" and one.degenerate
    none = rs.bootstrap_ci([float("nan"), None])
    assert tuple(none) == (None, None) and none.n == 0 and none.degenerate


def test_bootstrap_is_deterministic_given_the_seed_and_changes_with_it():
    data = np.random.default_rng(1).normal(size=12)
    a = rs.bootstrap_ci(data, n_resamples=2000, seed=3)
    b = rs.bootstrap_ci(data, n_resamples=2000, seed=3)
    c = rs.bootstrap_ci(data, n_resamples=2000, seed=4)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)


def test_bootstrap_with_three_values_is_their_range():
    # With 3 values P(all resampled = the minimum) = 1/27 > 2.5%, so the 2.5% quantile of
    # the resampled means is the minimum itself (and likewise the maximum): the range.
    ci = rs.bootstrap_ci([4.0, 1.0, 2.5])
    assert (ci.low, ci.high) == (1.0, 4.0) and ci.estimate == 2.5


def test_bootstrap_matches_a_naive_loop():
    data = np.array([1.0, 2.0, 4.0, 8.0, 3.0])
    ci = rs.bootstrap_ci(data, stat=np.median, n_resamples=500, seed=9, level=0.9)
    rng = np.random.default_rng(9)
    idx = rng.integers(0, 5, size=(500, 5))
    meds = sorted(float(np.median(data[row])) for row in idx)

    # linear-interpolated 5% and 95% quantiles, written out by hand
    def q(p):
        h = (len(meds) - 1) * p
        lo = math.floor(h)
        return meds[lo] + (h - lo) * (meds[min(lo + 1, len(meds) - 1)] - meds[lo])

    assert ci.low == pytest.approx(q(0.05)) and ci.high == pytest.approx(q(0.95))


def test_bootstrap_coverage_is_near_nominal_on_normal_data():
    rng = np.random.default_rng(0)
    reps, n, hits = 300, 30, 0
    for rep in range(reps):
        sample = rng.normal(loc=2.0, scale=1.5, size=n)
        low, high = rs.bootstrap_ci(sample, n_resamples=1000, seed=rep)
        hits += low <= 2.0 <= high
    coverage = hits / reps
    # the percentile bootstrap of a mean at n=30 covers ~93-94%; 300 reps give a s.e. of ~1.3%
    assert 0.88 <= coverage <= 0.99, coverage


# --------------------------------------------------------------------------- sign flip


def brute_force_sign_flip(d):
    d = [float(x) for x in d]
    observed = abs(sum(d) / len(d))
    hits = 0
    total = 0
    for signs in itertools.product((1, -1), repeat=len(d)):
        stat = abs(sum(s * x for s, x in zip(signs, d, strict=True)) / len(d))
        hits += stat >= observed - 1e-12
        total += 1
    return hits / total


@pytest.mark.parametrize(
    "diffs",
    [[-0.1, -0.2, -0.15], [0.3, -0.1, 0.05, 0.2], [1.0, -1.0, 2.0], [0.5, 0.4, -0.45, 0.1, -0.2, 0.33, -0.01]],
)
def test_sign_flip_matches_brute_force(diffs):
    res = rs.sign_flip_test(diffs)
    assert res.method == "exact" and res.n_assignments == 2 ** len(diffs)
    assert res.p_value == pytest.approx(brute_force_sign_flip(diffs))


def test_sign_flip_all_same_sign_is_two_over_two_to_the_n():
    for n in range(1, 8):
        res = rs.sign_flip_test([-0.1 * (i + 1) for i in range(n)])
        assert res.p_value == pytest.approx(2 / 2**n if n > 1 else 1.0)
        assert res.min_p == pytest.approx(min(1.0, 2 / 2**n))
    assert rs.sign_flip_test([-1, -2, -3]).p_value == 0.25


def test_sign_flip_zero_differences_give_p_one():
    assert rs.sign_flip_test([0.0, 0.0, 0.0]).p_value == 1.0


def test_sign_flip_monte_carlo_for_many_seeds_is_close_to_exact():
    d = np.random.default_rng(5).normal(loc=0.2, size=18)
    exact = rs.sign_flip_test(d, max_exact=20)
    mc = rs.sign_flip_test(d, max_exact=16, n_permutations=20_000, seed=1)
    assert exact.method == "exact" and mc.method == "monte carlo"
    assert mc.p_value == pytest.approx(exact.p_value, abs=0.02)


# --------------------------------------------------------------------------- Student t


@pytest.mark.parametrize("t", [-30.0, -2.0, -0.3, 0.0, 0.7, 1.0, 5.0, 100.0])
def test_t_cdf_closed_forms_for_one_and_two_degrees_of_freedom(t):
    cauchy = 0.5 + math.atan(t) / math.pi  # df = 1
    df2 = 0.5 + t / (2.0 * math.sqrt(2.0 + t * t))  # df = 2
    assert rs.student_t_cdf(t, 1) == pytest.approx(cauchy, abs=1e-12)
    assert rs.student_t_cdf(t, 2) == pytest.approx(df2, abs=1e-12)


@pytest.mark.parametrize("df, t975", [(1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042)])
def test_t_quantiles_match_the_printed_table(df, t975):
    assert rs.student_t_ppf(0.975, df) == pytest.approx(t975, abs=1e-3)
    assert 2 * (1 - rs.student_t_cdf(t975, df)) == pytest.approx(0.05, abs=2e-4)


def test_t_cdf_approaches_the_normal_for_large_df():
    phi = 0.5 * (1 + math.erf(1.3 / math.sqrt(2)))
    assert rs.student_t_cdf(1.3, 1e6) == pytest.approx(phi, abs=1e-5)


def test_betainc_against_closed_forms():
    # I_x(1, b) = 1 - (1 - x)^b and I_x(a, 1) = x^a
    for x in (0.01, 0.3, 0.5, 0.9, 0.999):
        assert rs.betainc(1.0, 3.5, x) == pytest.approx(1 - (1 - x) ** 3.5, abs=1e-12)
        assert rs.betainc(2.5, 1.0, x) == pytest.approx(x**2.5, abs=1e-12)


def test_paired_t_by_hand():
    d = [-0.1, -0.2, -0.15]
    res = rs.paired_t_test(d)
    mean = -0.15
    sd = math.sqrt(((0.05) ** 2 + (0.05) ** 2 + 0.0) / 2)
    t = mean / (sd / math.sqrt(3))
    assert res.t == pytest.approx(t) and res.df == 2
    # df = 2 closed form: two-sided p = 1 - |t| / sqrt(2 + t^2)
    assert res.p_value == pytest.approx(1 - abs(t) / math.sqrt(2 + t * t))
    half = 4.302652729911275 * sd / math.sqrt(3)
    assert (res.ci.low, res.ci.high) == pytest.approx((mean - half, mean + half))


def test_paired_t_degenerate_cases():
    assert rs.paired_t_test([0.0, 0.0]).p_value == 1.0
    same = rs.paired_t_test([0.2, 0.2, 0.2])
    assert same.p_value is None and "zero spread" in same.note
    assert rs.paired_t_test([0.3]).p_value is None


def test_paired_comparison_drops_incomplete_pairs():
    comp = rs.paired_comparison([1.0, None, 3.0, float("nan")], [0.5, 2.0, 2.0, 1.0], n_resamples=200)
    assert comp.differences == [0.5, 1.0]
    assert comp.mean_ci.estimate == pytest.approx(0.75)
    assert comp.sign_flip.p_value == pytest.approx(0.5)  # n = 2, both positive: 2 / 4


# --------------------------------------------------------------------------- tokens to reach


def test_tokens_to_reach_interpolates_linearly():
    # loss 5 - t/100 on evaluations at 0, 300, 600, 900: reaches 2.5 at t = 250 exactly
    tokens = [0, 300, 600, 900]
    losses = [5 - t / 100 for t in tokens]
    assert rs.tokens_to_reach(tokens, losses, 2.5) == pytest.approx(250.0)
    assert rs.tokens_to_reach(tokens, losses, 2.0) == pytest.approx(300.0)  # on an evaluation
    assert rs.tokens_to_reach(tokens, losses, 5.5) == 0.0  # already there at the start
    assert rs.tokens_to_reach(tokens, losses, -5.0) is None  # never


def test_tokens_to_reach_uses_the_first_crossing_of_the_raw_curve():
    tokens = [0, 100, 200, 300, 400]
    losses = [4.0, 3.0, 3.5, 2.0, 1.0]
    # first crossing of 3.2: between 0 (4.0) and 100 (3.0): 0 + 0.8 / 1.0 * 100 = 80
    assert rs.tokens_to_reach(tokens, losses, 3.2) == pytest.approx(80.0)
    # non-finite points are skipped: the segment joins 100 and 300
    assert rs.tokens_to_reach(tokens, [4.0, 3.0, None, 2.0, 1.0], 2.5) == pytest.approx(200.0)


def test_speedup_and_geometric_mean():
    assert rs.speedup(1000, 500) == 2.0
    assert rs.speedup(1000, None) is None and rs.speedup(1000, 0) is None
    g = rs.geometric_mean_ci([2.0, 0.5, 1.0, 4.0], n_resamples=500)
    assert g.estimate == pytest.approx((2.0 * 0.5 * 1.0 * 4.0) ** 0.25)
    assert g.low <= g.estimate <= g.high
