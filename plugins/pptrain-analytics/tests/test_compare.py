"""``pptrain compare``: config errors, the run-directory format, the two designs, resuming."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import typer
import yaml

from pptrain_analytics import cli_compare
from pptrain_analytics.corpus_specs import TASKS
from pptrain_core import hookimpl

REPO = Path(__file__).resolve().parents[3]
D, S, SEQ, BATCH = 2048, 1024, 32, 8  # one downstream step = 256 tokens


class _AnalyticsTasks:
    """The plugin's tasks, registered for a test whether or not the package is installed."""

    @hookimpl
    def register_tasks(self, register):
        for spec in TASKS:
            register(spec)


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch):
    import torch

    torch.set_num_threads(1)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def registry(pptrain_register):
    return pptrain_register(_AnalyticsTasks(), name="analytics-test")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("compare-cache")


def _config(out: Path, cache: Path, **changes) -> dict:
    cfg = {
        "output_dir": str(out),
        "seeds": [0, 1],
        "design": "additive",
        "corpus": {"kind": "embedded", "name": "pydoc_topics"},
        "tokenizer": {"vocab_size": 512},
        "cache_dir": str(cache),
        "model": {
            "adapter": "hf_causal_lm",
            "params": {"model_type": "gpt2", "overrides": {"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64}},
        },
        "downstream": {"tokens": D, "seq_len": SEQ, "batch_size": BATCH, "eval_every_tokens": 512, "eval_windows": 16},
        "synthetic": {"tokens": S},
        "arms": [{"name": "scratch", "kind": "scratch"}, {"name": "dyck", "kind": "synthetic", "task": "dyck:smoke"}],
    }
    cfg.update(changes)
    return cfg


def _write(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def root() -> None:
        """A minimal root app with the compare command."""

    cli_compare.register(app)
    return app


def _main(monkeypatch, capsys, *args):
    """Run the command through the core's entry point (UserError -> one line, exit 2)."""
    from pptrain_core import cli

    monkeypatch.setattr(cli, "build_app", _app)
    try:
        cli.main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def _curve(run: Path, arm: str, seed: int) -> list[dict]:
    lines = (run / "arms" / arm / f"seed-{seed}" / "curve.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _result(run: Path, arm: str, seed: int) -> dict:
    return json.loads((run / "arms" / arm / f"seed-{seed}" / "result.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- config errors


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"design": "additiv"},
            "$.design: 'additiv' is not one of 'additive', 'substitutive' (did you mean 'additive'?)",
        ),
        (
            {"design": "substitutive", "synthetic": {"tokens": D}},
            "$.synthetic.tokens: must be less than downstream.tokens (2048) in the substitutive design",
        ),
        ({"arms": [{"name": "scratch", "kind": "scratch"}, {"name": "x", "kind": "synthetc"}]}, "$.arms[1].kind:"),
        ({"arms": [{"name": "scratch", "kind": "scratch"}, {"name": "x", "kind": "synthetic"}]}, "$.arms[1].task:"),
        (
            {"arms": [{"name": "scratch", "kind": "scratch"}, {"name": "x", "kind": "synthetic", "task": "dyk"}]},
            "$.arms[1].task: unknown task 'dyk' (did you mean 'dyck'",
        ),
        (
            {
                "arms": [
                    {"name": "scratch", "kind": "scratch"},
                    {"name": "x", "kind": "synthetic", "task": "dyck", "policy": "reinit_embedding"},
                ]
            },
            "$.arms[1].policy: unknown transfer policy 'reinit_embedding'",
        ),
        (
            {"arms": [{"name": "scratch", "kind": "scratch"}, {"name": "b", "kind": "bundle", "bundle": "/no/such"}]},
            "$.arms[1].bundle: bundle '/no/such' is not a directory",
        ),
        ({"arms": [{"name": "scratch", "kind": "scratch", "task": "dyck"}]}, "$.arms[0].task: does not apply"),
        ({"baseline": "scrach"}, "$.baseline: 'scrach' is not an arm (did you mean 'scratch'?)"),
        ({"synthetic": None}, "$.synthetic: is required by arm 'dyck'"),
        ({"downstream": {"tokens": "many"}}, "$.downstream.tokens: expected an integer"),
        (
            {"downstream": {"tokens": D, "seq_len": 128}},
            "$.model.params: the model has 64 positions, fewer than downstream.seq_len = 128",
        ),
    ],
)
def test_config_errors_are_one_sentence_with_the_path_and_exit_2(
    change, expected, tmp_path, cache_dir, registry, monkeypatch, capsys
):
    out = tmp_path / "run"
    path = _write(tmp_path / "study.yaml", _config(out, cache_dir, **change))
    code, stdout, stderr = _main(monkeypatch, capsys, "compare", str(path))
    assert code == 2, stderr
    assert stderr.startswith(f"error: {expected}"), stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert not out.exists()  # nothing half-written


def test_missing_config_file_is_a_user_error(tmp_path, registry, monkeypatch, capsys):
    code, _, stderr = _main(monkeypatch, capsys, "compare", str(tmp_path / "nope.yaml"))
    assert code == 2 and "does not exist" in stderr


# --------------------------------------------------------------------------- the evaluation


def test_eval_loss_matches_the_models_own_shifted_loss():
    import numpy as np
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from pptrain_analytics.compare import eval_loss

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_layer=1, n_head=2, n_embd=16, n_positions=16))
    windows = np.random.default_rng(0).integers(0, 50, size=(5, 12))
    model.eval()  # no dropout
    with torch.no_grad():
        # HF shifts labels itself; every window has the same number of targets, so the
        # mean over windows of their mean losses is the mean over all targets
        naive = np.mean([float(model(torch.tensor(w[None]), labels=torch.tensor(w[None])).loss) for w in windows])
    model.train()
    assert eval_loss(model, windows, batch_size=2) == pytest.approx(naive, rel=1e-5)
    assert model.training  # left in the mode it was found in


