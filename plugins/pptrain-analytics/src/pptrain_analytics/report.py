"""The comparison report: read a ``pptrain compare`` run directory, gate it, summarise it.

``write_report(run_dir)`` reads ``compare.json`` and every ``arms/<arm>/seed-<k>/``
(``curve.jsonl`` + ``result.json``), checks each run against the sanity gates, computes
per-arm statistics across seeds (:mod:`pptrain_analytics.report_stats`), and writes
``report.md``, ``report.csv`` (one row per arm x seed), ``summary.csv`` (one row per arm)
and ``curves.png``. It is a pure function of the run directory: the bootstrap is seeded
and no clock or absolute path goes into the files, so the same directory always gives
the same bytes. Everything is computed and rendered in memory first and then written
file by file through a temporary file and a rename; a bad ``compare.json`` raises a
:class:`~pptrain_core.errors.UserError` before anything is written.

An arm that fails a gate is *broken*: its numbers are not reported as results, and
nothing is compared against a broken baseline. A seed that has not finished yet is
*missing*: the arm is *incomplete*, and its numbers use the seeds that are there (the
report says how many). A seed whose run raised is *failed* and breaks the arm — only
reporting the survivors would overstate an unstable method.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pptrain_analytics import report_stats as rs
from pptrain_core.errors import UserError

FORMAT_VERSION = 1
ARM_KINDS = ("scratch", "bundle", "synthetic", "shuffled", "natural")
DESIGNS = ("additive", "substitutive")
FIGURE_SIZE_IN = (10.0, 8.0)
FIGURE_DPI = 100  # curves.png is 1000 x 800 pixels


@dataclass(frozen=True)
class GateThresholds:
    """Thresholds of the sanity gates (see docs/report.md for the reasoning).

    * scratch arm: ``|initial loss - ln V| <= max(scratch_abs_tol, scratch_rel_tol * ln V)``;
    * other arms: ``initial loss <= ln V + max(transferred_abs_margin, transferred_rel_margin * ln V)``;
    * synthetic / shuffled / natural arms: synthetic tokens within ``synthetic_rel_tol`` of S.
    """

    scratch_abs_tol: float = 1.0
    scratch_rel_tol: float = 0.1
    transferred_abs_margin: float = 2.0
    transferred_rel_margin: float = 0.5
    synthetic_rel_tol: float = 0.1

    def scratch_tolerance(self, ln_v: float) -> float:
        return max(self.scratch_abs_tol, self.scratch_rel_tol * ln_v)

    def transferred_ceiling(self, ln_v: float) -> float:
        return ln_v + max(self.transferred_abs_margin, self.transferred_rel_margin * ln_v)


# --------------------------------------------------------------------------- loading


@dataclass
class SeedRun:
    """One (arm, seed): its curve, its result.json and what the gates found."""

    seed: int
    status: str  # ok | flagged (ran, failed a gate) | failed (the run raised) | missing (no result yet)
    tokens: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    eval_loss: list[float | None] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)  # (gate, message)

    @property
    def usable(self) -> bool:
        return self.status == "ok"

    @property
    def initial_loss(self) -> float | None:
        return _num(self.eval_loss[0]) if self.eval_loss else None

    @property
    def final_loss(self) -> float | None:
        return _num(self.eval_loss[-1]) if self.eval_loss else None

    @property
    def synthetic_tokens(self) -> float | None:
        return _num(self.result.get("synthetic_tokens"))


@dataclass
class Arm:
    name: str
    kind: str
    policy: str | None
    source: str | None
    extra: dict[str, Any]
    runs: list[SeedRun]

    @property
    def status(self) -> str:
        """broken (a gate failed or a seed failed) | missing (no seed finished) | incomplete | ok."""
        if any(r.status in ("failed", "flagged") for r in self.runs):
            return "broken"
        if not any(r.usable for r in self.runs):
            return "missing"
        if any(r.status == "missing" for r in self.runs):
            return "incomplete"
        return "ok"

    def seeds_with(self, status: str) -> list[int]:
        return [r.seed for r in self.runs if r.status == status]


def _num(value: Any) -> float | None:
    """A finite float, or None for null / NaN / inf / non-numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def load_meta(run_dir: Path) -> dict[str, Any]:
    """Read and validate ``compare.json``; every problem is a one-sentence :class:`UserError`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(
            f"run directory {str(run_dir)!r} does not exist; pass the output_dir of a `pptrain compare` study."
        )
    path = run_dir / "compare.json"
    if not path.is_file():
        raise UserError(
            f"{str(run_dir)!r} has no compare.json, so it is not a `pptrain compare` run directory "
            "(or the study has not started); pass the study's output_dir."
        )
    where = str(path)
    try:
        meta = _read_json(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{where} is not readable JSON ({exc}); re-run `pptrain compare` to rewrite it.") from None
    if not isinstance(meta, dict):
        raise UserError(f"{where} must hold a JSON object, got {type(meta).__name__}; re-run `pptrain compare`.")
    fmt = meta.get("format")
    if fmt != FORMAT_VERSION:
        raise UserError(
            f"{where}: $.format is {fmt!r}, but this pptrain-analytics reads format {FORMAT_VERSION}; "
            "install the pptrain-analytics version that wrote the study."
        )

    def bad(key: str, message: str) -> UserError:
        return UserError(f"{where}: $.{key} {message}; re-run `pptrain compare` to rewrite it.")

    if meta.get("design") not in DESIGNS:
        raise bad("design", f"must be 'additive' or 'substitutive', got {meta.get('design')!r}")
    seeds = meta.get("seeds")
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise bad("seeds", "must be a non-empty list of integers")
    if len(set(seeds)) != len(seeds):
        raise bad("seeds", "lists a seed twice")
    for key, minimum in (("vocab_size", 2), ("downstream_tokens", 1), ("synthetic_tokens", 0)):
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise bad(key, f"must be an integer >= {minimum}, got {value!r}")
    arms = meta.get("arms")
    if not isinstance(arms, list) or not arms:
        raise bad("arms", "must be a non-empty list")
    names: list[str] = []
    for i, arm in enumerate(arms):
        if not isinstance(arm, dict):
            raise bad(f"arms[{i}]", "must be an object")
        name = arm.get("name")
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise bad(f"arms[{i}].name", f"must be a non-empty name usable as a folder, got {name!r}")
        if name in names:
            raise bad(f"arms[{i}].name", f"repeats the arm name {name!r}")
        if arm.get("kind") not in ARM_KINDS:
            raise bad(f"arms[{i}].kind", f"must be one of {', '.join(ARM_KINDS)}, got {arm.get('kind')!r}")
        names.append(name)
    if meta.get("baseline") not in names:
        raise bad("baseline", f"must name one of the arms ({', '.join(names)}), got {meta.get('baseline')!r}")
    return meta


def _load_curve(path: Path) -> tuple[list[float], list[int], list[float | None], list[tuple[str, str]]]:
    tokens: list[float] = []
    steps: list[int] = []
    losses: list[float | None] = []
    problems: list[tuple[str, str]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return tokens, steps, losses, [("curve", f"curve.jsonl unreadable ({exc})")]
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            tok = row["tokens"]
            if isinstance(tok, bool) or not isinstance(tok, (int, float)) or not math.isfinite(tok):
                raise ValueError("tokens is not a number")
            step = row.get("step", 0)
            step = int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else 0
            loss = row.get("eval_loss")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(("curve", f"curve.jsonl line {number} is not a valid evaluation ({exc})"))
            continue
        tokens.append(float(tok))
        steps.append(step)
        losses.append(_num(loss))
        if _num(loss) is None:
            problems.append(("finite", f"eval loss is {json.dumps(loss)} at {int(tok):,} tokens"))
        train = row.get("train_loss")
        if train is not None and _num(train) is None:
            problems.append(("finite", f"train loss is {json.dumps(train)} at {int(tok):,} tokens"))
    return tokens, steps, losses, problems


def load_seed(run_dir: Path, arm: dict[str, Any], seed: int) -> SeedRun:
    """Read one (arm, seed); unreadable files become failed/flagged runs, never exceptions."""
    folder = Path(run_dir) / "arms" / arm["name"] / f"seed-{seed}"
    result_path = folder / "result.json"
    if not result_path.is_file():
        return SeedRun(seed, "missing")
    try:
        result = _read_json(result_path)
        if not isinstance(result, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return SeedRun(seed, "failed", error=f"result.json unreadable ({exc})")
    if result.get("status") != "ok":
        error = result.get("error") or f"status {result.get('status')!r}"
        return SeedRun(seed, "failed", result=result, error=str(error))
    curve_path = folder / "curve.jsonl"
    if not curve_path.is_file():
        return SeedRun(seed, "flagged", result=result, problems=[("curve", "curve.jsonl is missing")])
    tokens, steps, losses, problems = _load_curve(curve_path)
    return SeedRun(seed, "ok", tokens=tokens, steps=steps, eval_loss=losses, result=result, problems=problems)


def expected_downstream_tokens(meta: dict[str, Any], kind: str) -> int:
    """D, or D - S for the non-scratch arms of a substitutive design."""
    if meta["design"] == "substitutive" and kind != "scratch":
        return meta["downstream_tokens"] - meta["synthetic_tokens"]
    return meta["downstream_tokens"]


def apply_gates(meta: dict[str, Any], kind: str, run: SeedRun, thresholds: GateThresholds) -> None:
    """Append every failed gate to ``run.problems``; a run with problems becomes ``flagged``."""
    if run.status != "ok":
        return
    ln_v = math.log(meta["vocab_size"])
    problems = run.problems
    if len(run.tokens) < 2:
        problems.append(
            ("curve", f"curve has {len(run.tokens)} evaluation(s); it needs the initial one and at least one more")
        )
    if run.tokens:
        if run.tokens[0] != 0:
            problems.append(("curve", f"first evaluation is at {run.tokens[0]:,.0f} tokens, not 0 (before training)"))
        if any(b <= a for a, b in zip(run.tokens, run.tokens[1:], strict=False)):
            problems.append(("curve", "token counts are not strictly increasing"))
    initial = run.initial_loss
    if initial is not None:
        if kind == "scratch":
            tol = thresholds.scratch_tolerance(ln_v)
            if abs(initial - ln_v) > tol:
                problems.append(
                    (
                        "initial_loss",
                        f"initial eval loss {initial:.3f} is {initial - ln_v:+.3f} from ln V = {ln_v:.3f} "
                        f"(allowed +-{tol:.2f}) for an untrained model",
                    )
                )
        else:
            ceiling = thresholds.transferred_ceiling(ln_v)
            if initial > ceiling:
                problems.append(
                    (
                        "initial_loss",
                        f"initial eval loss {initial:.3f} is above ln V + margin = {ceiling:.3f} after transfer",
                    )
                )
    if len(run.tokens) >= 2:
        expected = expected_downstream_tokens(meta, kind)
        last_tokens, last_step = run.tokens[-1], run.steps[-1] if run.steps else 0
        per_step = last_tokens / last_step if last_step > 0 else 0.0
        if abs(last_tokens - expected) > per_step:
            problems.append(
                (
                    "budget",
                    f"curve ends at {last_tokens:,.0f} downstream tokens, expected {expected:,} "
                    f"(within one step, {per_step:,.0f} tokens)",
                )
            )
    if kind in ("synthetic", "shuffled", "natural") and meta["synthetic_tokens"] > 0:
        got = run.synthetic_tokens
        want = meta["synthetic_tokens"]
        if got is None or abs(got - want) > thresholds.synthetic_rel_tol * want:
            shown = "missing" if got is None else f"{got:,.0f}"
            problems.append(
                (
                    "synthetic_budget",
                    f"synthetic tokens {shown}, expected {want:,} (within {thresholds.synthetic_rel_tol:.0%})",
                )
            )
    if problems:
        run.status = "flagged"


def load_run(run_dir: Path, thresholds: GateThresholds | None = None) -> tuple[dict[str, Any], list[Arm]]:
    """``compare.json`` plus every arm's seeds, gated."""
    thresholds = thresholds or GateThresholds()
    meta = load_meta(run_dir)
    arms = []
    for spec in meta["arms"]:
        runs = [load_seed(run_dir, spec, seed) for seed in meta["seeds"]]
        for run in runs:
            apply_gates(meta, spec["kind"], run, thresholds)
        arms.append(
            Arm(
                name=spec["name"],
                kind=spec["kind"],
                policy=spec.get("policy"),
                source=spec.get("source"),
                extra=spec.get("extra") or {},
                runs=runs,
            )
        )
    return meta, arms


