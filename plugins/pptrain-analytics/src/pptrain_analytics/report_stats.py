"""Statistics for downstream comparisons across seeds: pure numpy, no scipy.

A comparison study has few seeds (3 is typical), so every function here is written for
small ``n`` and says what it cannot do at small ``n`` instead of pretending:

* :func:`bootstrap_ci` — percentile bootstrap interval of a statistic (deterministic
  given ``seed``). With 3 values a 95% percentile interval of the mean is exactly the
  range of the values; its real coverage for normal data is about 75%, not 95%.
* :func:`sign_flip_test` — the exact paired permutation test: under "no difference"
  every per-seed difference is equally likely to carry either sign. With ``n`` seeds the
  smallest attainable two-sided p-value is ``2 / 2**n`` (0.25 for 3 seeds, so a
  3-seed study can never reach p <= 0.05 with it).
* :func:`paired_t_test` — the classical paired t-test; the Student t CDF is computed
  from the regularised incomplete beta function (:func:`betainc`), which is implemented
  here with a continued fraction. It assumes normal differences.
* :func:`tokens_to_reach` and :func:`speedup` — when a loss curve first reaches a
  target, linearly interpolated between evaluations.

Everything returns plain Python floats (``None`` for "undefined"), so results go to
JSON without NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Interval",
    "PairedComparison",
    "SignFlipResult",
    "TTestResult",
    "betainc",
    "bootstrap_ci",
    "geometric_mean_ci",
    "min_sign_flip_p",
    "paired_comparison",
    "paired_t_test",
    "sign_flip_test",
    "speedup",
    "student_t_cdf",
    "student_t_ppf",
    "tokens_to_reach",
]


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval.

    ``method`` says how the interval was obtained: ``"percentile"`` (bootstrap),
    ``"single"`` (one value: the interval is ``(v, v)`` and carries no uncertainty
    information), ``"empty"`` (no values: everything is ``None``), or ``"t"``.
    Iterating yields ``(low, high)``, so ``low, high = bootstrap_ci(...)`` works.
    """

    estimate: float | None
    low: float | None
    high: float | None
    n: int
    level: float
    method: str

    def __iter__(self):
        yield self.low
        yield self.high

    @property
    def degenerate(self) -> bool:
        """True when the interval carries no uncertainty information (n < 2)."""
        return self.method in ("single", "empty")

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the closed interval (False for an empty interval)."""
        if self.low is None or self.high is None:
            return False
        return self.low <= value <= self.high

    def to_json(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "level": self.level,
            "method": self.method,
        }


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray([np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))], dtype=float)
    return arr[np.isfinite(arr)]


def _apply_stat(stat: Callable[..., Any], samples: np.ndarray) -> np.ndarray:
    """``stat`` over each row of ``samples``; vectorised when ``stat`` takes ``axis=``."""
    try:
        out = np.asarray(stat(samples, axis=1), dtype=float)
        if out.shape == (samples.shape[0],):
            return out
    except TypeError:
        pass
    return np.asarray([float(stat(row)) for row in samples], dtype=float)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    stat: Callable[..., Any] = np.mean,
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap confidence interval of ``stat(values)``.

    Definition: draw ``n_resamples`` samples of size ``n`` from ``values`` with
    replacement (a ``numpy.random.default_rng(seed)`` stream, so the interval is a pure
    function of the inputs), compute ``stat`` on each, and return the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of those statistics (linear
    interpolation between order statistics). ``estimate`` is ``stat(values)``.

    Non-finite values and ``None`` are dropped first. ``n == 1`` gives ``(v, v)`` with
    ``method="single"``; ``n == 0`` gives ``None`` bounds with ``method="empty"``.

    Caveat: the percentile bootstrap under-covers at small ``n``; with 3 values the
    interval of the mean is their range (nominal 95%, actual ~75% for normal data).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    data = _finite(values)
    n = int(data.size)
    if n == 0:
        return Interval(None, None, None, 0, level, "empty")
    estimate = float(stat(data))
    if n == 1:
        return Interval(estimate, estimate, estimate, 1, level, "single")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    stats = _apply_stat(stat, data[idx])
    alpha = (1.0 - level) / 2.0
    low, high = (float(v) for v in np.quantile(stats, [alpha, 1.0 - alpha]))
    if np.ptp(data) == 0:  # a constant: no rounding noise around the constant itself
        low = high = estimate
    return Interval(estimate, low, high, n, level, "percentile")


# --------------------------------------------------------------------------- sign-flip test


@dataclass(frozen=True)
class SignFlipResult:
    """Two-sided paired sign-flip permutation test of "mean difference = 0"."""

    p_value: float | None
    method: str  # "exact" (all 2**n sign assignments), "monte carlo", or "undefined" (n == 0)
    n: int
    n_assignments: int
    min_p: float | None  # the smallest p-value this test can return with n differences


def min_sign_flip_p(n: int) -> float | None:
    """Smallest two-sided p-value of the exact sign-flip test with ``n`` nonzero differences: ``2 / 2**n``."""
    if n < 1:
        return None
    return min(1.0, 2.0 / 2.0**n)


def sign_flip_test(
    differences: Sequence[float] | np.ndarray,
    *,
    max_exact: int = 16,
    n_permutations: int = 100_000,
    seed: int = 0,
) -> SignFlipResult:
    """Exact sign-flip (paired permutation) test, two-sided.

    Null hypothesis: each difference ``d_i`` is symmetric around 0, so its sign is a fair
    coin. Statistic ``T(s) = |mean(s_i * d_i)|`` for a sign vector ``s``; the p-value is
    the fraction of sign vectors with ``T(s) >= T(1)`` (the observed statistic, with a
    relative tolerance of 1e-9 for floating-point ties). With ``n <= max_exact`` all
    ``2**n`` vectors are enumerated, so the identity and the all-flipped vector always
    count and ``p >= 2 / 2**n``. Larger ``n``: ``n_permutations`` random sign vectors
    from ``default_rng(seed)`` and ``p = (1 + hits) / (1 + n_permutations)``.

    All differences zero gives ``p = 1``.
    """
    d = _finite(differences)
    n = int(d.size)
    if n == 0:
        return SignFlipResult(None, "undefined", 0, 0, None)
    observed = abs(float(d.mean()))
    threshold = observed - 1e-9 * max(observed, float(np.abs(d).max()) / n, 1e-300)
    if n <= max_exact:
        codes = np.arange(2**n, dtype=np.int64)[:, None]
        signs = 1.0 - 2.0 * ((codes >> np.arange(n, dtype=np.int64)) & 1)
        stats = np.abs(signs @ d) / n
        hits = int(np.count_nonzero(stats >= threshold))
        return SignFlipResult(hits / 2**n, "exact", n, 2**n, min_sign_flip_p(n))
    rng = np.random.default_rng(seed)
    hits = 0
    done = 0
    while done < n_permutations:  # chunks keep memory bounded for large n
        k = min(10_000, n_permutations - done)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(k, n))
        hits += int(np.count_nonzero(np.abs(signs @ d) / n >= threshold))
        done += k
    return SignFlipResult((1 + hits) / (1 + n_permutations), "monte carlo", n, n_permutations, 1 / (1 + n_permutations))


# --------------------------------------------------------------------------- Student t


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function, evaluated by the modified Lentz method."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = tiny if abs(d) < tiny else d
    d = 1.0 / d
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        # even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m))
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        # odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function ``I_x(a, b) = B(x; a, b) / B(a, b)`` for ``a, b > 0``.

    ``I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * 1 / (1 + d_1 / (1 + d_2 / (1 + ...)))``,
    evaluated directly when ``x < (a + 1) / (a + b + 2)`` (where the fraction converges
    fast) and through the symmetry ``I_x(a, b) = 1 - I_{1-x}(b, a)`` otherwise.
    """
    if a <= 0 or b <= 0:
        raise ValueError("betainc needs a > 0 and b > 0")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """CDF of Student's t with ``df`` degrees of freedom: ``1 - I_{df/(df+t^2)}(df/2, 1/2) / 2`` for ``t >= 0``."""
    if df <= 0:
        raise ValueError("df must be positive")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def student_t_ppf(q: float, df: float) -> float:
    """Quantile of Student's t (inverse of :func:`student_t_cdf`, by bisection to 1e-12)."""
    if not 0.0 < q < 1.0:
        raise ValueError("q must be in (0, 1)")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -student_t_ppf(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, df) < q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if student_t_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class TTestResult:
    """Paired t-test of "mean difference = 0"; ``None`` fields when undefined."""

    t: float | None
    df: int
    p_value: float | None
    ci: Interval
    note: str | None = None


