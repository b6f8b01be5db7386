"""Generic statistics of a task's examples, for ``pptrain describe TASK --stats``.

Families add their own measurements by giving their task a ``stats(sample, seed)``
method returning a JSON-ready dict (NCA: the gzip band's acceptance rate, ...); the two
are merged, the family's keys under ``"family"``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from pptrain_core.data import example_at


def summary(values: Any) -> dict[str, float]:
    """``min``, ``p10``, ``median``, ``p90``, ``max`` and ``mean`` of numbers (numpy's linear percentiles).

    The one shape every family's ``stats()`` uses for a length or count distribution.
    """
    import numpy as np

    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        raise ValueError("summary of no values")
    q = np.percentile(a, [10, 50, 90])
    return {
        "min": float(a.min()),
        "p10": float(q[0]),
        "median": float(q[1]),
        "p90": float(q[2]),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


def generic_stats(task: Any, *, sample: int, seed: int = 0, split: str = "train") -> dict[str, Any]:
    """Lengths, loss share and token-frequency shape over ``sample`` examples."""
    lengths: list[int] = []
    loss_tokens = 0
    counts: Counter[int] = Counter()
    for i in range(sample):
        ex = example_at(task, seed, split, i)
        lengths.append(len(ex))
        loss_tokens += int(ex.loss_mask.sum())
        counts.update(ex.tokens.tolist())
    total = sum(lengths)
    ranked = sorted(counts.values(), reverse=True)
    slope = None
    if len(ranked) >= 3:
        xs = [math.log(r + 1) for r in range(len(ranked))]
        ys = [math.log(c) for c in ranked]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else None
    return {
        "sample": sample,
        "seed": seed,
        "split": split,
        "length": {"mean": total / sample, "min": min(lengths), "max": max(lengths)},
        "loss_token_share": loss_tokens / total if total else 0.0,
        "distinct_tokens": len(counts),
        "vocab_coverage": len(counts) / task.vocab.size,
        "top10_token_share": sum(ranked[:10]) / total if total else 0.0,
        "rank_frequency_slope": slope,
    }


def task_stats(task: Any, *, sample: int, seed: int = 0) -> dict[str, Any]:
    """Generic statistics plus the family's own (``task.stats``), if it has any."""
    out = generic_stats(task, sample=sample, seed=seed)
    family = getattr(task, "stats", None)
    if callable(family):
        out["family"] = family(sample=sample, seed=seed)
    return out