# --------------------------------------------------------------------------- analysis


def counted_tokens(meta: dict[str, Any], arm: Arm, run: SeedRun) -> np.ndarray:
    """The token axis the design counts: downstream tokens (additive) or pre-pretraining + downstream (substitutive).

    Substitutive arms that pre-pretrain inside the study (synthetic, shuffled, natural)
    are charged the synthetic tokens their result.json records; a bundle arm, whose own
    pre-pretraining happened elsewhere, is charged the design's S (the downstream tokens it
    gave up).
    """
    x = np.asarray(run.tokens, dtype=float)
    if meta["design"] == "substitutive" and arm.kind != "scratch":
        recorded = run.synthetic_tokens if arm.kind in ("synthetic", "shuffled", "natural") else None
        x = x + (meta["synthetic_tokens"] if recorded is None else recorded)
    return x


def _probe_scalars(result: dict[str, Any]) -> dict[str, float]:
    """``{"metric.key": value}`` for every finite top-level number of every probe result."""
    out: dict[str, float] = {}
    probes = result.get("probes") or {}
    if not isinstance(probes, dict):
        return out
    for metric in sorted(probes):
        values = probes[metric]
        if not isinstance(values, dict):
            continue
        for key in sorted(values):
            v = _num(values[key])
            if v is not None:
                out[f"{metric}.{key}"] = v
    return out


