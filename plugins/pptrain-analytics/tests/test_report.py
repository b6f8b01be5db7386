"""The report on hand-built run directories whose answers are known in closed form."""

from __future__ import annotations

import csv
import io
import json
import math
import struct
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pptrain_analytics import cli_report
from pptrain_analytics.report import FIGURE_DPI, FIGURE_SIZE_IN, write_report
from pptrain_core.errors import UserError

V = 1024
LN_V = math.log(V)
D = 1000
S = 400
EVALS = (0, 300, 600, 900, 1000)  # 10 tokens per step


def linear_curve(start: float, final: float, *, end: int = D, evals=EVALS) -> list[tuple[int, float]]:
    """Eval loss falling linearly from ``start`` at 0 tokens to ``final`` at ``end`` tokens."""
    points = [t for t in evals if t < end] + [end]
    return [(t, start + (final - start) * t / end) for t in points]


def write_arm_seed(run_dir: Path, arm: str, seed: int, curve, *, status="ok", synthetic=0, error=None, extra=None):
    folder = run_dir / "arms" / arm / f"seed-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    if curve is not None:
        with open(folder / "curve.jsonl", "w", encoding="utf-8") as f:
            for tokens, loss in curve:
                row = {"tokens": tokens, "step": tokens // 10, "eval_loss": loss, "train_loss": None}
                f.write(json.dumps(row) + "\n")
    finite = [loss for _, loss in curve or [] if loss is not None and math.isfinite(loss)]
    result = {
        "status": status,
        "error": error,
        "final_eval_loss": finite[-1] if finite else None,
        "initial_eval_loss": finite[0] if finite else None,
        "downstream_tokens": curve[-1][0] if curve else 0,
        "synthetic_tokens": synthetic,
        "wall_s": 1.5,
        "probes": extra or {},
    }
    (folder / "result.json").write_text(json.dumps(result), encoding="utf-8")


def write_compare(run_dir: Path, arms: list[tuple[str, str]], *, seeds=(0, 1, 2), design="additive", **over):
    meta = {
        "format": 1,
        "design": design,
        "seeds": list(seeds),
        "vocab_size": V,
        "downstream_tokens": D,
        "synthetic_tokens": S,
        "baseline": "scratch",
        "arms": [
            {"name": n, "kind": k, "policy": None if k == "scratch" else "full", "source": None, "extra": {}}
            for n, k in arms
        ],
        "corpus": {"name": "hand-built"},
        "tokenizer": {"kind": "bpe", "vocab_size": V},
        "model": {"adapter": "hf_causal_lm", "params": {"n_layer": 2}},
        "config": {"seeds": list(seeds)},
        "machine": {"cpu": "test"},
        "versions": {"pptrain-analytics": "0.1.0"},
        "started": "2025-01-01T00:00:00",
        "finished": "2025-01-01T00:01:00",
    }
    meta.update(over)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "compare.json").write_text(json.dumps(meta), encoding="utf-8")


def standard_study(run_dir: Path, *, seeds=(0, 1, 2), slope=2.0):
    """scratch: ln V -> F_k linearly over D; dyck: falls ``slope`` times as fast and ends at F_k - b_k.

    Closed forms: dyck's Δ on seed k is -b_k; dyck reaches scratch's final loss at D / slope
    tokens, so the speed-up is ``slope`` on every seed; twin has scratch's exact curves.
    """
    write_compare(run_dir, [("scratch", "scratch"), ("dyck", "synthetic"), ("twin", "bundle")], seeds=seeds)
    for k in seeds:
        final = 4.0 + 0.1 * k
        drop = LN_V - final
        write_arm_seed(run_dir, "scratch", k, linear_curve(LN_V, final))
        # dyck falls at slope * (drop / D) per token until it reaches... linear to LN_V - slope * drop
        write_arm_seed(run_dir, "dyck", k, linear_curve(LN_V, LN_V - slope * drop), synthetic=S)
        write_arm_seed(run_dir, "twin", k, linear_curve(LN_V, final))


def arm(summary, name):
    return next(a for a in summary["arms"] if a["name"] == name)


# --------------------------------------------------------------------------- numbers


