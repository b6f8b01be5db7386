"""``pptrain replicate``: every profile is a valid compare study; the test profile runs end to end."""

from __future__ import annotations

import json
import math

import pytest
import typer
from typer.testing import CliRunner

from pptrain_analytics import cli_replicate
from pptrain_analytics.compare import resolve_compare
from pptrain_analytics.corpus_specs import TASKS
from pptrain_analytics.probe_specs import PROBE_TASKS
from pptrain_analytics.replicate import PROFILES, families, study_for
from pptrain_core import hookimpl
from pptrain_core.errors import UserError
from pptrain_core.plugins import get_registry

pytest.importorskip("pptrain_dyck")
pytest.importorskip("pptrain_hf")


class _AnalyticsTasks:
    """The plugin's own tasks (corpora, controls, probes), registered as the plugin does."""

    @hookimpl
    def register_tasks(self, register):
        for spec in (*TASKS, *PROBE_TASKS):
            register(spec)


@pytest.fixture
def registry(pptrain_register):
    return pptrain_register(_AnalyticsTasks(), name="pptrain_analytics.plugin")


def test_families_are_the_installed_task_families_not_our_own_tasks(registry):
    refs = families(registry)
    names = {r.split(":")[0] for r in refs}
    own = {s.name for s in (*TASKS, *PROBE_TASKS)}
    assert names and not names & own
    assert "dyck" in names
    for ref in refs:  # the smoke preset where a family has one
        name = ref.split(":")[0]
        has_smoke = any(p.name == "smoke" for p in registry.tasks[name].presets)
        assert ref == (f"{name}:smoke" if has_smoke else name)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_is_a_valid_compare_study(registry, profile, tmp_path):
    study = study_for(profile, registry=registry, output_dir=str(tmp_path / profile))
    study["cache_dir"] = str(tmp_path / "cache")  # never the user's cache
    resolved = resolve_compare(json.loads(json.dumps(study)), registry=registry)  # JSON round trip, as --dry-run
    arms = {a["name"]: a for a in study["arms"]}
    assert arms["scratch"]["kind"] == "scratch" and study["baseline"] == "scratch"
    kinds = {a["kind"] for a in study["arms"]}
    assert "shuffled" in kinds, "every profile carries the shuffled control"
    assert resolved is not None
    if profile == "needle":
        # Jiang et al.'s diagnostic: their tiny GPT-2, Dyck vs its shuffled control, mean_embeddings probe
        sizes = study["model"]["params"]["overrides"]
        assert (sizes["n_layer"], sizes["n_head"], sizes["n_embd"]) == (2, 4, 16)
        assert sizes["tie_word_embeddings"] is False
        assert set(arms) == {"scratch", "dyck", "dyck_shuffled"}
        assert arms["dyck"]["task"] == arms["dyck_shuffled"]["task"]
        (probe,) = study["probes"]
        assert probe["metric"] == "needle" and probe["on"] == "start"
        assert len(study["seeds"]) >= 3
    if profile == "test":
        assert {a.get("task", "").split(":")[0] for a in study["arms"]} >= {r.split(":")[0] for r in families(registry)}
        assert "natural" in kinds


def test_unknown_profile_is_one_sentence(registry):
    with pytest.raises(UserError, match="did you mean 'needle'"):
        study_for("nedle", registry=registry)


def _app():
    app = typer.Typer()
    cli_replicate.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command, so typer keeps "replicate" as a sub-command
        pass

    return app


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["replicate", "--seeds", "0,x"], "--seeds"),
        (["replicate", "--seeds", "1,1"], "--seeds"),
        (["replicate", "--test", "--profile", "needle"], "--test"),
    ],
)
def test_cli_mistakes_exit_2_with_one_sentence(args, needle):
    # pptrain_core.cli.main turns a UserError into its one sentence on stderr and exit status 2
    result = CliRunner().invoke(_app(), args)
    assert isinstance(result.exception, UserError), result.output
    assert result.exception.exit_code == 2
    message = str(result.exception)
    assert needle in message and "\n" not in message


def test_dry_run_prints_a_study_that_compare_accepts(registry, tmp_path):
    result = CliRunner().invoke(_app(), ["replicate", "--test", "--dry-run", "--seeds", "3,4"])
    assert result.exit_code == 0, result.output
    study = json.loads(result.output)
    assert study["seeds"] == [3, 4]
    study["cache_dir"] = str(tmp_path / "cache")
    resolve_compare(study, registry=get_registry())


def test_test_profile_runs_end_to_end(registry, tmp_path, monkeypatch):
    """The quick profile, cut to the Dyck families and one seed, writes the full report."""
    import torch

    torch.set_num_threads(1)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from pptrain_analytics import replicate

    monkeypatch.setattr(replicate, "families", lambda reg: ["dyck:smoke"])  # one family keeps it short
    small = replicate._needle_probe
    monkeypatch.setattr(replicate, "_needle_probe", lambda *a, **sizes: small(4, 8, 16, 2, **sizes))
    out = tmp_path / "rep"
    summary = replicate.run_replicate(
        "test",
        output_dir=str(out),
        seeds=[0],
        overrides=[f"cache_dir={tmp_path / 'cache'}"],
        progress=False,
        registry=registry,
    )
    assert summary["profile"] == "test"
    assert set(summary["arms"]) == {"scratch", "dyck", "dyck_shuffled", "natural"}
    for arm in summary["arms"].values():
        assert arm["ok"] == 1 and arm["failed"] == 0
        assert math.isfinite(arm["final_eval_loss_mean"])
    for name in ("report.md", "report.csv", "summary.csv", "curves.png", "compare.json"):
        assert (out / name).is_file(), name
    result = json.loads((out / "arms" / "dyck" / "seed-0" / "result.json").read_text())
    assert "needle" in result["probes"]