def paired_t_test(differences: Sequence[float] | np.ndarray, level: float = 0.95) -> TTestResult:
    """Paired t-test on differences ``d``: ``t = mean(d) / (sd(d) / sqrt(n))`` with ``n - 1`` degrees of freedom.

    Two-sided ``p = 2 * (1 - F_t(|t|; n - 1))``; the interval is
    ``mean(d) +- F_t^{-1}((1 + level) / 2; n - 1) * sd(d) / sqrt(n)``. Undefined (``None``)
    for ``n < 2``. Zero spread: ``p = 1`` when every difference is 0, otherwise ``None``
    (the statistic is infinite; the note says so).
    """
    d = _finite(differences)
    n = int(d.size)
    if n < 2:
        mean = float(d.mean()) if n else None
        ci = Interval(mean, mean, mean, n, level, "single" if n else "empty")
        return TTestResult(None, max(n - 1, 0), None, ci, "needs at least 2 paired seeds")
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    df = n - 1
    if float(np.ptp(d)) == 0.0:  # all equal (sd itself may carry rounding noise)
        ci = Interval(mean, mean, mean, n, level, "t")
        if mean == 0.0:
            return TTestResult(0.0, df, 1.0, ci, "every difference is 0")
        return TTestResult(None, df, None, ci, "every difference is identical: zero spread, t undefined")
    se = sd / math.sqrt(n)
    t = mean / se
    p = min(1.0, 2.0 * (1.0 - student_t_cdf(abs(t), df)))
    half = student_t_ppf((1.0 + level) / 2.0, df) * se
    return TTestResult(t, df, p, Interval(mean, mean - half, mean + half, n, level, "t"))


