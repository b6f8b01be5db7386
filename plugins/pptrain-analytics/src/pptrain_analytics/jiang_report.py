"""The ``jiang-tiny`` report: needle accuracy per arm, by pair count, paired contrasts, Dyck quality.

Reads only the run directory (``profile.json``, ``results.jsonl``, each unit's
``curve.jsonl`` / ``val_curve.jsonl``) and writes ``report.md``, ``report.json`` and
``curves.png`` atomically; the same directory always gives the same files.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from pptrain_analytics.jiang import ARMS, BUCKETS, CHANCE, GUESS_A_VALUE, _read_json, _read_jsonl
from pptrain_analytics.report_stats import bootstrap_ci, paired_comparison

# Jiang et al. 2026, the tiny-model needle row (reference/families.md): no pretraining, Dyck, the best shuffled control
PAPER = {"scratch": 0.113, "dyck": 0.969, "dyck_shuffled": 0.103}


def _pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


def _ci(values: list[float]) -> dict[str, Any]:
    return bootstrap_ci(values).to_json() if values else {"estimate": None, "low": None, "high": None, "n": 0}


#: below this many seeds the report prints no interval: resampling 1 or 2 values gives their range
MIN_SEEDS_FOR_INTERVAL = 3


def _ci_text(ci: dict[str, Any]) -> str:
    if not ci.get("n"):
        return "–"
    est = _pct(ci["estimate"])
    if ci["n"] < MIN_SEEDS_FOR_INTERVAL:  # a bootstrap over 1 or 2 values is only their range
        return f"{est} ({ci['n']} seed{'s' if ci['n'] > 1 else ''}, no interval)"
    return f"{est} [{_pct(ci['low'])}, {_pct(ci['high'])}]"


def summarize(run_dir: Path) -> dict[str, Any]:
    """Every figure of the report as plain data (``report.json``)."""
    profile = _read_json(run_dir / "profile.json") or {}
    results = _read_jsonl(run_dir / "results.jsonl")
    needle = {a: {r["seed"]: r for r in results if r.get("phase") == "needle" and r["arm"] == a} for a in ARMS}
    phase1 = {a: {r["seed"]: r for r in results if r.get("phase") == "phase1" and r["arm"] == a} for a in ARMS}
    seeds = sorted({s for a in ARMS for s in needle[a]})
    arms: dict[str, Any] = {}
    for arm in ARMS:
        runs = needle[arm]
        if not runs:
            continue
        finals = [runs[s]["accuracy"] for s in sorted(runs)]
        bests = [runs[s]["best_accuracy"] for s in sorted(runs)]
        by = {f"{lo}-{hi}": [runs[s]["by_pairs"].get(f"{lo}-{hi}") for s in sorted(runs)] for lo, hi in BUCKETS}
        arms[arm] = {
            "seeds": sorted(runs),
            "final": _ci(finals),
            "best_of_evals": _ci(bests),
            "by_pairs": {k: _ci([v for v in vals if v is not None]) for k, vals in by.items()},
            "answers_in_context": _ci([runs[s]["answers_in_context"] for s in sorted(runs)]),
            "match_attention": [runs[s].get("match_attention") for s in sorted(runs)],
            "paper": PAPER.get(arm),
        }
    contrasts = {}
    for a, b in (("dyck", "scratch"), ("dyck", "dyck_shuffled"), ("dyck_shuffled", "scratch")):
        common = [s for s in seeds if s in needle[a] and s in needle[b]]
        if common:
            pc = paired_comparison(
                [needle[a][s]["accuracy"] for s in common], [needle[b][s]["accuracy"] for s in common]
            )
            contrasts[f"{a} - {b}"] = {"seeds": common, **pc.to_json()}
    quality = {}
    for arm in ("dyck", "dyck_shuffled"):
        if phase1[arm]:
            rows = [phase1[arm][s] for s in sorted(phase1[arm])]
            quality[arm] = {
                "seeds": sorted(phase1[arm]),
                "steps": [r.get("steps") for r in rows],
                "best_step": [r["best"].get("step") for r in rows],
                "val_accuracy": [r["best"].get("val_accuracy") for r in rows],
                "close_accuracy": [r["best"].get("close_accuracy") for r in rows],
                "sequence_accuracy": [r["best"].get("sequence_accuracy") for r in rows],
                "adjacent_close_baseline": [r.get("adjacent_close_baseline") for r in rows],
                "match_attention": [r.get("match_attention") for r in rows],
            }
    return {
        "profile": profile,
        "arms": arms,
        "contrasts": contrasts,
        "dyck_quality": quality,
        "reference_lines": {"chance": CHANCE, "guess_a_value": GUESS_A_VALUE},
        "units_finished": len(results),
    }


def _markdown(s: dict[str, Any]) -> str:
    p = s["profile"]
    n = p.get("needle", {})
    d = p.get("dyck", {})
    out = [
        "# jiang-tiny: needle-in-a-haystack after Dyck pre-pretraining",
        "",
        f"Variant `{p.get('variant', '?')}`. Dyck phase: {d.get('steps')} steps at batch {d.get('batch_size')}, "
        f"lr {d.get('lr')} constant, the best-validation checkpoint transferred (`mean_embeddings`). "
        f"Needle: {n.get('steps')} steps at batch {n.get('batch_size')}, lr {n.get('lr')} cosine, "
        f"warm-up {n.get('warmup_steps')}; accuracy on the answer token of {n.get('eval_examples')} held-out examples. "
        f"{s['units_finished']} units finished.",
        "",
        f"Reference lines: chance {_pct(CHANCE)}; answering with a random in-context value {_pct(GUESS_A_VALUE)}.",
        "",
        "| arm | seeds | final accuracy [95% CI] | best of evals | 1-5 pairs | 6-15 | 16-30 | answers in context | paper |",
        "|---|---:|---|---|---|---|---|---|---:|",
    ]
    for arm, a in s["arms"].items():
        bp = a["by_pairs"]
        out.append(
            f"| {arm} | {len(a['seeds'])} | {_ci_text(a['final'])} | {_ci_text(a['best_of_evals'])} | "
            f"{_pct(bp['1-5']['estimate'])} | {_pct(bp['6-15']['estimate'])} | {_pct(bp['16-30']['estimate'])} | "
            f"{_pct(a['answers_in_context']['estimate'])} | {_pct(a['paper'])} |"
        )
    out += [
        "",
        "The paper reports one accuracy per arm without saying whether it is the final or the best evaluation; "
        "both are shown. The paper's shuffled figure (10.3%) is the best shuffled control over data types.",
        "",
        "## Paired contrasts (final accuracy, same seeds)",
        "",
        "| contrast | seeds | mean difference [95% bootstrap CI] | paired t 95% interval | per seed "
        "| sign-flip p (smallest possible) |",
        "|---|---:|---|---|---|---|",
    ]
    for name, c in s["contrasts"].items():
        diffs = ", ".join(f"{100 * x:+.1f}" for x in c["differences"])
        lo, hi = c.get("low"), c.get("high")
        t_lo, t_hi = c.get("t_low"), c.get("t_high")
        few = c["n_pairs"] < MIN_SEEDS_FOR_INTERVAL
        ci = f"{100 * c['mean_diff']:+.1f} pts"
        if few:
            ci += f" (no interval below {MIN_SEEDS_FOR_INTERVAL} seeds)"
        elif lo is not None:
            ci += f" [{100 * lo:+.1f}, {100 * hi:+.1f}]"
        p, floor = c.get("p_sign_flip"), c.get("min_attainable_p")
        p_text = "–" if p is None else f"{p:.3g}"
        floor_text = "–" if floor is None else f"{floor:.3g}"
        t_text = "–" if few or t_lo is None else f"[{100 * t_lo:+.1f}, {100 * t_hi:+.1f}]"
        out.append(f"| {name} | {c['n_pairs']} | {ci} | {t_text} | {diffs} | {p_text} ({floor_text}) |")
    out += [
        "",
        "With few seeds the bootstrap interval is little more than the range of the differences; "
        "the paired t interval (which assumes normal differences) is the wider, more cautious one. "
        "No multiple-comparison correction is applied.",
        "",
        "## Dyck model quality (the transferred checkpoint)",
        "",
        "Token accuracy is the official validation metric (argmax over the vocabulary at every position; about 0.5 is "
        "the ceiling, since after a bracket the next one opens half of the time). Close accuracy: at every closing "
        "bracket, is the argmax over the k closing brackets the matching one. Sequence: every closing bracket right. "
        "The control's close figures are measured on plain Dyck sequences. Bigram line: the close accuracy of a "
        "model that only closes the bracket opened just before (and guesses otherwise); a model at that line has "
        "not learned the nesting.",
        "",
        "| arm | seeds | steps | best step | token accuracy | close accuracy | bigram line | sequence accuracy |",
        "|---|---:|---|---|---|---|---|---|",
    ]
    for arm, q in s["dyck_quality"].items():
        fmt = lambda xs: ", ".join(_pct(x) for x in xs)  # noqa: E731
        out.append(
            f"| {arm} | {len(q['seeds'])} | {', '.join(str(x) for x in q['steps'])} | "
            f"{', '.join(str(x) for x in q['best_step'])} | {fmt(q['val_accuracy'])} | {fmt(q['close_accuracy'])} | "
            f"{fmt(q['adjacent_close_baseline'])} | {fmt(q['sequence_accuracy'])} |"
        )
    out += [
        "",
        "## Does a head look it up? (attention on the matching position)",
        "",
        "For the Dyck models (the transferred checkpoint, plain Dyck validation sequences): at the position before "
        "each closing bracket that does not follow its own open one, the attention weight on the bracket it closes. "
        "For the needle models (final weights, the evaluation examples): at the query, the weight on the value "
        "stored under the queried key. The best head of each model, against a head that spreads evenly over the "
        "prefix (uniform) and, for the needle, one that spreads evenly over the s stored values (mean 1/s: the "
        "attention of a model that answers with some in-context value). A model that has learned the lookup has a "
        "head far above both.",
        "",
        "| model | arm | per seed: best head, its weight (uniform) |",
        "|---|---|---|",
    ]
    for label, group in (("Dyck phase", s["dyck_quality"]), ("needle", s["arms"])):
        for arm, q in group.items():
            cells = [
                f"{m['best_head']} {_pct(m['best'])} (uniform {_pct(m['uniform'])}"
                + (f", over the values {_pct(m['over_values'])})" if m.get("over_values") is not None else ")")
                if m and m.get("best") is not None
                else "–"
                for m in q.get("match_attention", [])
            ]
            if cells:
                out.append(f"| {label} | {arm} | {'; '.join(cells)} |")
    out += [
        "",
        "Plot: `curves.png`: left, held-out needle accuracy against step for every seed, with the reference "
        "lines; right, the phase-1 models' close-bracket accuracy against step.",
        "",
    ]
    return "\n".join(out)


def _plot(run_dir: Path, s: dict[str, Any], out: Path) -> Path | None:
    curves = {}
    for arm in s["arms"]:
        for seed in s["arms"][arm]["seeds"]:
            rows = _read_jsonl(run_dir / "needle" / arm / f"seed-{seed}" / "curve.jsonl")
            if rows:
                curves[(arm, seed)] = rows
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"scratch": "tab:gray", "dyck": "tab:blue", "dyck_shuffled": "tab:orange"}
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), dpi=120, gridspec_kw={"width_ratios": [3, 2]})
    drawn = set()
    for arm in ("dyck", "dyck_shuffled"):
        for folder in sorted((run_dir / "phase1" / arm).glob("seed-*")):
            rows = _read_jsonl(folder / "val_curve.jsonl")
            if rows:
                bx.plot(
                    [r["step"] for r in rows],
                    [r["close_accuracy"] for r in rows],
                    color=colours[arm],
                    alpha=0.8,
                    label=None if arm in drawn else arm,
                )
                drawn.add(arm)
    bx.set_xlabel("phase-1 step")
    bx.set_ylabel("Dyck close-bracket accuracy")
    bx.set_ylim(0, 1)
    bx.grid(alpha=0.3)
    if drawn:
        bx.legend(fontsize=8)
    seen = set()
    for (arm, _seed), rows in sorted(curves.items()):
        ax.plot(
            [r["step"] for r in rows],
            [r["accuracy"] for r in rows],
            color=colours.get(arm),
            alpha=0.8,
            label=None if arm in seen else arm,
        )
        seen.add(arm)
    ax.axhline(GUESS_A_VALUE, ls="--", color="k", lw=0.8, label="guess an in-context value")
    ax.axhline(CHANCE, ls=":", color="k", lw=0.8, label="chance")
    ax.set_xlabel("needle step")
    ax.set_ylabel("answer accuracy (held out)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, metadata={"Software": None})
    plt.close(fig)
    os.replace(tmp, out)
    return out


def write_report(run_dir: Path) -> dict[str, Any]:
    """Write ``report.md``, ``report.json`` and ``curves.png``; returns the summary."""
    from pptrain_core.bundle import write_json_atomic

    run_dir = Path(run_dir)
    s = summarize(run_dir)
    text = _markdown(s)
    tmp = run_dir / f".report.md.tmp-{os.getpid()}"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, run_dir / "report.md")
    write_json_atomic(run_dir / "report.json", json.loads(json.dumps(s)))
    plot = _plot(run_dir, s, run_dir / "curves.png")
    return {"run_dir": str(run_dir), "report": str(run_dir / "report.md"), "plot": str(plot) if plot else None, **s}