def _verdict(comp: dict[str, Any], baseline: str, level: float) -> str:
    """The plain-language reading of a paired loss comparison; never stronger than the evidence."""
    n = comp["n_pairs"]
    if n == 0:
        return f"no seed where both this arm and {baseline} finished: no comparison"
    if n == 1:
        return "one paired seed only: no uncertainty estimate, not a result"
    low, high = comp["low"], comp["high"]
    if low <= 0.0 <= high:
        return f"no detectable difference from {baseline} at this budget"
    direction = "lower" if high < 0 else "higher"
    p = comp["p_sign_flip"]
    alpha = 1.0 - level
    if p is not None and p <= alpha:
        return f"{direction} loss than {baseline} (the {_pct(level)} CI excludes 0 and the sign-flip p <= {alpha:g})"
    needed = 1 + math.ceil(math.log2(1.0 / alpha))  # smallest n with 2 / 2**n <= alpha
    t_note = ""
    if comp["p_t"] is not None and comp["p_t"] <= alpha:
        t_note = " (so does the paired t-test, which assumes normal differences)"
    if (
        comp["sign_flip_method"] == "exact"
        and comp["min_attainable_p"] is not None
        and comp["min_attainable_p"] > alpha
    ):
        why = (
            f"with {n} seeds the distribution-free sign-flip test cannot go below p = {comp['min_attainable_p']:.3g}"
            f" ({needed} or more seeds can reach p <= {alpha:g})"
        )
    else:
        why = f"the sign-flip test gives {_p_eq(p)}"
    return f"{direction} loss than {baseline} in the bootstrap CI{t_note}, but {why}: suggestive, not established"


#: Evaluations a curve needs before tokens-to-target and speed-up are read off it.
MIN_CURVE_POINTS = 3


def _task_of(arm: Arm) -> str | None:
    task = arm.extra.get("task") or arm.source
    if arm.kind == "shuffled" and isinstance(arm.extra.get("task_config"), dict):
        task = arm.extra["task_config"].get("task") or task
    return task


def _control_contrasts(
    arms: list[Arm], entries: list[dict[str, Any]], *, level: float, n_resamples: int, seed: int
) -> list[dict[str, Any]]:
    """Each synthetic arm against the shuffled control of the same task, paired by seed.

    The question a control answers: did the arm gain from the *structure* of its data, or
    from any pre-pretraining on those tokens? (arm − control < 0: the structure helped.)
    """
    out = []
    by_name = {e["name"]: e for e in entries}
    for arm in arms:
        if arm.kind != "synthetic" or arm.status == "broken":
            continue
        for ctl in arms:
            if ctl.kind != "shuffled" or ctl.status == "broken" or _task_of(ctl) != _task_of(arm):
                continue
            ctl_runs = {r.seed: r for r in ctl.runs}
            a_vals = [r.final_loss if r.usable else None for r in arm.runs]
            c_vals = [
                ctl_runs[r.seed].final_loss if r.seed in ctl_runs and ctl_runs[r.seed].usable else None
                for r in arm.runs
            ]
            comp = rs.paired_comparison(a_vals, c_vals, level=level, n_resamples=n_resamples, seed=seed).to_json()
            verdict = _verdict(comp, ctl.name, level)
            out.append({"arm": arm.name, "control": ctl.name, "task": _task_of(arm), **comp, "verdict": verdict})
            by_name[arm.name]["vs_control"] = {"control": ctl.name, **comp, "verdict": verdict}
    return out


def verdict_lines(summary: dict[str, Any]) -> list[str]:
    """One line per arm for the terminal: its reading against the baseline (and its control)."""
    lines = []
    for a in summary["arms"]:
        if a["is_baseline"]:
            continue
        text = a["verdict"] or f"not compared ({a['status']})"
        line = f"{a['name']}: {text}"
        ctl = a.get("vs_control")
        if ctl:
            line += f"; vs its control {ctl['control']}: {ctl['verdict']}"
        for w in summary.get("warmups", {}).get(a["name"], []):
            if w.get("overlaps_downstream"):
                line += " [its warm-up re-read downstream text: not a fair arm]"
                break
        lines.append(line)
    return lines