# --------------------------------------------------------------------------- paired comparison


@dataclass(frozen=True)
class PairedComparison:
    """An arm against the baseline, paired by seed: ``d_k = arm_k - baseline_k``."""

    differences: list[float]
    mean_ci: Interval  # bootstrap CI of mean(d)
    sign_flip: SignFlipResult
    t_test: TTestResult

    @property
    def n(self) -> int:
        return len(self.differences)

    def to_json(self) -> dict[str, Any]:
        return {
            "n_pairs": self.n,
            "differences": list(self.differences),
            "mean_diff": self.mean_ci.estimate,
            "low": self.mean_ci.low,
            "high": self.mean_ci.high,
            "ci_method": self.mean_ci.method,
            "p_sign_flip": self.sign_flip.p_value,
            "sign_flip_method": self.sign_flip.method,
            "min_attainable_p": self.sign_flip.min_p,
            "t": self.t_test.t,
            "p_t": self.t_test.p_value,
            "t_low": self.t_test.ci.low,
            "t_high": self.t_test.ci.high,
            "t_note": self.t_test.note,
        }


def paired_comparison(
    arm: Sequence[float | None],
    baseline: Sequence[float | None],
    *,
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> PairedComparison:
    """Compare two equally long per-seed sequences (position ``k`` = seed ``k`` for both).

    Pairs where either value is missing or non-finite are dropped (never imputed). The
    mean difference gets a percentile bootstrap CI (:func:`bootstrap_ci`), the exact
    sign-flip test (:func:`sign_flip_test`) and the paired t-test (:func:`paired_t_test`).
    """
    if len(arm) != len(baseline):
        raise ValueError("arm and baseline must have one value per seed each")
    diffs = []
    for a, b in zip(arm, baseline, strict=True):
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            continue
        diffs.append(float(a) - float(b))
    return PairedComparison(
        differences=diffs,
        mean_ci=bootstrap_ci(diffs, level=level, n_resamples=n_resamples, seed=seed),
        sign_flip=sign_flip_test(diffs, seed=seed),
        t_test=paired_t_test(diffs, level=level),
    )


# --------------------------------------------------------------------------- tokens to reach


def tokens_to_reach(
    tokens: Sequence[float] | np.ndarray, losses: Sequence[float | None] | np.ndarray, target: float
) -> float | None:
    """First token count at which the *raw* eval-loss curve reaches ``target`` (loss <= target).

    The curve is the evaluations in order, ``(tokens_i, loss_i)``, non-finite points
    dropped. If the first point already satisfies ``loss_0 <= target`` the answer is
    ``tokens_0``. Otherwise take the first ``j`` with ``loss_j <= target``; the answer
    is the linear interpolation between ``(tokens_{j-1}, loss_{j-1})`` and
    ``(tokens_j, loss_j)``:
    ``tokens_{j-1} + (loss_{j-1} - target) / (loss_{j-1} - loss_j) * (tokens_j - tokens_{j-1})``.
    ``None`` if the curve never reaches the target.

    The raw curve (not a running-minimum envelope) is used: the first crossing of the
    running minimum is the same evaluation anyway, and the raw segment is what was
    measured. A noisy dip counts as reaching the target — evaluations on fixed
    validation windows keep that noise small.
    """
    t = np.asarray(tokens, dtype=float)
    y = np.asarray([np.nan if v is None else v for v in losses], dtype=float)
    if t.shape != y.shape:
        raise ValueError("tokens and losses must have the same length")
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep], y[keep]
    if t.size == 0:
        return None
    hit = np.flatnonzero(y <= target)
    if hit.size == 0:
        return None
    j = int(hit[0])
    if j == 0:
        return float(t[0])
    t0, t1, y0, y1 = float(t[j - 1]), float(t[j]), float(y[j - 1]), float(y[j])
    return t0 + (y0 - target) / (y0 - y1) * (t1 - t0)


