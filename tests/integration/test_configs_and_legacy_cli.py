"""The repository's configs/ run offline, and pptrain 0.3.0's README command lines work unchanged.

Every plugin is installed here. Each config is a few steps of a tiny GPT-2; the CLI runs in
this process (one import of torch for all of them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from pptrain_core.cli import main  # noqa: E402

torch.set_num_threads(1)
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
FAMILIES = (
    "dyck",
    "shuffle_dyck",
    "artificial_language",
    "nca",
    "procedural",
    "simpler_tasks",
    "lime",
    "summarization",
)


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_every_family_has_a_minimal_config():
    assert {p.name for p in CONFIGS.glob("*_minimal.yaml")} == {f"{f}_minimal.yaml" for f in FAMILIES}
    assert (CONFIGS / "eval_perplexity_smoke.yaml").is_file()


@pytest.mark.parametrize("family", FAMILIES)
def test_minimal_config_runs_offline(family, tmp_path, capsys):
    out_dir = tmp_path / "run"
    code, out, err = _run(
        ["fit", str(CONFIGS / f"{family}_minimal.yaml"), "--set", f"run.output_dir={out_dir}", "--json"], capsys
    )
    assert code == 0, err
    info = json.loads(out)
    assert info["steps"] == 8 and info["eval_loss"] is not None
    assert json.loads((out_dir / "job.json").read_text())["task"]["ref"] == f"{family}:smoke"
    assert (out_dir / "bundle" / "bundle.json").is_file()


def test_readme_fit_line_with_eval_config_verbatim(tmp_path, monkeypatch, capsys):
    """`pptrain fit configs/nca_minimal.yaml --eval-config configs/eval_perplexity_smoke.yaml`, from a checkout."""
    shutil.copytree(CONFIGS, tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(
        ["fit", "configs/nca_minimal.yaml", "--eval-config", "configs/eval_perplexity_smoke.yaml"], capsys
    )
    assert code == 0, err
    run_dir = tmp_path / "runs" / "nca_minimal"
    results = json.loads((run_dir / "eval" / "results.json").read_text())
    ppl = results["perplexity"]
    assert ppl["text"] == "text:pydoc_topics" and ppl["transfer"]["counts"]["copied"] > 0
    for arm in ("transferred", "scratch"):
        assert ppl[arm]["perplexity"] == pytest.approx(2.718281828 ** ppl[arm]["eval_loss"], rel=1e-6)
        assert 1 < ppl[arm]["perplexity"] < 2 * 4096  # a text vocabulary of 4,096: near-uniform after 5 steps
    assert results["metrics"][0]["metric"] == "induction_head_score"
    assert json.loads((run_dir / "summary.json").read_text())["eval"] == results
    assert "perplexity" in out


def test_bad_eval_config_fails_before_training(tmp_path, capsys):
    bad = tmp_path / "eval.yaml"
    bad.write_text("perplexity: {train_steps: 0}\n")
    out_dir = tmp_path / "run"
    argv = ["fit", str(CONFIGS / "dyck_minimal.yaml"), "--set", f"run.output_dir={out_dir}", "--eval-config", str(bad)]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "$.perplexity.train_steps" in err and "Traceback" not in err
    assert not out_dir.exists()
    bad.write_text("metrics: [{name: cka}]\n")
    code, _, err = _run(argv, capsys)
    assert code == 2 and "$.metrics[0].name" in err and "cka" in err


def test_tasks_is_list_tasks(capsys):
    code, out, _ = _run(["tasks", "--json"], capsys)
    assert code == 0
    code2, out2, _ = _run(["list-tasks", "--json"], capsys)
    assert out == out2 and {"dyck", "nca"} <= {row["name"] for row in json.loads(out)}
    code, out, _ = _run(["tasks", "nca", "--json"], capsys)
    assert code == 0 and "paper_web_text" in {row["name"] for row in json.loads(out)}