def test_known_answers_on_linear_curves(tmp_path):
    standard_study(tmp_path)
    summary = write_report(tmp_path, n_resamples=2000)
    scratch, dyck, twin = arm(summary, "scratch"), arm(summary, "dyck"), arm(summary, "twin")
    assert [a["status"] for a in (scratch, dyck, twin)] == ["ok", "ok", "ok"]
    finals = [4.0, 4.1, 4.2]
    assert scratch["final_loss"]["estimate"] == pytest.approx(sum(finals) / 3)
    # three seeds: the percentile interval of the mean is the range of the seeds
    assert (scratch["final_loss"]["low"], scratch["final_loss"]["high"]) == pytest.approx((4.0, 4.2))
    assert scratch["perplexity"]["estimate"] == pytest.approx(math.exp(4.1))
    # dyck: final = LN_V - 2 (LN_V - F_k), so Δ_k = -(LN_V - F_k)
    deltas = [-(LN_V - f) for f in finals]
    comp = dyck["vs_baseline"]
    assert comp["differences"] == pytest.approx(deltas)
    assert comp["mean_diff"] == pytest.approx(sum(deltas) / 3)
    assert comp["p_sign_flip"] == pytest.approx(2 / 2**3)  # better on every seed: 2 / 2^n
    assert comp["min_attainable_p"] == pytest.approx(0.25)
    # scratch reaches its own final loss only at D; dyck at D / 2 -> speed-up 2 on every seed
    for k in ("0", "1", "2"):
        row = dyck["per_seed"][k]
        assert row["baseline_tokens_to_target"] == pytest.approx(D)
        assert row["tokens_to_target"] == pytest.approx(D / 2)
        assert row["speedup"] == pytest.approx(2.0)
    assert dyck["speedup"]["geo_mean"] == pytest.approx(2.0)
    assert (dyck["speedup"]["low"], dyck["speedup"]["high"]) == pytest.approx((2.0, 2.0))
    assert dyck["speedup"]["fraction_of_tokens"] == pytest.approx(0.5)
    # identical curves: Δ = 0, p = 1
    assert twin["vs_baseline"]["mean_diff"] == 0.0 and twin["vs_baseline"]["p_sign_flip"] == 1.0
    assert "no detectable difference" in twin["verdict"]
    assert "suggestive, not established" in dyck["verdict"]  # CI excludes 0 but p = 0.25 with 3 seeds


