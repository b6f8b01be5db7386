"""The CLI: listings, --json, sampling, and one-sentence errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pptrain_core.testing.cli import run_cli as run


def test_list_tasks_json_names_the_plugin(toy_registry, capsys):
    code, out, _ = run(capsys, "list-tasks", "--json")
    assert code == 0
    row = next(r for r in json.loads(out) if r["name"] == "toy_copy")
    assert row["plugin"] == "toy" and row["presets"] == ["tiny", "wide"]


def test_list_tasks_table(toy_registry, capsys):
    code, out, _ = run(capsys, "list-tasks")
    assert code == 0 and "toy_copy" in out and "Copy a random string" in out


def test_presets_and_describe_show_provenance(toy_registry, capsys):
    code, out, _ = run(capsys, "presets", "toy_copy", "--json")
    assert code == 0
    wide = next(p for p in json.loads(out) if p["name"] == "wide")
    assert wide["status"] == "approximate"  # the weakest of verified and approximate
    code, out, _ = run(capsys, "describe", "toy_copy:wide", "--json")
    info = json.loads(out)
    assert info["config"] == {"length": 8, "symbols": 50}
    assert info["provenance"]["symbols"]["status"] == "verified"
    assert info["vocabulary"]["size"] == 53 and info["vocabulary"]["special_ids"]["sep"] == 51
    code, out, _ = run(capsys, "describe", "toy_copy:wide", "--set", "length=2")
    assert code == 0 and "length" in out


def test_sample_json_lines(toy_registry, capsys):
    code, out, _ = run(capsys, "sample", "toy_copy:tiny", "-n", "3", "--seed", "4", "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert len(lines) == 3 and [r["index"] for r in lines] == [0, 1, 2]
    for r in lines:
        assert len(r["tokens"]) == len(r["loss_mask"]) == 3 + 1 + 3 + 1
        assert set(r["loss_mask"]) == {0, 1}
        assert r["text"].split()[3] == "<sep>" and r["text"].endswith("<eos>")
    code2, out2, _ = run(capsys, "sample", "toy_copy:tiny", "-n", "3", "--seed", "4", "--json")
    assert out2 == out  # deterministic
    code3, out3, _ = run(capsys, "sample", "toy_copy:tiny", "-n", "3", "--seed", "4", "--split", "eval", "--json")
    assert out3 != out


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("sample", "toy_cpy"), "unknown task 'toy_cpy' (did you mean 'toy_copy'?)"),
        (("sample", "toy_copy:tinny"), "no preset 'tinny' (did you mean 'tiny'?)"),
        (("sample", "toy_copy", "--set", "length=abc"), "$.task.params.length: expected an integer, got str 'abc'"),
        (
            ("sample", "toy_copy", "--set", "lenght=3"),
            "$.task.params.lenght: unknown key 'lenght' (did you mean 'length'?)",
        ),
        (("describe", "toy_copy", "--set", "length=0"), "$.task.params.length: must be at least 1"),
        (("sample", "toy_copy", "--set", "oops"), "must look like key=value"),
        (("sample", "toy_copy", "--split", "test"), "--split must be 'train' or 'eval'"),
        (("presets", "nope"), "unknown task 'nope'"),
    ],
)
def test_user_mistakes_are_one_sentence_and_exit_2(toy_registry, capsys, args, fragment):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert fragment in err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "Traceback" not in err and out == ""


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "pptrain_core", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "list-tasks" in proc.stdout


def test_discovery_does_not_import_torch_or_numpy():
    code = (
        "import sys; from pptrain_core.cli import main\n"
        "try:\n    main(['list-tasks', '--json'])\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(','.join(m for m in ('torch', 'numpy', 'transformers') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stderr.strip() == "", f"discovery imported: {proc.stderr.strip()}"


def test_describe_stats_measures_the_examples(toy_registry, capsys):
    code, out, _ = run(capsys, "describe", "toy_copy:tiny", "--stats", "--sample", "40", "--json")
    assert code == 0
    stats = json.loads(out)["stats"]
    # x SEP x EOS with |x| = 3: 8 tokens, the copy and EOS (4) carry loss
    assert stats["length"] == {"mean": 8.0, "min": 8, "max": 8}
    assert stats["loss_token_share"] == 0.5
    assert stats["distinct_tokens"] <= 10 + 2 and stats["sample"] == 40
    assert "family" not in stats


def test_families_can_add_stats_and_a_rich_rendering(pptrain_register, capsys):
    from rich.text import Text

    from pptrain_core import TaskSpec, hookimpl
    from pptrain_core.testing.toy import CopyConfig, CopyTask

    class Fancy(CopyTask):
        def stats(self, sample, seed):
            return {"answered": sample}

        def render_rich(self, example):
            return Text("FANCY VIEW")

    spec = TaskSpec(name="fancy", summary="s", config_cls=CopyConfig, factory=Fancy)

    class P:
        @hookimpl
        def register_tasks(self, register):
            register(spec)

    pptrain_register(P(), name="fancy")
    code, out, _ = run(capsys, "describe", "fancy", "--stats", "--sample", "5", "--json")
    assert json.loads(out)["stats"]["family"] == {"answered": 5}
    code, out, _ = run(capsys, "sample", "fancy", "-n", "1")
    assert code == 0 and "FANCY VIEW" in out
