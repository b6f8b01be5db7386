"""Generic statistics of a task's examples, for ``pptrain describe TASK --stats``.

Families add their own measurements by giving their task a
``stats(self, *, sample, seed, examples)`` method returning a JSON-ready dict (NCA: the
gzip band's acceptance rate, ...); the two are merged, the family's keys under
``"family"``. ``examples`` are the ``sample`` train examples the core already generated
(see :func:`task_stats`); the older ``stats(self, *, sample, seed)`` still works.
"""

from __future__ import annotations

import inspect
import json
import math
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from pptrain_core.data import Example, example_at


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


LIST_ITEMS_SHOWN = 6
VALUE_CHARS = 120


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, (list, tuple)):
        head = ", ".join(_show(v) for v in value[:LIST_ITEMS_SHOWN])
        more = f", ... ({len(value)} items)" if len(value) > LIST_ITEMS_SHOWN else ""
        return f"[{head}{more}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def flatten_stats(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, shown value)`` rows for a table: nested dicts become ``family.length.mean``.

    Floats are shown to 4 significant digits, lists by their first six items and their
    length (``[3, 5, 8, 13, 21, 34, ... (40 items)]``), and every value is cut to
    120 characters. ``pptrain describe TASK --stats`` prints these rows; ``--json``
    prints the data itself.
    """
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(flatten_stats(value, f"{name}."))
            continue
        shown = _show(value)
        if len(shown) > VALUE_CHARS:
            shown = shown[: VALUE_CHARS - 3] + "..."
        rows.append((name, shown))
    return rows


def generic_stats(
    task: Any, *, sample: int, seed: int = 0, split: str = "train", examples: Sequence[Example] | None = None
) -> dict[str, Any]:
    """Lengths, loss share and token-frequency shape over ``sample`` examples.

    ``examples``, when given, are examples ``0 .. sample - 1`` of ``split`` under ``seed``
    (as :func:`sample_examples` makes them); otherwise they are generated here.
    """
    if examples is None:
        examples = sample_examples(task, sample=sample, seed=seed, split=split)
    lengths: list[int] = []
    loss_tokens = 0
    counts: Counter[int] = Counter()
    for ex in examples:
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


def sample_examples(task: Any, *, sample: int, seed: int = 0, split: str = "train") -> list[Example]:
    """Examples ``0 .. sample - 1`` of ``split`` under ``seed``, one generation per block."""
    cache: OrderedDict[int, list[Example]] = OrderedDict()
    return [example_at(task, seed, split, i, cache=cache, cache_blocks=1) for i in range(sample)]


def accepts_examples(method: Any) -> bool:
    """Whether a task's ``stats`` method takes the ``examples`` keyword (new-style signature)."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("examples")
    return p is not None and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def task_stats(task: Any, *, sample: int, seed: int = 0) -> dict[str, Any]:
    """Generic statistics plus the family's own (``task.stats``), if it has any.

    The ``sample`` train examples are generated once. A family ``stats`` method that
    declares an ``examples`` parameter is called as
    ``task.stats(sample=sample, seed=seed, examples=examples)`` and should measure those
    instead of generating them again; an older one, without it, is called as
    ``task.stats(sample=sample, seed=seed)``.
    """
    examples = sample_examples(task, sample=sample, seed=seed)
    out = generic_stats(task, sample=sample, seed=seed, examples=examples)
    family = getattr(task, "stats", None)
    if callable(family):
        if accepts_examples(family):
            out["family"] = family(sample=sample, seed=seed, examples=examples)
        else:
            out["family"] = family(sample=sample, seed=seed)
    return out