def speedup(baseline_tokens: float | None, arm_tokens: float | None) -> float | None:
    """``baseline_tokens / arm_tokens`` (> 1: the arm got there faster); ``None`` when undefined.

    Undefined when either count is missing (the target was never reached) or when
    ``arm_tokens`` is 0 (the arm was below the target before any counted token: the
    ratio is infinite) or ``baseline_tokens`` is 0.
    """
    if baseline_tokens is None or arm_tokens is None:
        return None
    if arm_tokens <= 0 or baseline_tokens <= 0:
        return None
    return float(baseline_tokens) / float(arm_tokens)


def geometric_mean_ci(
    ratios: Sequence[float], *, level: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> Interval:
    """``exp(mean(log r))`` with the percentile bootstrap CI of ``mean(log r)`` mapped through ``exp``.

    Ratios average on the log scale: a 2x and a 0.5x speed-up are no speed-up on
    average, not 1.25x. Non-positive or non-finite ratios are dropped.
    """
    r = _finite(ratios)
    r = r[r > 0]
    ci = bootstrap_ci(np.log(r), level=level, n_resamples=n_resamples, seed=seed)
    if ci.estimate is None:
        return ci

    def back(v):
        return None if v is None else float(math.exp(v))

    return Interval(back(ci.estimate), back(ci.low), back(ci.high), ci.n, ci.level, ci.method)