# --------------------------------------------------------------------------- end to end


def test_compare_end_to_end_additive_then_resume(tmp_path, cache_dir, registry, monkeypatch):
    from typer.testing import CliRunner

    run = tmp_path / "run"
    path = _write(tmp_path / "study.yaml", _config(run, cache_dir))
    result = CliRunner().invoke(_app(), ["compare", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["arms"]["scratch"]["ok"] == 2 and summary["arms"]["dyck"]["ok"] == 2

    meta = json.loads((run / "compare.json").read_text(encoding="utf-8"))
    assert meta["format"] == 1 and meta["design"] == "additive" and meta["seeds"] == [0, 1]
    assert meta["downstream_tokens"] == D and meta["synthetic_tokens"] == S and meta["baseline"] == "scratch"
    assert [(a["name"], a["kind"], a["policy"]) for a in meta["arms"]] == [
        ("scratch", "scratch", None),
        ("dyck", "synthetic", "reinit_embeddings"),
    ]
    assert meta["finished"] is not None and meta["corpus"]["documents"]["eval"] >= 1
    from importlib import metadata

    for dist in ("pptrain-core", "pptrain-analytics", "torch"):  # the study's provenance
        assert meta["versions"][dist] == metadata.version(dist)
    vocab = meta["vocab_size"]
    assert 256 < vocab <= 512
    hashes = set()
    for arm in ("scratch", "dyck"):
        for seed in (0, 1):
            curve = _curve(run, arm, seed)
            tokens = [c["tokens"] for c in curve]
            assert tokens == [0, 512, 1024, 1536, 2048]  # additive: D for every arm
            assert [c["step"] for c in curve] == [t // (SEQ * BATCH) for t in tokens]
            assert curve[0]["train_loss"] is None and all(c["train_loss"] is not None for c in curve[1:])
            res = _result(run, arm, seed)
            assert res["status"] == "ok" and res["error"] is None
            assert res["downstream_tokens"] == D and res["synthetic_tokens"] == (S if arm == "dyck" else 0)
            assert (
                res["initial_eval_loss"] == curve[0]["eval_loss"] and res["final_eval_loss"] == curve[-1]["eval_loss"]
            )
            assert all(math.isfinite(c["eval_loss"]) for c in curve)
            assert curve[-1]["eval_loss"] < curve[0]["eval_loss"]
            hashes.add(res["eval_windows_sha256"])
    assert len(hashes) == 1  # every arm and seed scored on the same windows
    # a freshly initialised model predicts nearly uniformly: its loss is about ln V
    for seed in (0, 1):
        assert abs(_result(run, "scratch", seed)["initial_eval_loss"] - math.log(vocab)) < 0.1
    # the seed changes the initialisation
    assert _result(run, "scratch", 0)["initial_eval_loss"] != _result(run, "scratch", 1)["initial_eval_loss"]
    assert (run / "arms" / "dyck" / "seed-0" / "transfer_report.json").is_file()
    pytest.importorskip("pptrain_analytics.report")
    assert (run / "report.md").is_file() and (run / "curves.png").is_file()

    # run again: every (arm, seed) is finished, nothing is redone
    before = {p: p.stat().st_mtime_ns for p in run.glob("arms/*/seed-*/result.json")}
    again = CliRunner().invoke(_app(), ["compare", str(path), "--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout[again.stdout.index("{") :])
    assert summary["arms"]["dyck"] == {**summary["arms"]["dyck"], "ok": 0, "skipped": 2}
    assert {p: p.stat().st_mtime_ns for p in run.glob("arms/*/seed-*/result.json")} == before


def test_substitutive_design_equal_totals_and_a_failed_arm_does_not_stop_the_others(
    tmp_path, cache_dir, registry, monkeypatch
):
    from pptrain_analytics import compare

    real = compare.Study._phase_one

    def flaky(self, arm, seed, work):
        if arm.name == "natural" and seed == 1:
            raise RuntimeError("simulated crash")
        return real(self, arm, seed, work)

    monkeypatch.setattr(compare.Study, "_phase_one", flaky)
    run = tmp_path / "sub"
    arms = [
        {"name": "scratch", "kind": "scratch"},
        {"name": "dyck_shuffled", "kind": "shuffled", "task": "dyck:smoke"},
        {"name": "natural", "kind": "natural"},
    ]
    cfg = _config(run, cache_dir, design="substitutive", arms=arms)
    summary = compare.run_compare(cfg, progress=False)
    assert summary["arms"]["natural"]["failed"] == 1 and summary["arms"]["natural"]["ok"] == 1
    assert summary["arms"]["scratch"]["ok"] == 2 and summary["arms"]["dyck_shuffled"]["ok"] == 2
    failed = _result(run, "natural", 1)
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: simulated crash"
    assert "simulated crash" in (run / "arms" / "natural" / "seed-1" / "error.log").read_text(encoding="utf-8")
    for seed in (0, 1):
        assert _curve(run, "scratch", seed)[-1]["tokens"] == D
        for arm in ("dyck_shuffled", "natural") if seed == 0 else ("dyck_shuffled",):
            res = _result(run, arm, seed)
            assert res["downstream_tokens"] == D - S and res["synthetic_tokens"] == S
            assert (
                res["downstream_tokens"] + res["synthetic_tokens"] == _result(run, "scratch", seed)["downstream_tokens"]
            )
    warmup = _result(run, "natural", 0)["warmup"]  # the warm-up read other windows than the downstream stage
    assert warmup["warmup_windows"] == S // SEQ and warmup["downstream_windows"] == (D - S) // SEQ
    assert warmup["window_offset"] == warmup["train_windows"] - S // SEQ and warmup["overlaps_downstream"] is False
    meta = json.loads((run / "compare.json").read_text(encoding="utf-8"))
    extra = {a["name"]: a["extra"] for a in meta["arms"]}
    assert extra["scratch"]["downstream_tokens"] == D and extra["natural"]["downstream_tokens"] == D - S
    assert meta["arms"][2]["policy"] == "full"  # the warm-up model continues as it is

    # another config in the same directory is refused unless --force
    from pptrain_core.errors import UserError

    with pytest.raises(UserError, match=r"different config \(first difference at \$\.seeds"):
        compare.run_compare({**cfg, "seeds": [0]}, progress=False)
    # the failed (arm, seed) is the only one a second run redoes
    monkeypatch.setattr(compare.Study, "_phase_one", real)
    summary = compare.run_compare(cfg, progress=False)
    assert summary["arms"]["natural"] == {**summary["arms"]["natural"], "ok": 1, "skipped": 1, "failed": 0}
    assert _result(run, "natural", 1)["status"] == "ok"


def test_the_example_study_runs_when_shrunk(tmp_path, cache_dir, registry, monkeypatch, capsys):
    example = REPO / "examples" / "compare_tiny.yaml"
    overrides = [
        f"output_dir={tmp_path / 'example'}",
        f"cache_dir={cache_dir}",
        "seeds=[0]",
        "tokenizer.vocab_size=512",
        "downstream.tokens=1024",
        "downstream.seq_len=32",
        "downstream.batch_size=4",
        "downstream.eval_every_tokens=512",
        "downstream.eval_windows=8",
        "synthetic.tokens=512",
        "model.params.overrides.n_embd=32",
    ]
    args = ["compare", str(example), "--json"] + [a for o in overrides for a in ("--set", o)]
    code, stdout, stderr = _main(monkeypatch, capsys, *args)
    assert code == 0, stderr
    summary = json.loads(stdout[stdout.index("{") :])
    assert {name: row["ok"] for name, row in summary["arms"].items()} == {
        "scratch": 1,
        "dyck": 1,
        "dyck_shuffled": 1,
        "natural": 1,
    }
    assert os.path.isfile(tmp_path / "example" / "compare.json")


def test_resuming_on_changed_data_is_refused(tmp_path, cache_dir, registry):
    from pptrain_analytics import compare
    from pptrain_core.errors import UserError

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(12):
        (docs / f"d{i}.txt").write_text(f"document {i} " + "the quick brown fox jumps over the lazy dog " * 40)
    cfg = _config(
        tmp_path / "run",
        cache_dir,
        seeds=[0],
        corpus={"kind": "files", "paths": [str(docs)]},
        arms=[{"name": "scratch", "kind": "scratch"}],
        synthetic=None,
        downstream={"tokens": 256, "seq_len": SEQ, "batch_size": BATCH, "eval_windows": 2, "val_fraction": 0.3},
    )
    compare.run_compare(cfg, progress=False)
    (docs / "d0.txt").write_text("an edited document " * 50)
    with pytest.raises(UserError, match="the corpus of .* changed since its finished arms ran"):
        compare.run_compare(cfg, progress=False)
    assert compare.run_compare(cfg, progress=False, force=True)["arms"]["scratch"]["ok"] == 1


def test_probes_run_on_the_start_and_the_final_model(tmp_path, cache_dir, pptrain_register):
    pytest.importorskip("pptrain_analytics.evaluate")
    import importlib

    from pptrain_analytics import compare

    pptrain_register(importlib.import_module("pptrain_analytics.plugin"), name="analytics-test")
    needle = {"steps": 2, "batch_size": 4, "eval_examples": 8, "warmup_steps": 0, "eval_every": 0, "preset": "smoke"}
    cfg = _config(
        tmp_path / "run",
        cache_dir,
        seeds=[0],
        model={
            "params": {"model_type": "gpt2", "overrides": {"n_layer": 2, "n_head": 4, "n_embd": 16, "n_positions": 100}}
        },
        downstream={"tokens": 512, "seq_len": SEQ, "batch_size": BATCH, "eval_windows": 4},
        synthetic={"tokens": 512},
        probes=[{"metric": "effective_rank", "on": "final"}, {"metric": "needle", "on": "start", "params": needle}],
    )
    compare.run_compare(cfg, progress=False)
    for arm in ("scratch", "dyck"):
        probes = _result(tmp_path / "run", arm, 0)["probes"]
        assert set(probes) == {"effective_rank", "needle"}
        assert probes["effective_rank"]["on"] == "final" and "error" not in probes["effective_rank"]
        assert probes["effective_rank"]["evaluation"]["model"]["kind"] == "hf_dir"  # the saved downstream model
        assert (tmp_path / "run" / "arms" / arm / "seed-0" / "final_model" / "config.json").is_file()
        assert probes["needle"]["on"] == "start" and "error" not in probes["needle"]
        assert probes["needle"]["evaluation"]["model"]["kind"] == ("scratch" if arm == "scratch" else "bundle")
        # the probe's own figures sit at the top, where the report tabulates them
        assert 0.0 <= probes["needle"]["accuracy"] <= 1.0


def test_probe_seeds_follow_the_study_seed_unless_given(tmp_path, cache_dir, pptrain_register):
    """A probe from scratch must not be one run copied to every seed (zero spread, false intervals)."""
    pytest.importorskip("pptrain_analytics.evaluate")
    import importlib

    from pptrain_analytics import compare

    pptrain_register(importlib.import_module("pptrain_analytics.plugin"), name="analytics-test")
    needle = {"steps": 2, "batch_size": 4, "eval_examples": 8, "warmup_steps": 0, "eval_every": 0, "preset": "smoke"}
    cfg = _config(
        tmp_path / "run",
        cache_dir,
        seeds=[3, 5],
        arms=[{"name": "scratch", "kind": "scratch"}],
        model={
            "params": {"model_type": "gpt2", "overrides": {"n_layer": 2, "n_head": 4, "n_embd": 16, "n_positions": 100}}
        },
        downstream={"tokens": 256, "seq_len": SEQ, "batch_size": BATCH, "eval_windows": 4},
        probes=[
            {"metric": "needle", "on": "start", "params": needle},
            {"metric": "reversed_addition", "on": "start", "params": {**needle, "seed": 9}},
        ],
    )
    cfg.pop("synthetic", None)
    compare.run_compare(cfg, progress=False)
    for seed in (3, 5):
        probes = _result(tmp_path / "run", "scratch", seed)["probes"]
        used = probes["needle"]["evaluation"]["config"]
        assert (used["seed"], used["model_seed"]) == (seed, seed)
        kept = probes["reversed_addition"]["evaluation"]["config"]
        assert (kept["seed"], kept["model_seed"]) == (9, seed)  # the study file's seed wins


def test_a_natural_warm_up_that_would_re_read_downstream_text_is_refused_before_anything_runs(
    tmp_path, cache_dir, registry
):
    from pptrain_analytics import compare
    from pptrain_core.errors import ConfigError

    arms = [{"name": "scratch", "kind": "scratch"}, {"name": "natural", "kind": "natural"}]
    # the help topics hold a few thousand 32-token windows: 600 steps of 8 downstream windows
    # plus 300 of 8 warm-up windows need more than there are
    cfg = _config(tmp_path / "big", cache_dir, arms=arms, downstream={**_config(tmp_path, cache_dir)["downstream"],
                  "tokens": 600 * BATCH * SEQ}, synthetic={"tokens": 300 * BATCH * SEQ})  # fmt: skip
    with pytest.raises(ConfigError, match=r"\$\.corpus: holds .* training windows .* re-read downstream text"):
        compare.run_compare(cfg, progress=False)
    assert not (tmp_path / "big").exists()
    # a warm-up of another window length cannot be kept apart: refused too
    cfg = _config(tmp_path / "len", cache_dir, arms=arms, synthetic={"tokens": S, "seq_len": SEQ * 2})
    with pytest.raises(ConfigError, match=r"\$\.synthetic\.seq_len"):
        compare.run_compare(cfg, progress=False)
    assert not (tmp_path / "len").exists()