def test_six_seeds_all_better_is_detectable_and_mixed_signs_are_a_null(tmp_path):
    seeds = tuple(range(6))
    write_compare(tmp_path, [("scratch", "scratch"), ("better", "synthetic"), ("mixed", "bundle")], seeds=seeds)
    for k in seeds:
        write_arm_seed(tmp_path, "scratch", k, linear_curve(LN_V, 4.0 + 0.05 * k))
        write_arm_seed(tmp_path, "better", k, linear_curve(LN_V, 3.9 + 0.05 * k - 0.01 * k), synthetic=S)
        write_arm_seed(tmp_path, "mixed", k, linear_curve(LN_V, 4.0 + 0.05 * k + (0.02 if k % 2 else -0.02)))
    summary = write_report(tmp_path, n_resamples=2000)
    better, mixed = arm(summary, "better"), arm(summary, "mixed")
    assert better["vs_baseline"]["p_sign_flip"] == pytest.approx(2 / 2**6)
    assert better["verdict"].startswith("lower loss than scratch (the 95% CI excludes 0")
    # differences alternate -0.02, +0.02: mean 0, so every sign assignment is as extreme: p = 1
    assert mixed["vs_baseline"]["mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert mixed["vs_baseline"]["p_sign_flip"] == pytest.approx(1.0)
    assert "no detectable difference" in mixed["verdict"]


def test_speedup_geometric_mean_over_seeds(tmp_path):
    write_compare(tmp_path, [("scratch", "scratch"), ("fast", "synthetic")], seeds=(0, 1))
    for k, slope in ((0, 2.0), (1, 4.0)):
        write_arm_seed(tmp_path, "scratch", k, linear_curve(LN_V, 4.0))
        write_arm_seed(tmp_path, "fast", k, linear_curve(LN_V, LN_V - slope * (LN_V - 4.0)), synthetic=S)
    fast = arm(write_report(tmp_path, n_resamples=500), "fast")
    assert fast["per_seed"]["0"]["speedup"] == pytest.approx(2.0)
    assert fast["per_seed"]["1"]["speedup"] == pytest.approx(4.0)
    assert fast["speedup"]["geo_mean"] == pytest.approx(math.sqrt(8.0))


def test_substitutive_counts_synthetic_tokens(tmp_path):
    # scratch: ln V -> 4 over D. syn: S synthetic tokens, then D - S downstream, ln V - 1 -> 3.
    write_compare(tmp_path, [("scratch", "scratch"), ("syn", "synthetic")], seeds=(0,), design="substitutive")
    write_arm_seed(tmp_path, "scratch", 0, linear_curve(LN_V, 4.0))
    syn_curve = linear_curve(LN_V - 1, 3.0, end=D - S, evals=(0, 300, 600))
    write_arm_seed(tmp_path, "syn", 0, syn_curve, synthetic=S)
    syn = arm(write_report(tmp_path, n_resamples=200), "syn")
    assert syn["status"] == "ok", syn["gates"]
    # syn's loss reaches 4.0 after a fraction (ln V - 1 - 4) / (ln V - 1 - 3) of its 600 downstream tokens
    downstream = (LN_V - 1 - 4.0) / (LN_V - 1 - 3.0) * (D - S)
    assert syn["per_seed"]["0"]["tokens_to_target"] == pytest.approx(S + downstream)
    assert syn["per_seed"]["0"]["speedup"] == pytest.approx(D / (S + downstream))


# --------------------------------------------------------------------------- gates


def test_nan_loss_flags_the_arm_and_withholds_its_numbers(tmp_path):
    standard_study(tmp_path)
    curve = linear_curve(LN_V, 4.0)
    curve[2] = (curve[2][0], float("nan"))
    write_arm_seed(tmp_path, "dyck", 1, curve, synthetic=S)
    summary = write_report(tmp_path, n_resamples=200)
    dyck = arm(summary, "dyck")
    assert dyck["status"] == "broken" and dyck["final_loss"] is None and dyck["vs_baseline"] is None
    assert any(g["gate"] == "finite" and g["seed"] == 1 for g in dyck["gates"])
    md = (tmp_path / "report.md").read_text()
    assert "| dyck | synthetic | full | 2/0/0 (1 flagged) | not reported (broken, see Gates)" in md
    assert "seed 1: finite: eval loss is NaN at 600 tokens" in md


def test_scratch_initial_loss_far_from_ln_v_breaks_the_baseline_and_every_comparison(tmp_path):
    standard_study(tmp_path)
    write_arm_seed(tmp_path, "scratch", 2, linear_curve(LN_V + 3.0, 4.2))
    summary = write_report(tmp_path, n_resamples=200)
    scratch = arm(summary, "scratch")
    assert scratch["status"] == "broken"
    assert [g["gate"] for g in scratch["gates"]] == ["initial_loss"]
    assert not summary["baseline_usable"]
    for other in ("dyck", "twin"):
        assert arm(summary, other)["vs_baseline"] is None and arm(summary, other)["speedup"] is None
    md = (tmp_path / "report.md").read_text()
    assert "The baseline **scratch** is broken: no arm is compared against it." in md
    assert "not compared because the baseline scratch is broken" in md


def test_scratch_initial_loss_within_tolerance_passes(tmp_path):
    standard_study(tmp_path)
    # a correct init sits slightly above ln V (logit variance / 2): well inside the tolerance
    write_arm_seed(tmp_path, "scratch", 0, linear_curve(LN_V + 0.3, 4.0))
    assert arm(write_report(tmp_path, n_resamples=200), "scratch")["status"] == "ok"


def test_transferred_arm_may_start_below_ln_v_but_not_absurdly_above(tmp_path):
    standard_study(tmp_path)
    write_arm_seed(tmp_path, "twin", 0, linear_curve(2.0, 1.5))  # far below ln V: fine after transfer
    summary = write_report(tmp_path, n_resamples=200)
    assert arm(summary, "twin")["status"] == "ok"
    # ceiling: ln V + max(2, ln V / 2) = 1.5 ln V for V = 1024
    write_arm_seed(tmp_path, "twin", 0, linear_curve(LN_V * 1.5 + 0.1, 4.0))
    twin = arm(write_report(tmp_path, n_resamples=200), "twin")
    assert twin["status"] == "broken" and twin["gates"][0]["gate"] == "initial_loss"


def test_budget_gate_additive_and_substitutive(tmp_path):
    standard_study(tmp_path)
    write_arm_seed(tmp_path, "twin", 0, linear_curve(LN_V, 4.0, end=800, evals=(0, 300, 600)))
    twin = arm(write_report(tmp_path, n_resamples=200), "twin")
    assert twin["status"] == "broken" and [g["gate"] for g in twin["gates"]] == ["budget"]
    # substitutive: a synthetic arm must stop at D - S, not D
    sub = tmp_path / "sub"
    write_compare(sub, [("scratch", "scratch"), ("syn", "synthetic")], seeds=(0,), design="substitutive")
    write_arm_seed(sub, "scratch", 0, linear_curve(LN_V, 4.0))
    write_arm_seed(sub, "syn", 0, linear_curve(LN_V, 3.0), synthetic=S)  # trained on the full D
    syn = arm(write_report(sub, n_resamples=200), "syn")
    assert syn["status"] == "broken" and "expected 600" in syn["gates"][0]["message"]


def test_curve_gates(tmp_path):
    standard_study(tmp_path)
    curve = linear_curve(LN_V, 4.0)
    write_arm_seed(tmp_path, "twin", 0, curve[1:])  # no evaluation before training
    write_arm_seed(tmp_path, "twin", 1, [curve[0], curve[2], curve[1], curve[3], curve[4]])  # out of order
    write_arm_seed(tmp_path, "twin", 2, curve)
    (tmp_path / "arms" / "twin" / "seed-2" / "curve.jsonl").unlink()
    twin = arm(write_report(tmp_path, n_resamples=200), "twin")
    found = {(g["seed"], g["gate"]) for g in twin["gates"]}
    assert {(0, "curve"), (1, "curve"), (2, "curve")} <= found


def test_synthetic_budget_gate(tmp_path):
    standard_study(tmp_path)
    write_arm_seed(tmp_path, "dyck", 0, linear_curve(LN_V, 3.0), synthetic=S // 2)
    dyck = arm(write_report(tmp_path, n_resamples=200), "dyck")
    assert dyck["status"] == "broken" and dyck["gates"][0]["gate"] == "synthetic_budget"


def test_failed_seed_breaks_the_arm(tmp_path):
    standard_study(tmp_path)
    write_arm_seed(tmp_path, "dyck", 2, None, status="failed", error="RuntimeError: boom")
    summary = write_report(tmp_path, n_resamples=200)
    dyck = arm(summary, "dyck")
    assert dyck["status"] == "broken" and dyck["seeds"]["failed"] == [2]
    assert "seed 2: failed: RuntimeError: boom" in (tmp_path / "report.md").read_text()


def test_missing_seed_is_reported_not_fatal(tmp_path):
    standard_study(tmp_path)
    folder = tmp_path / "arms" / "dyck" / "seed-2"
    (folder / "result.json").unlink()  # still running: a partial curve, no result yet
    summary = write_report(tmp_path, n_resamples=200)
    dyck = arm(summary, "dyck")
    assert dyck["status"] == "incomplete" and dyck["seeds"]["missing"] == [2]
    assert dyck["vs_baseline"]["n_pairs"] == 2  # seeds 0 and 1 only
    assert dyck["vs_baseline"]["p_sign_flip"] == pytest.approx(0.5)
    md = (tmp_path / "report.md").read_text()
    assert "incomplete: 2 of 3 seeds" in md and "- dyck: seed(s) 2" in md
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert [r["status"] for r in rows if r["arm"] == "dyck"] == ["ok", "ok", "missing"]


def test_arm_with_no_finished_seed(tmp_path):
    write_compare(tmp_path, [("scratch", "scratch"), ("later", "natural")])
    for k in (0, 1, 2):
        write_arm_seed(tmp_path, "scratch", k, linear_curve(LN_V, 4.0 + 0.01 * k))
    summary = write_report(tmp_path, n_resamples=200)
    assert arm(summary, "later")["status"] == "missing"
    assert "**later**: no seed has finished yet." in (tmp_path / "report.md").read_text()


def test_probe_values_are_summarised_and_paired(tmp_path):
    standard_study(tmp_path)
    for k in (0, 1, 2):
        write_arm_seed(
            tmp_path, "scratch", k, linear_curve(LN_V, 4.0 + 0.1 * k), extra={"needle": {"accuracy": 0.1 + 0.01 * k}}
        )
        drop = LN_V - (4.0 + 0.1 * k)
        curve = linear_curve(LN_V, LN_V - 2 * drop)
        write_arm_seed(
            tmp_path, "dyck", k, curve, synthetic=S, extra={"needle": {"accuracy": 0.9, "curve": [0.1, 0.5]}}
        )
    summary = write_report(tmp_path, n_resamples=200)
    probe = arm(summary, "dyck")["probes"]["needle.accuracy"]
    assert probe["interval"]["estimate"] == pytest.approx(0.9)
    assert probe["vs_baseline"]["mean_diff"] == pytest.approx(0.9 - 0.11)
    assert "needle.curve" not in arm(summary, "dyck")["probes"]  # only scalars
    assert (
        "| dyck | needle.accuracy | 0.900 [0.900, 0.900] | +0.790 [+0.780, +0.800] | 0.25 |"
        in (tmp_path / "report.md").read_text()
    )


# --------------------------------------------------------------------------- files


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_files_markdown_csv_png(tmp_path):
    standard_study(tmp_path)
    summary = write_report(tmp_path, n_resamples=500)
    md = (tmp_path / "report.md").read_text()
    for name in ("scratch (baseline)", "dyck", "twin"):
        assert f"| {name} |" in md
    assert "Design: **additive**" in md and "D = 1,000" in md and "S = 400" in md
    assert "sign-flip p = 0.25 (3 seeds, the smallest possible)" in md
    assert "Reaches scratch's final loss after 50% of the tokens (speed-up 2.00x [2.00x, 2.00x])" in md
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert len(rows) == 3 * 3
    assert {(r["arm"], r["seed"]) for r in rows} == {
        (a, str(k)) for a in ("scratch", "dyck", "twin") for k in (0, 1, 2)
    }
    dyck0 = next(r for r in rows if r["arm"] == "dyck" and r["seed"] == "0")
    assert float(dyck0["speedup"]) == pytest.approx(2.0) and float(dyck0["tokens_to_target"]) == pytest.approx(500)
    per_arm = list(csv.DictReader(io.StringIO((tmp_path / "summary.csv").read_text())))
    assert [r["arm"] for r in per_arm] == ["scratch", "dyck", "twin"]
    assert float(per_arm[2]["p_sign_flip"]) == 1.0
    png = (tmp_path / "curves.png").read_bytes()
    assert png_size(png) == (int(FIGURE_SIZE_IN[0] * FIGURE_DPI), int(FIGURE_SIZE_IN[1] * FIGURE_DPI))
    assert set(summary["files"]) == {"markdown", "csv", "summary_csv", "png"}
    json.dumps(summary, allow_nan=False)  # the --json output is strict JSON


def test_regenerates_identically(tmp_path):
    standard_study(tmp_path)
    write_report(tmp_path, n_resamples=500)
    first = {p: (tmp_path / p).read_bytes() for p in ("report.md", "report.csv", "summary.csv", "curves.png")}
    write_report(tmp_path, n_resamples=500)
    second = {p: (tmp_path / p).read_bytes() for p in first}
    assert first == second
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda p: (p / "compare.json").unlink(), "has no compare.json"),
        (lambda p: (p / "compare.json").write_text("{not json"), "is not readable JSON"),
        (lambda p: write_compare(p, [("scratch", "scratch")], format=2), "$.format is 2"),
        (lambda p: write_compare(p, [("scratch", "scratch")], baseline="nope"), "$.baseline must name one of"),
        (lambda p: write_compare(p, [("scratch", "scratch"), ("x", "magic")]), "$.arms[1].kind must be one of"),
        (lambda p: write_compare(p, [("scratch", "scratch")], design="both"), "$.design must be"),
    ],
)
def test_bad_run_dir_is_one_sentence_and_writes_nothing(tmp_path, mutate, fragment):
    standard_study(tmp_path)
    mutate(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UserError) as exc:
        write_report(tmp_path)
    assert fragment in str(exc.value) and "\n" not in str(exc.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# --------------------------------------------------------------------------- CLI


def invoke(args):
    """Run ``pptrain report`` on a minimal app, turning UserError into exit 2 like ``pptrain_core.cli.main``."""
    app = typer.Typer()
    cli_report.register(app)

    @app.command("noop", hidden=True)
    def noop() -> None:  # a second command keeps Typer in multi-command mode
        pass

    result = CliRunner().invoke(app, ["report", *args])
    if isinstance(result.exception, UserError):
        return result.exception.exit_code, str(result.exception), result
    return result.exit_code, result.output, result


def test_cli_json(tmp_path):
    standard_study(tmp_path)
    code, out, _ = invoke([str(tmp_path), "--json", "--bootstrap", "300", "--ci", "0.9"])
    assert code == 0
    data = json.loads(out)
    assert data["level"] == 0.9 and data["n_resamples"] == 300
    assert arm(data, "dyck")["speedup"]["geo_mean"] == pytest.approx(2.0)
    assert (tmp_path / "report.md").is_file()


def test_cli_table(tmp_path):
    standard_study(tmp_path)
    code, out, _ = invoke([str(tmp_path), "--bootstrap", "300"])
    assert code == 0 and "dyck" in out and "wrote" in out


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["{missing}"], "does not exist"),
        (["{empty}"], "has no compare.json"),
        (["{study}", "--ci", "1.5"], "--ci must be between 0 and 1"),
        (["{study}", "--bootstrap", "5"], "--bootstrap must be at least 100"),
    ],
)
def test_cli_user_errors_exit_2_and_write_nothing(tmp_path, args, fragment):
    study = tmp_path / "study"
    standard_study(study)
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "study": study}
    args = [a.format(**paths) for a in args]
    code, message, _ = invoke(args)
    assert code == 2 and fragment in message
    assert not (study / "report.md").exists() and not list((tmp_path / "empty").iterdir())