def analyse(
    meta: dict[str, Any],
    arms: list[Arm],
    *,
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    thresholds: GateThresholds | None = None,
) -> dict[str, Any]:
    """Every number of the report, as a JSON-ready dict (no NaN: undefined is ``None``)."""
    thresholds = thresholds or GateThresholds()
    by_name = {a.name: a for a in arms}
    base = by_name[meta["baseline"]]
    base_usable = base.status in ("ok", "incomplete")
    base_runs = {r.seed: r for r in base.runs}

    def ci(values, stat=np.mean):
        return rs.bootstrap_ci(values, stat=stat, level=level, n_resamples=n_resamples, seed=seed)

    out_arms = []
    for arm in arms:
        usable = [r for r in arm.runs if r.usable]
        gates = [{"seed": r.seed, "gate": gate, "message": msg} for r in arm.runs for gate, msg in r.problems] + [
            {"seed": r.seed, "gate": "failed", "message": r.error or "the run failed"}
            for r in arm.runs
            if r.status == "failed"
        ]
        entry: dict[str, Any] = {
            "name": arm.name,
            "kind": arm.kind,
            "policy": arm.policy,
            "source": arm.source,
            "status": arm.status,
            "is_baseline": arm is base,
            "seeds": {s: arm.seeds_with(s) for s in ("ok", "flagged", "failed", "missing")},
            "gates": gates,
            "final_loss": None,
            "initial_loss": None,
            "perplexity": None,
            "vs_baseline": None,
            "tokens_to_target": None,
            "speedup": None,
            "probes": {},
            "per_seed": {},
            "verdict": None,
        }
        for r in arm.runs:
            entry["per_seed"][str(r.seed)] = {
                "status": r.status,
                "initial_eval_loss": r.initial_loss,
                "final_eval_loss": r.final_loss,
                "downstream_tokens": r.tokens[-1] if r.tokens else None,
                "synthetic_tokens": r.synthetic_tokens,
                "wall_s": _num(r.result.get("wall_s")),
                "error": r.error,
                "gates": [f"{g}: {m}" for g, m in r.problems],
                "delta_vs_baseline": None,
                "target_loss": None,
                "baseline_tokens_to_target": None,
                "tokens_to_target": None,
                "speedup": None,
            }
        out_arms.append(entry)
        if arm.status == "broken" or not usable:
            continue
        final = ci([r.final_loss for r in usable])
        entry["final_loss"] = final.to_json()
        entry["initial_loss"] = ci([r.initial_loss for r in usable]).to_json()
        entry["perplexity"] = {
            **final.to_json(),
            **{
                k: (None if getattr(final, k) is None else math.exp(getattr(final, k)))
                for k in ("estimate", "low", "high")
            },
            "method": f"exp of the mean-loss {final.method} interval",
        }
        # probes: per metric scalar, mean and CI over usable seeds
        scalars = [_probe_scalars(r.result) for r in usable]
        for key in sorted({k for s in scalars for k in s}):
            entry["probes"][key] = {"interval": ci([s.get(key) for s in scalars]).to_json(), "vs_baseline": None}

        # tokens to reach the baseline's final loss (per seed; also for the baseline itself)
        if not base_usable:
            continue
        pairs = [(r, base_runs[r.seed]) for r in arm.runs if r.usable and base_runs[r.seed].usable]
        short = [r.seed for r, b in pairs if min(len(r.eval_loss), len(b.eval_loss)) < MIN_CURVE_POINTS]
        if short:  # a start and an end only: "tokens to reach" would be read off a two-point line
            entry["speedup"] = {
                "n_pairs": len(pairs),
                "na": f"the curves of seed(s) {', '.join(map(str, short))} hold fewer than {MIN_CURVE_POINTS} "
                "evaluations (set downstream.eval_every_tokens); no tokens-to-target or speed-up is read off them",
            }
            pairs_for_speed: list = []
        else:
            pairs_for_speed = pairs
        ratios, reached, at_start, never = [], 0, 0, 0
        for r, b in pairs_for_speed:
            target = b.final_loss
            b_x = counted_tokens(meta, base, b)
            a_x = counted_tokens(meta, arm, r)
            base_t = rs.tokens_to_reach(b_x, b.eval_loss, target)
            arm_t = rs.tokens_to_reach(a_x, r.eval_loss, target)
            ratio = rs.speedup(base_t, arm_t)
            row = entry["per_seed"][str(r.seed)]
            row.update(
                target_loss=target,
                baseline_tokens_to_target=base_t,
                tokens_to_target=arm_t,
                speedup=ratio,
                delta_vs_baseline=None if arm is base else r.final_loss - b.final_loss,
            )
            if arm_t is None:
                never += 1
            elif arm_t <= 0:
                at_start += 1
            else:
                reached += 1
                if ratio is not None:
                    ratios.append(ratio)
        speed = {
            "n_pairs": len(pairs_for_speed),
            "reached": reached,
            "at_start": at_start,
            "never": never,
            "per_seed": [entry["per_seed"][str(r.seed)]["speedup"] for r, _ in pairs_for_speed],
            "geo_mean": None,
            "low": None,
            "high": None,
            "fraction_of_tokens": None,
            "ci_method": None,
        }
        if pairs_for_speed and len(ratios) == len(pairs_for_speed):
            g = rs.geometric_mean_ci(ratios, level=level, n_resamples=n_resamples, seed=seed)
            speed.update(geo_mean=g.estimate, low=g.low, high=g.high, ci_method=g.method)
            speed["fraction_of_tokens"] = None if not g.estimate else 1.0 / g.estimate
        if not short:
            entry["speedup"] = speed
        if pairs_for_speed and never == 0:
            entry["tokens_to_target"] = ci(
                [entry["per_seed"][str(r.seed)]["tokens_to_target"] for r, _ in pairs_for_speed]
            ).to_json()
        for r, b in pairs:  # the paired difference needs no curve
            entry["per_seed"][str(r.seed)]["delta_vs_baseline"] = None if arm is base else r.final_loss - b.final_loss
        if arm is base:
            continue
        comp = rs.paired_comparison(
            [r.final_loss if r.usable else None for r in arm.runs],
            [base_runs[r.seed].final_loss if base_runs[r.seed].usable else None for r in arm.runs],
            level=level,
            n_resamples=n_resamples,
            seed=seed,
        ).to_json()
        entry["vs_baseline"] = comp
        entry["verdict"] = _verdict(comp, base.name, level)
        base_scalars = {r.seed: _probe_scalars(r.result) for r in base.runs if r.usable}
        for key, probe in entry["probes"].items():
            a_vals = [_probe_scalars(r.result).get(key) if r.usable else None for r in arm.runs]
            b_vals = [base_scalars.get(r.seed, {}).get(key) for r in arm.runs]
            pc = rs.paired_comparison(a_vals, b_vals, level=level, n_resamples=n_resamples, seed=seed)
            if pc.n:
                probe["vs_baseline"] = pc.to_json()

    controls = _control_contrasts(arms, out_arms, level=level, n_resamples=n_resamples, seed=seed)
    warmups = {
        a.name: [{"seed": r.seed, **r.result["warmup"]} for r in a.runs if isinstance(r.result.get("warmup"), dict)]
        for a in arms
        if a.kind == "natural"
    }
    return {
        "format": FORMAT_VERSION,
        "design": meta["design"],
        "controls": controls,
        "warmups": warmups,
        "baseline": meta["baseline"],
        "baseline_usable": base_usable,
        "seeds": list(meta["seeds"]),
        "vocab_size": meta["vocab_size"],
        "ln_vocab": math.log(meta["vocab_size"]),
        "downstream_tokens": meta["downstream_tokens"],
        "synthetic_tokens": meta["synthetic_tokens"],
        "token_axis": "downstream" if meta["design"] == "additive" else "total (synthetic + downstream)",
        "level": level,
        "n_resamples": n_resamples,
        "bootstrap_seed": seed,
        "thresholds": {
            "scratch_tolerance": thresholds.scratch_tolerance(math.log(meta["vocab_size"])),
            "transferred_ceiling": thresholds.transferred_ceiling(math.log(meta["vocab_size"])),
            "synthetic_rel_tol": thresholds.synthetic_rel_tol,
        },
        "arms": out_arms,
    }