# --------------------------------------------------------------------------- the docs example


def example_study(run_dir: Path) -> None:
    """The hand-built study whose report docs/report.md shows (synthetic curves, not a measurement)."""
    import numpy as np

    v, d, s, seeds = 2048, 400_000, 200_000, [0, 1, 2]
    arms = [
        ("scratch", "scratch", None, None),
        ("dyck", "synthetic", "reinit_embeddings", "dyck:paper_k64"),
        ("dyck_shuffled", "shuffled", "reinit_embeddings", "dyck:paper_k64"),
        ("natural", "natural", None, "downstream corpus"),
        ("lime", "synthetic", "reinit_embeddings", "lime:induct"),
    ]
    meta = {
        "format": 1,
        "design": "additive",
        "seeds": seeds,
        "vocab_size": v,
        "downstream_tokens": d,
        "synthetic_tokens": s,
        "baseline": "scratch",
        "arms": [{"name": n, "kind": k, "policy": p, "source": src, "extra": {}} for n, k, p, src in arms],
        "corpus": {"kind": "embedded", "name": "pydoc_topics"},
        "tokenizer": {"kind": "bpe", "vocab_size": v},
        "model": {"adapter": "hf_causal_lm", "n_layer": 2, "n_embd": 64, "n_head": 4},
        "config": {"downstream": {"tokens": d, "seq_len": 128, "batch_size": 8, "lr": 0.001}},
        "machine": {"cpu": "example"},
        "versions": {"pptrain-analytics": "0.1.0"},
        "started": "2025-01-01T12:00:00",
        "finished": "2025-01-01T12:20:00",
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "compare.json").write_text(json.dumps(meta, indent=2))
    # L(t) = L_inf + (L_0 - L_inf) exp(-t / tau), a per-seed shift and evaluation noise
    shape = {
        "scratch": (math.log(v), 4.30, 120e3),
        "dyck": (7.80, 4.22, 90e3),
        "dyck_shuffled": (7.70, 4.31, 125e3),
        "natural": (5.40, 4.21, 120e3),
        "lime": (7.70, 4.25, 100e3),
    }
    rng = np.random.default_rng(7)
    for name, kind, _, _ in arms:
        l0, linf, tau = shape[name]
        for k in seeds:
            folder = run_dir / "arms" / name / f"seed-{k}"
            folder.mkdir(parents=True, exist_ok=True)
            shift = rng.normal(0, 0.02)
            rows = []
            for t in range(0, d + 1, 50_000):
                loss = linf + shift + (l0 - linf - shift) * math.exp(-t / tau) + rng.normal(0, 0.005) * (t > 0)
                if name == "lime" and k == 2 and t >= 300_000:
                    loss = None
                rows.append({"tokens": t, "step": t // 1024, "eval_loss": loss, "train_loss": None})
            (folder / "curve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            result = {
                "status": "ok",
                "error": None,
                "final_eval_loss": rows[-1]["eval_loss"],
                "initial_eval_loss": rows[0]["eval_loss"],
                "downstream_tokens": d,
                "synthetic_tokens": 0 if kind == "scratch" else s,
                "wall_s": 60.0,
                "probes": {},
            }
            (folder / "result.json").write_text(json.dumps(result))


def test_docs_example_is_what_the_code_writes(tmp_path):
    docs = Path(__file__).resolve().parents[3] / "docs" / "report.md"
    if not docs.is_file():
        pytest.skip("docs/report.md is not in this checkout")
    example_study(tmp_path / "example-study")
    write_report(tmp_path / "example-study")
    generated = (tmp_path / "example-study" / "report.md").read_text()
    body = generated.split("## Results", 1)[1].split("## Figure", 1)[0]
    text = docs.read_text()
    lines = [line for line in body.splitlines() if line.startswith(("|", "- ", "  - "))]
    assert len(lines) > 10
    for line in lines:
        assert line in text, f"docs/report.md is out of date: {line}"


# --------------------------------------------------------------------------- controls, short curves, warm-up


def test_each_synthetic_arm_is_contrasted_with_its_own_shuffled_control(tmp_path):
    from pptrain_analytics.report import analyse, load_run, verdict_lines

    example_study(tmp_path / "s")
    meta, arms = load_run(tmp_path / "s")
    summary = analyse(meta, arms)
    (c,) = summary["controls"]  # lime has no control of its own (and is broken): no contrast
    assert (c["arm"], c["control"]) == ("dyck", "dyck_shuffled")
    finals = {a.name: {r.seed: r.final_loss for r in a.runs} for a in arms if a.name in ("dyck", "dyck_shuffled")}
    diffs = [finals["dyck"][k] - finals["dyck_shuffled"][k] for k in (0, 1, 2)]
    assert c["differences"] == pytest.approx(diffs)
    assert c["mean_diff"] == pytest.approx(sum(diffs) / 3)
    lines = verdict_lines(summary)
    assert len(lines) == 4  # every arm but the baseline
    dyck_line = next(line for line in lines if line.startswith("dyck:"))
    assert "vs its control dyck_shuffled" in dyck_line
    text = write_report(tmp_path / "s") and (tmp_path / "s" / "report.md").read_text()
    assert "## Against the shuffled control" in text and "No multiple-comparison correction" in text


def test_a_two_point_curve_gives_no_speed_up(tmp_path):
    from pptrain_analytics.report import analyse, load_run

    example_study(tmp_path / "s")
    for folder in (tmp_path / "s" / "arms").glob("*/seed-*"):  # eval_every_tokens: 0 -> start and end only
        rows = [json.loads(x) for x in (folder / "curve.jsonl").read_text().splitlines()]
        (folder / "curve.jsonl").write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[-1]) + "\n")
    meta, arms = load_run(tmp_path / "s")
    summary = analyse(meta, arms)
    dyck = next(a for a in summary["arms"] if a["name"] == "dyck")
    assert dyck["speedup"]["na"] and dyck["tokens_to_target"] is None
    assert dyck["vs_baseline"]["n_pairs"] == 3  # the final-loss contrast needs no curve
    write_report(tmp_path / "s")
    text = (tmp_path / "s" / "report.md").read_text()
    assert "n/a (too few evaluations on the curve)" in text
    assert "x [" not in text.split("## Results", 1)[1].split("## What this shows", 1)[0].split("| dyck |", 1)[1]


def test_a_warm_up_that_re_read_downstream_text_is_shown(tmp_path):
    from pptrain_analytics.report import analyse, load_run, verdict_lines

    example_study(tmp_path / "s")
    for seed in (0, 1, 2):
        path = tmp_path / "s" / "arms" / "natural" / f"seed-{seed}" / "result.json"
        result = json.loads(path.read_text())
        overlap = seed == 1
        result["warmup"] = {"train_windows": 100, "warmup_windows": 40, "window_offset": 60,
                            "downstream_windows": 70 if overlap else 50, "overlaps_downstream": overlap}  # fmt: skip
        path.write_text(json.dumps(result))
    meta, arms = load_run(tmp_path / "s")
    summary = analyse(meta, arms)
    line = next(x for x in verdict_lines(summary) if x.startswith("natural:"))
    assert "re-read downstream text" in line
    write_report(tmp_path / "s")
    text = (tmp_path / "s" / "report.md").read_text()
    assert (
        "natural, seed 1: 40 warm-up windows and 70 downstream windows from 100 training windows: **overlaps**" in text
    )
    assert "natural, seed 0: 40 warm-up windows and 50 downstream windows from 100 training windows: disjoint" in text