# --------------------------------------------------------------------------- rendering helpers


def _pct(level: float) -> str:
    return f"{level * 100:g}%"


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}"


def _tok(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3g}"


def _p_eq(value: float | None) -> str:
    """``p = 0.25`` or ``p < 0.001`` (for prose)."""
    text = _p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _ci_text(iv: dict[str, Any] | None, digits: int = 3, fmt=None) -> str:
    fmt = fmt or (lambda v: _f(v, digits))
    if not iv or iv.get("estimate") is None:
        return "n/a"
    if iv["n"] < 2:
        return f"{fmt(iv['estimate'])} (1 seed, no CI)"
    return f"{fmt(iv['estimate'])} [{fmt(iv['low'])}, {fmt(iv['high'])}]"


def _speed_text(speed: dict[str, Any] | None) -> str:
    if not speed or not speed["n_pairs"]:
        return "n/a"
    if speed.get("na"):
        return "n/a (too few evaluations on the curve)"
    if speed["geo_mean"] is not None:
        x = lambda v: f"{v:.2f}x"  # noqa: E731
        if speed["n_pairs"] < 2:
            return f"{x(speed['geo_mean'])} (1 seed, no CI)"
        return f"{x(speed['geo_mean'])} [{x(speed['low'])}, {x(speed['high'])}]"
    parts = []
    if speed["at_start"]:
        parts.append(f"at start on {speed['at_start']}")
    if speed["never"]:
        parts.append(f"never on {speed['never']}")
    if speed["reached"]:
        parts.append(f"reached on {speed['reached']}")
    return "; ".join(parts) + f" of {speed['n_pairs']} seeds"


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(data, dict):
        out: list[tuple[str, str]] = []
        for key, value in data.items():
            out.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [(prefix, data if isinstance(data, str) else json.dumps(data))]


def _kv(data: Any) -> str:
    if not data:
        return "not recorded"
    if not isinstance(data, dict):
        return str(data)
    return ", ".join(f"{k}={v}" for k, v in _flatten(data))


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _sentence(entry: dict[str, Any], summary: dict[str, Any], base_entry: dict[str, Any]) -> str:
    name = entry["name"]
    if entry["status"] == "broken":
        return f"**{name}**: broken (see Gates); its numbers are not reported as results."
    if entry["status"] == "missing":
        return f"**{name}**: no seed has finished yet."
    n_ok = len(entry["seeds"]["ok"])
    n_all = len(summary["seeds"])
    seeds_note = "" if n_ok == n_all else f" (incomplete: {n_ok} of {n_all} seeds)"
    final = _ci_text(entry["final_loss"])
    ppl = _ci_text(entry["perplexity"], digits=1)
    if entry["is_baseline"]:
        return f"**{name}** (baseline): final loss {final}, perplexity {ppl}{seeds_note}."
    base_final = _ci_text(base_entry["final_loss"]) if base_entry.get("final_loss") else "n/a"
    text = f"**{name}**: final loss {final} vs {summary['baseline']} {base_final}{seeds_note}"
    comp = entry["vs_baseline"]
    if comp is None:
        return text + f"; not compared because the baseline {summary['baseline']} is {base_entry['status']}."
    if comp["n_pairs"] >= 2:
        p = comp["p_sign_flip"]
        text += (
            f"; Δ {_signed(comp['mean_diff'])} [{_signed(comp['low'])}, {_signed(comp['high'])}], sign-flip {_p_eq(p)}"
        )
        if comp["min_attainable_p"] is not None and p is not None and abs(p - comp["min_attainable_p"]) < 1e-12:
            text += f" ({comp['n_pairs']} seeds, the smallest possible)"
        else:
            text += f" ({comp['n_pairs']} seeds)"
        if comp["p_t"] is not None:
            text += f", paired t-test {_p_eq(comp['p_t'])}"
    elif comp["n_pairs"] == 1:
        text += f"; Δ {_signed(comp['mean_diff'])} on the one paired seed"
    text += f": {entry['verdict']}."
    speed = entry["speedup"]
    if speed and speed.get("na"):
        text += f" Tokens to reach {summary['baseline']}'s final loss: n/a ({speed['na']})."
    elif speed and speed["n_pairs"]:
        tokens_word = "tokens" if summary["design"] == "additive" else "total tokens"
        if speed["geo_mean"] is not None:
            frac = speed["fraction_of_tokens"]
            text += f" Reaches {summary['baseline']}'s final loss after {frac:.0%} of the {tokens_word}"
            text += f" (speed-up {_speed_text(speed)}"
            if speed["n_pairs"] >= 2 and speed["low"] is not None and speed["low"] <= 1.0 <= speed["high"]:
                text += "; the CI includes 1: no detectable speed-up"
            text += ")."
        else:
            text += f" Reaching {summary['baseline']}'s final loss: {_speed_text(speed)}"
            if speed["at_start"]:
                text += " (at start = already below it before any downstream step: the speed-up is unbounded)"
            text += "."
    return text


# --------------------------------------------------------------------------- markdown


def render_markdown(summary: dict[str, Any], meta: dict[str, Any], run_name: str) -> str:
    level = summary["level"]
    base = summary["baseline"]
    arms = summary["arms"]
    base_entry = next(a for a in arms if a["is_baseline"])
    D, S = summary["downstream_tokens"], summary["synthetic_tokens"]
    lines = [f"# Downstream comparison: {run_name}", ""]
    if summary["design"] == "additive":
        design = (
            f"**additive** — every arm trains on D = {D:,} downstream tokens; pre-pretrained and warm-up arms "
            f"first saw S = {S:,} more (synthetic or natural) tokens, which the token counts below do not include."
        )
    else:
        design = (
            f"**substitutive** — equal total tokens: scratch trains on D = {D:,} downstream tokens, the other arms on "
            f"S = {S:,} pre-pretraining tokens plus D - S = {D - S:,} downstream tokens; token counts below are totals."
        )
    seeds = summary["seeds"]
    lines += [
        f"- Design: {design}",
        f"- Seeds: {', '.join(map(str, seeds))} ({len(seeds)}); baseline: **{base}**",
        f"- Vocabulary: V = {summary['vocab_size']:,} (ln V = {summary['ln_vocab']:.3f} nats, the loss of a uniform guess)",
        f"- Model: {_kv(meta.get('model'))}",
        f"- Corpus: {_kv(meta.get('corpus'))}",
        f"- Tokenizer: {_kv(meta.get('tokenizer'))}",
        f"- Machine: {_kv(meta.get('machine'))}",
        f"- Versions: {_kv(meta.get('versions'))}",
        f"- Started: {meta.get('started') or 'not recorded'}; finished: {meta.get('finished') or 'not finished'}",
        "",
        "## Results",
        "",
        f"Final validation loss (nats per token) and perplexity: mean over seeds [{_pct(level)} percentile bootstrap CI]. "
        f"Δ = arm − {base}, paired by seed. Tokens to target = {summary['token_axis']} tokens until the eval loss "
        f"first reaches {base}'s final loss of the same seed; speed-up = {base}'s tokens / the arm's "
        "(> 1 is faster; geometric mean over seeds).",
        "",
        "| arm | kind | policy | seeds ok/failed/missing | final loss | perplexity | Δ loss vs "
        f"{_md_cell(base)} | sign-flip p | t-test p | tokens to target | speed-up | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in arms:
        s = a["seeds"]
        counts = f"{len(s['ok'])}/{len(s['failed'])}/{len(s['missing'])}"
        if s["flagged"]:
            counts += f" ({len(s['flagged'])} flagged)"
        name = a["name"] + (" (baseline)" if a["is_baseline"] else "")
        if a["status"] in ("broken", "missing"):
            label = "not reported (broken, see Gates)" if a["status"] == "broken" else "no finished seed"
            cells = [name, a["kind"], a["policy"] or "-", counts, label, "", "", "", "", "", "", a["status"]]
        else:
            comp = a["vs_baseline"]
            if a["is_baseline"]:
                delta, p_sf, p_t = "(baseline)", "", ""
            elif comp is None:
                delta, p_sf, p_t = "baseline unusable", "", ""
            else:
                iv = {"estimate": comp["mean_diff"], "low": comp["low"], "high": comp["high"], "n": comp["n_pairs"]}
                delta = _ci_text(iv, fmt=_signed)
                p_sf, p_t = _p(comp["p_sign_flip"]), _p(comp["p_t"])
            cells = [
                name,
                a["kind"],
                a["policy"] or "-",
                counts,
                _ci_text(a["final_loss"]),
                _ci_text(a["perplexity"], digits=1),
                delta,
                p_sf,
                p_t,
                _ci_text(a["tokens_to_target"], fmt=_tok) if a["tokens_to_target"] else _speed_text(a["speedup"]),
                "1 (baseline)" if a["is_baseline"] else _speed_text(a["speedup"]),
                a["status"],
            ]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    lines += ["", "## What this shows", ""]
    for a in arms:
        lines.append("- " + _sentence(a, summary, base_entry))
    controls = summary.get("controls") or []
    if controls:
        lines += [
            "",
            "## Against the shuffled control",
            "",
            "Each synthetic arm against the control that trains on the same tokens permuted within each sequence, "
            "paired by seed (Δ < 0: the data's structure helped beyond what its tokens alone give).",
            "",
            "| arm | control | Δ final loss (arm − control) | sign-flip p | reading |",
            "|---|---|---|---|---|",
        ]
        for c in controls:
            iv = {"estimate": c["mean_diff"], "low": c["low"], "high": c["high"], "n": c["n_pairs"]}
            cells = (c["arm"], c["control"], _ci_text(iv, fmt=_signed), _p(c["p_sign_flip"]), c["verdict"])
            lines.append("| " + " | ".join(_md_cell(x) for x in cells) + " |")
    warmups = {k: v for k, v in (summary.get("warmups") or {}).items() if v}
    if warmups:
        lines += ["", "## Natural warm-up and the downstream text", ""]
        for name, rows in warmups.items():
            for w in rows:
                overlap = w.get("overlaps_downstream")
                state = (
                    "**overlaps**: the warm-up re-read windows the downstream stage trains on"
                    if overlap
                    else ("disjoint" if overlap is False else "windows of another length (not checked)")
                )
                lines.append(
                    f"- {name}, seed {w['seed']}: {w.get('warmup_windows')} warm-up windows and "
                    f"{w.get('downstream_windows')} downstream windows from {w.get('train_windows')} training "
                    f"windows: {state}. Validation windows come from held-out documents in every arm."
                )
    lines += ["", "## Gates", ""]
    flagged = [a for a in arms if a["gates"]]
    ln_v = summary["ln_vocab"]
    th = summary["thresholds"]
    lines.append(
        f"Checked for every finished seed: the curve exists, starts at 0 tokens and increases; every loss is "
        f"finite; a scratch arm starts within ±{th['scratch_tolerance']:.2f} of ln V = {ln_v:.3f} and any other "
        f"arm at most at {th['transferred_ceiling']:.3f}; the curve ends within one step of the design's "
        f"downstream budget; pre-pretrained arms saw S ±{th['synthetic_rel_tol']:.0%} synthetic tokens; "
        "no seed failed."
    )
    lines.append("")
    if not flagged:
        lines.append("Every finished seed of every arm passed every gate.")
    for a in flagged:
        lines.append(f"- **{a['name']}** ({a['status']}):")
        for g in a["gates"]:
            lines.append(f"  - seed {g['seed']}: {g['gate']}: {g['message']}")
    missing = [(a["name"], a["seeds"]["missing"]) for a in arms if a["seeds"]["missing"]]
    if missing:
        lines += ["", "Not finished yet (reported as missing, not as failures):"]
        for name, seeds_missing in missing:
            lines.append(f"- {name}: seed(s) {', '.join(map(str, seeds_missing))}")
    if not summary["baseline_usable"]:
        lines += [
            "",
            f"The baseline **{base}** is {base_entry['status']}: no arm is compared against it.",
        ]
    probe_rows = [(a, key, p) for a in arms for key, p in a["probes"].items()]
    if probe_rows:
        lines += [
            "",
            "## Probes",
            "",
            f"Every numeric probe result in result.json: mean over seeds [{_pct(level)} CI]; Δ vs {base} paired by seed.",
            "",
            "| arm | probe value | mean | Δ vs baseline | sign-flip p |",
            "|---|---|---|---|---|",
        ]
        for a, key, p in probe_rows:
            comp = p["vs_baseline"]
            if comp:
                iv = {"estimate": comp["mean_diff"], "low": comp["low"], "high": comp["high"], "n": comp["n_pairs"]}
                delta, pv = _ci_text(iv, fmt=_signed), _p(comp["p_sign_flip"])
            else:
                delta, pv = "", ""
            lines.append(
                "| " + " | ".join(_md_cell(c) for c in (a["name"], key, _ci_text(p["interval"]), delta, pv)) + " |"
            )
    n = len(seeds)
    lines += [
        "",
        "## Figure",
        "",
        "![eval loss curves](curves.png)",
        "",
        f"Top: validation loss against {summary['token_axis']} tokens; line = mean over the finished seeds, band = "
        f"min–max across seeds; {base} dashed, the dotted horizontal line is {base}'s mean final loss (the "
        f"tokens-to-target level). Bottom: arm − {base} per seed (paired), mean line and min–max band; below 0 "
        "is better. Broken arms are not drawn.",
        "",
        "## Method and caveats",
        "",
        f"- Intervals: percentile bootstrap over seeds, {summary['n_resamples']:,} resamples, fixed seed "
        f"{summary['bootstrap_seed']} (the report regenerates identically). Perplexity = exp(mean loss), its CI the "
        "exp of the loss CI. Speed-up: geometric mean of per-seed ratios, CI on the log scale.",
        f"- Paired tests on the per-seed differences: the exact sign-flip permutation test (two-sided; with {n} "
        f"seeds the smallest attainable p is {rs.min_sign_flip_p(n):.3g}) and the paired t-test (assumes normal "
        "differences).",
        "- No multiple-comparison correction is applied: every p-value and interval is for one comparison on its "
        "own; with several arms, one of them crossing a threshold by chance is more likely than the level says.",
    ]
    if n < 10:
        lines.append(
            f"- With {n} seeds the bootstrap under-covers (with 3 seeds a 95% interval of the mean is just the range "
            "of the seeds, about 75% coverage for normal data): treat the intervals as descriptive and prefer more "
            "seeds before claiming an effect."
        )
    lines += [
        "- A Δ whose interval contains 0 is reported as no detectable difference at this budget: an honest null "
        "result, not a failure.",
        "- Files: report.csv (one row per arm × seed), summary.csv (one row per arm), compare.json (the resolved "
        "config). Regenerate with `pptrain report RUN_DIR`.",
    ]
    if meta.get("config"):
        lines += [
            "",
            "<details><summary>Resolved config</summary>",
            "",
            "```json",
            json.dumps(meta["config"], indent=2, sort_keys=True, default=str),
            "```",
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CSV


SEED_COLUMNS = (
    "arm",
    "kind",
    "policy",
    "seed",
    "status",
    "gates",
    "initial_eval_loss",
    "final_eval_loss",
    "perplexity",
    "delta_vs_baseline",
    "target_loss",
    "baseline_tokens_to_target",
    "tokens_to_target",
    "speedup",
    "downstream_tokens",
    "synthetic_tokens",
    "wall_s",
    "error",
)

SUMMARY_COLUMNS = (
    "arm",
    "kind",
    "policy",
    "status",
    "seeds_ok",
    "seeds_flagged",
    "seeds_failed",
    "seeds_missing",
    "final_loss_mean",
    "final_loss_low",
    "final_loss_high",
    "perplexity",
    "perplexity_low",
    "perplexity_high",
    "delta_mean",
    "delta_low",
    "delta_high",
    "n_pairs",
    "p_sign_flip",
    "p_t",
    "speedup_geo_mean",
    "speedup_low",
    "speedup_high",
    "speedup_seeds_reached",
    "level",
    "n_resamples",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def render_csvs(summary: dict[str, Any]) -> tuple[str, str]:
    """(report.csv, summary.csv) as text; statistics of broken arms are left empty."""
    per_seed = io.StringIO()
    w = csv.writer(per_seed, lineterminator="\n")
    w.writerow(SEED_COLUMNS)
    for a in summary["arms"]:
        for seed in summary["seeds"]:
            row = a["per_seed"][str(seed)]
            final = row["final_eval_loss"]
            w.writerow(
                _cell(v)
                for v in (
                    a["name"],
                    a["kind"],
                    a["policy"],
                    seed,
                    row["status"],
                    "; ".join(row["gates"]),
                    row["initial_eval_loss"],
                    final,
                    None if final is None else math.exp(final),
                    row["delta_vs_baseline"],
                    row["target_loss"],
                    row["baseline_tokens_to_target"],
                    row["tokens_to_target"],
                    row["speedup"],
                    row["downstream_tokens"],
                    row["synthetic_tokens"],
                    row["wall_s"],
                    row["error"],
                )
            )
    per_arm = io.StringIO()
    w = csv.writer(per_arm, lineterminator="\n")
    w.writerow(SUMMARY_COLUMNS)
    for a in summary["arms"]:
        fl, ppl, comp, sp = a["final_loss"] or {}, a["perplexity"] or {}, a["vs_baseline"] or {}, a["speedup"] or {}
        s = a["seeds"]
        w.writerow(
            _cell(v)
            for v in (
                a["name"],
                a["kind"],
                a["policy"],
                a["status"],
                len(s["ok"]),
                len(s["flagged"]),
                len(s["failed"]),
                len(s["missing"]),
                fl.get("estimate"),
                fl.get("low"),
                fl.get("high"),
                ppl.get("estimate"),
                ppl.get("low"),
                ppl.get("high"),
                comp.get("mean_diff"),
                comp.get("low"),
                comp.get("high"),
                comp.get("n_pairs"),
                comp.get("p_sign_flip"),
                comp.get("p_t"),
                sp.get("geo_mean"),
                sp.get("low"),
                sp.get("high"),
                sp.get("reached"),
                summary["level"],
                summary["n_resamples"],
            )
        )
    return per_seed.getvalue(), per_arm.getvalue()


# --------------------------------------------------------------------------- figure


def _band(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Mean, min and max of several curves on the union of their x values inside the common range."""
    curves = [(x, y) for x, y in curves if x.size]
    if not curves:
        return None
    start = max(float(x[0]) for x, _ in curves)
    end = min(float(x[-1]) for x, _ in curves)
    if end < start:
        return None
    grid = np.unique(np.concatenate([x for x, _ in curves]))
    grid = grid[(grid >= start) & (grid <= end)]
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    return grid, ys.mean(axis=0), ys.min(axis=0), ys.max(axis=0)


def _short_tokens(value: float) -> str:
    """Axis label for a token count: 0, 950, 50k, 1.5M, 2B."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.0f}"


def render_png(summary: dict[str, Any], meta: dict[str, Any], arms: list[Arm], run_name: str) -> bytes:
    """curves.png (FIGURE_SIZE_IN at FIGURE_DPI) as bytes; the Agg canvas, no pyplot global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1)
    status = {a["name"]: a["status"] for a in summary["arms"]}
    base_name = summary["baseline"]
    by_name = {a.name: a for a in arms}
    base = by_name[base_name]
    colours = [f"C{i % 10}" for i in range(len(arms))]

    def xy(arm: Arm, run: SeedRun) -> tuple[np.ndarray, np.ndarray]:
        return counted_tokens(meta, arm, run), np.asarray(run.eval_loss, dtype=float)

    drawn = 0
    for colour, arm in zip(colours, arms, strict=True):
        if status[arm.name] not in ("ok", "incomplete"):
            continue
        runs = [r for r in arm.runs if r.usable]
        band = _band([xy(arm, r) for r in runs])
        if band is None:
            continue
        grid, mean, lo, hi = band
        is_base = arm.name == base_name
        label = f"{arm.name}{' (baseline)' if is_base else ''}: mean of {len(runs)} seed(s), band min–max"
        top.plot(
            grid,
            mean,
            color=colour,
            linestyle="--" if is_base else "-",
            linewidth=1.8,
            label=label,
            zorder=3 if is_base else 2,
        )
        top.fill_between(grid, lo, hi, color=colour, alpha=0.18, linewidth=0)
        drawn += 1
        if is_base or status[base_name] not in ("ok", "incomplete"):
            continue
        diffs = []
        for r in runs:
            b = next(x for x in base.runs if x.seed == r.seed)
            if not b.usable:
                continue
            ax_, ay = xy(arm, r)
            bx, by = xy(base, b)
            lo_x, hi_x = max(ax_[0], bx[0]), min(ax_[-1], bx[-1])
            grid_d = np.unique(np.concatenate([ax_, bx]))
            grid_d = grid_d[(grid_d >= lo_x) & (grid_d <= hi_x)]
            if grid_d.size:
                diffs.append((grid_d, np.interp(grid_d, ax_, ay) - np.interp(grid_d, bx, by)))
        dband = _band(diffs)
        if dband is not None:
            g, m, dlo, dhi = dband
            bottom.plot(
                g, m, color=colour, linewidth=1.8, label=f"{arm.name} − {base_name} ({len(diffs)} paired seeds)"
            )
            bottom.fill_between(g, dlo, dhi, color=colour, alpha=0.18, linewidth=0)
    base_entry = next(a for a in summary["arms"] if a["is_baseline"])
    if base_entry["final_loss"] and base_entry["final_loss"]["estimate"] is not None:
        top.axhline(
            base_entry["final_loss"]["estimate"],
            color="0.4",
            linestyle=":",
            linewidth=1.0,
            label=f"{base_name} mean final loss (tokens-to-target level)",
        )
    bottom.axhline(0.0, color="0.4", linestyle="--", linewidth=1.0)
    axis = "downstream tokens" if summary["design"] == "additive" else "total tokens (synthetic + downstream)"
    top.set_title(f"{run_name}: validation loss ({summary['design']} design, {len(summary['seeds'])} seeds)")
    top.set_xlabel(axis)
    top.set_ylabel("eval loss (nats/token)")
    bottom.set_xlabel(axis)
    bottom.set_ylabel(f"eval loss − {base_name}")
    bottom.set_title(f"difference to {base_name}, paired by seed (below 0 = better)")
    not_drawn = [a["name"] for a in summary["arms"] if a["status"] not in ("ok", "incomplete")]
    if drawn:
        title = f"not drawn ({', '.join(not_drawn)}): see Gates" if not_drawn else None
        top.legend(loc="best", fontsize=8, title=title, title_fontsize=8)
    else:
        top.text(
            0.5,
            0.5,
            "no arm has a usable curve (see report.md, Gates)",
            ha="center",
            va="center",
            transform=top.transAxes,
        )
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(loc="best", fontsize=8)
    from matplotlib.ticker import FuncFormatter

    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short_tokens(v)))
    if drawn:
        bottom.set_xlim(top.get_xlim())  # the same token axis in both panels
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return buf.getvalue()


# --------------------------------------------------------------------------- writing


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(
    run_dir: str | Path,
    *,
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    thresholds: GateThresholds | None = None,
) -> dict[str, Any]:
    """Read ``run_dir``, write report.md, report.csv, summary.csv and curves.png; return the summary dict.

    ``level`` is the confidence level of every interval, ``n_resamples`` the bootstrap
    size, ``seed`` the bootstrap seed. Raises :class:`UserError` (nothing written) for a
    missing directory, a missing or unreadable ``compare.json``, or an unknown format.
    """
    if not 0.0 < level < 1.0:
        raise UserError(f"the confidence level must be between 0 and 1 (exclusive), got {level}; use e.g. 0.95.")
    if n_resamples < 100:
        raise UserError(f"the bootstrap needs at least 100 resamples, got {n_resamples}; use e.g. 10000.")
    run_dir = Path(run_dir)
    meta, arms = load_run(run_dir, thresholds)
    summary = analyse(meta, arms, level=level, n_resamples=n_resamples, seed=seed, thresholds=thresholds)
    run_name = run_dir.resolve().name
    markdown = render_markdown(summary, meta, run_name)
    per_seed_csv, per_arm_csv = render_csvs(summary)
    png = render_png(summary, meta, arms, run_name)
    files = {
        "markdown": run_dir / "report.md",
        "csv": run_dir / "report.csv",
        "summary_csv": run_dir / "summary.csv",
        "png": run_dir / "curves.png",
    }
    _write_atomic(files["markdown"], markdown.encode("utf-8"))
    _write_atomic(files["csv"], per_seed_csv.encode("utf-8"))
    _write_atomic(files["summary_csv"], per_arm_csv.encode("utf-8"))
    _write_atomic(files["png"], png)
    summary["run_dir"] = str(run_dir)
    summary["files"] = {k: str(v) for k, v in files.items()}
    summary["verdicts"] = verdict_lines(summary)
    return summary
