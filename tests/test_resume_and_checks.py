"""Interrupted checkpoints, leftovers of a killed run, checks before work, and CPU threads.

A tiny GPT-2 (pptrain-hf's ``hf_causal_lm`` adapter) on the core's toy copy task.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pptrain_hf = pytest.importorskip("pptrain_hf")

from pptrain_core.errors import ConfigError, UserError  # noqa: E402
from pptrain_core.plugins import Candidate, Registry  # noqa: E402
from pptrain_core.tasks import create_task  # noqa: E402
from pptrain_core.testing.toy import ToyPlugin  # noqa: E402
from pptrain_core.training import PrePreTrainer, RunConfig  # noqa: E402
from pptrain_core.training import checkpoints as ckpt  # noqa: E402
from pptrain_core.training.checks import choose_threads  # noqa: E402
from pptrain_core.training.collate import Collator  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def reg():
    return Registry.load([Candidate(name="toy", load=ToyPlugin, distribution="toy")], environ={})


def _adapter(**overrides):
    from pptrain_hf import HFCausalLMAdapter, HFModelConfig

    settings = {"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64, **overrides}
    return HFCausalLMAdapter(HFModelConfig("gpt2", settings))


def _trainer(reg, out: Path, task: str = "toy_copy:tiny", adapter=None, params=None, **run):
    settings = {
        "output_dir": str(out),
        "batch_size": 4,
        "eval_examples": 0,
        "progress": False,
        "export_bundle": False,
        "logging_steps": 1,
        **run,
    }
    return PrePreTrainer(
        create_task(task, registry=reg, **(params or {})), adapter or _adapter(), RunConfig(**settings), registry=reg
    )


RESUMABLE = {"max_steps": 6, "save_steps": 2, "save_total_limit": 3, "lr": 1e-3}


def _weights(trainer):
    return {k: v.detach().clone() for k, v in trainer.trainer.model.state_dict().items()}


@pytest.fixture(scope="module")
def uninterrupted(reg, tmp_path_factory):
    t = _trainer(reg, tmp_path_factory.mktemp("full") / "run", **RESUMABLE)
    t.fit()
    return _weights(t)


def _truncate(name):
    def change(folder: Path):
        p = folder / name
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])

    return change


def _delete(*names):
    def change(folder: Path):
        for name in names:
            (folder / name).unlink()

    return change


def _only_weights(folder: Path):
    for p in folder.iterdir():
        if p.name != "model.safetensors":
            p.unlink()


# Each damages the newest checkpoint the way a kill at one point of its write leaves it.
KILL_POINTS = {
    "during the weights": _only_weights,  # and model.safetensors cut below
    "after the weights": lambda f: _delete("optimizer.pt", "scheduler.pt", "trainer_state.json", ckpt.MARKER)(f),
    "during the optimizer": lambda f: (_truncate("optimizer.pt")(f), _delete("trainer_state.json", ckpt.MARKER)(f)),
    "before the trainer state": _delete("trainer_state.json", ckpt.MARKER),
    "during the trainer state": lambda f: (_truncate("trainer_state.json")(f), _delete(ckpt.MARKER)(f)),
    "before the marker": _delete(ckpt.MARKER),
    "marked, then a file lost": _delete("optimizer.pt"),
    "marked, then a file cut": _truncate("model.safetensors"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_kill_during_a_checkpoint_write_resumes_from_the_previous_one(reg, tmp_path, uninterrupted, point, capsys):
    out = tmp_path / "run"
    _trainer(reg, out, **RESUMABLE).fit()
    newest = out / "checkpoints" / "checkpoint-6"
    assert ckpt.checkpoint_problem(newest) is None
    KILL_POINTS[point](newest)
    if point == "during the weights":
        _truncate("model.safetensors")(newest)
    assert ckpt.checkpoint_problem(newest) is not None
    capsys.readouterr()

    again = _trainer(reg, out, **RESUMABLE)
    result = again.fit()  # the same command, run again

    err = capsys.readouterr().err
    assert "warning: skipped and removed the incomplete checkpoint checkpoints/checkpoint-6" in err
    assert "resuming from checkpoints/checkpoint-4" in err
    assert result.summary["resumed_from"].endswith("checkpoint-4")
    assert result.summary["skipped_checkpoints"] == ["checkpoints/checkpoint-6"]
    assert result.summary["steps"] == 6
    final = _weights(again)
    assert final.keys() == uninterrupted.keys()
    for name in final:
        assert torch.equal(final[name], uninterrupted[name]), name
    # the rewritten checkpoint is complete again, and a third run has nothing to skip
    assert ckpt.checkpoint_problem(newest) is None


def test_a_kill_right_before_the_marker_is_survived(reg, tmp_path, uninterrupted, monkeypatch, capsys):
    out = tmp_path / "run"
    real = ckpt.mark_complete

    def killed_at_6(folder, step):
        if step == 6:
            raise KeyboardInterrupt  # stands in for SIGKILL between the Trainer's files and the marker
        real(folder, step)

    monkeypatch.setattr(ckpt, "mark_complete", killed_at_6)
    with pytest.raises(KeyboardInterrupt):
        _trainer(reg, out, **RESUMABLE).fit()
    monkeypatch.setattr(ckpt, "mark_complete", real)
    assert (out / "checkpoints" / "checkpoint-6" / "trainer_state.json").is_file()  # looks finished to HF
    again = _trainer(reg, out, **RESUMABLE)
    result = again.fit()
    assert result.summary["resumed_from"].endswith("checkpoint-4")
    for name, tensor in _weights(again).items():
        assert torch.equal(tensor, uninterrupted[name]), name


def test_no_complete_checkpoint_starts_over_and_says_so(reg, tmp_path, capsys):
    out = tmp_path / "run"
    _trainer(reg, out, max_steps=2, save_steps=2).fit()
    (out / "checkpoints" / "checkpoint-2" / "trainer_state.json").unlink()
    capsys.readouterr()
    result = _trainer(reg, out, max_steps=2, save_steps=2).fit()
    assert "starting from the beginning" in capsys.readouterr().err
    assert result.summary["resumed_from"] is None and result.summary["steps"] == 2


def test_rotation_keeps_complete_checkpoints_only(reg, tmp_path):
    out = tmp_path / "run"
    _trainer(reg, out, max_steps=6, save_steps=1, save_total_limit=2).fit()
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["checkpoint-5", "checkpoint-6"]
    assert all(ckpt.checkpoint_problem(out / "checkpoints" / n) is None for n in names)


def test_an_explicit_incomplete_or_file_checkpoint_is_refused(reg, tmp_path):
    out = tmp_path / "run"
    _trainer(reg, out, max_steps=2, save_steps=2).fit()
    folder = out / "checkpoints" / "checkpoint-2"
    (folder / "optimizer.pt").unlink()
    with pytest.raises(UserError, match=r"\$\.run\.resume: checkpoint .* is incomplete \(optimizer\.pt is missing\)"):
        _trainer(reg, out, max_steps=4, save_steps=2, resume=str(folder)).fit()
    with pytest.raises(UserError, match="is a file, not a checkpoint directory"):
        _trainer(reg, out, max_steps=4, resume=str(folder / "trainer_state.json")).fit()


def test_checkpoints_written_before_markers_still_resume(reg, tmp_path):
    out = tmp_path / "run"
    _trainer(reg, out, max_steps=2, save_steps=2).fit()
    folder = out / "checkpoints" / "checkpoint-2"
    (folder / ckpt.MARKER).unlink()  # as an older pptrain left it: no markers in the run at all
    assert ckpt.checkpoint_problem(folder) is None
    result = _trainer(reg, out, max_steps=4, save_steps=2).fit()
    assert result.summary["resumed_from"].endswith("checkpoint-2") and result.summary["steps"] == 4


def test_leftovers_of_a_killed_bundle_write_are_removed(reg, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".bundle.tmp-abc123").mkdir()
    (out / ".bundle.tmp-abc123" / "model.safetensors").write_bytes(b"half")
    old = out / ".bundle.tmp-old-xyz" / "bundle"
    old.mkdir(parents=True)
    (old / "bundle.json").write_text("{}")  # the previous bundle, moved aside when the kill came
    (out / ".bundle.old-q").mkdir()
    (out / ".summary.json.k2j3").write_text("{")
    (out / "notes.txt").write_text("mine")
    removed = ckpt.clean_run_dir(out)
    assert sorted(removed) == [".bundle.old-q", ".bundle.tmp-abc123", ".bundle.tmp-old-xyz", ".summary.json.k2j3"]
    assert (out / "bundle" / "bundle.json").is_file()  # put back, not lost
    assert sorted(p.name for p in out.iterdir()) == ["bundle", "notes.txt"]


def test_the_next_run_removes_bundle_leftovers(reg, tmp_path):
    out = tmp_path / "run"
    (out / ".bundle.tmp-zz").mkdir(parents=True)
    _trainer(reg, out, max_steps=1).fit()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------- checks before work


def _refused(trainer) -> ConfigError:
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        trainer.fit()
    assert time.perf_counter() - t0 < 20
    message = str(info.value)
    assert "\n" not in message and len(message) < 400
    return info.value


@pytest.mark.parametrize(
    "kwargs, path, fragment",
    [
        ({"params": {"length": 40}}, "$.task.params.length", "do not fit the model's 64 positions"),
        ({"params": {"length": 40}, "seq_len": 100}, "$.run.seq_len", "cut at 100 tokens"),
        ({"collation": "pack", "seq_len": 128}, "$.run.seq_len", "packing windows of 128 tokens"),
        ({"adapter_overrides": {"n_head": 3}}, "$.model.params.overrides.n_head", "do not divide n_embd 32"),
        ({"params": {"length": 10**9}}, "$.task.params.length", "2,000,000,002 tokens"),  # x SEP x EOS
        ({"params": {"length": 10**12}, "collation": "pack", "seq_len": 64}, "$.task.params.length", "one example"),
        ({"batch_size": 10**12}, "$.run.batch_size", "more than"),
        ({"eval_examples": 8, "eval_batch_size": 10**12}, "$.run.eval_batch_size", "logits"),
        ({"adapter_overrides": {"n_embd": 10**9}}, "$.model.params.overrides.n_embd", "parameters"),
        ({"adapter_overrides": {"n_layer": 10**9}}, "$.model.params", "parameters"),
    ],
)
def test_impossible_jobs_are_refused_before_any_work(reg, tmp_path, kwargs, path, fragment):
    kwargs = dict(kwargs)
    adapter = _adapter(**kwargs.pop("adapter_overrides", {}))
    params = kwargs.pop("params", None)
    trainer = _trainer(reg, tmp_path / "run", adapter=adapter, params=params, max_steps=1, **kwargs)
    error = _refused(trainer)
    assert error.path.startswith(path) and fragment in error.message
    assert not (tmp_path / "run").exists()  # nothing written


def test_a_huge_vocabulary_is_refused_naming_the_task_setting(reg, tmp_path):
    pytest.importorskip("pptrain_dyck")
    from pptrain_core.plugins import get_registry

    t = PrePreTrainer(
        create_task("dyck:small_k8", k=10**12, length=32, registry=get_registry()),
        _adapter(),
        RunConfig(output_dir=str(tmp_path / "run"), max_steps=1, progress=False),
    )
    error = _refused(t)
    assert error.path == "$.task.params.k" and "vocabulary of 2,000,000,000,001 ids" in error.message


def test_the_run_directory_is_checked_first(reg, tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    for where, fragment in ((a_file, "is a file, not a directory"), (a_file / "run", "is a file, so")):
        error = _refused(_trainer(reg, where, max_steps=1))
        assert error.path == "$.run.output_dir" and fragment in error.message
    assert a_file.read_text() == "x"


def test_a_longer_example_than_the_sample_is_refused_in_one_sentence():
    collate = Collator(pad_id=0, positions=4)
    from pptrain_core.data import Example

    collate([Example([1, 2, 3, 4], [0, 1, 1, 1])])
    with pytest.raises(ConfigError, match=r"an example of 5 tokens is longer than the model's 4 positions"):
        collate([Example([1, 2, 3, 4, 5], [0, 1, 1, 1, 1])])


def test_a_good_job_passes_the_checks(reg, tmp_path):
    plan = _trainer(reg, tmp_path / "run", max_steps=1).check()
    assert plan.profile.positions == 64 and plan.max_tokens == 8  # toy_copy:tiny: 3 + 1 + 3 + 1
    assert 0 < plan.memory_needed < (plan.memory_available or 1 << 62)
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- CPU threads


def test_threads_default_to_one_for_a_tiny_model_on_cpu(reg, tmp_path, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("the thread setting applies to CPU runs")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    try:
        result = _trainer(reg, tmp_path / "run", max_steps=1).fit()
        assert torch.get_num_threads() == 2  # the caller's setting is given back
    finally:
        torch.set_num_threads(1)
    threads = json.loads((result.run_dir / "run.json").read_text())["threads"]
    assert threads["setting"] == 0 and threads["torch_threads"] == 1 and "model under" in threads["chosen_by"]


def test_thread_choice():
    env = dict(os.environ)
    try:
        os.environ.pop("OMP_NUM_THREADS", None)
        assert choose_threads(3, 10) == (3, "run.threads")
        assert choose_threads(0, 10)[0] == 1
        assert choose_threads(0, 10**9)[0] is None
        os.environ["OMP_NUM_THREADS"] = "4"
        assert choose_threads(0, 10) == (None, "OMP_NUM_THREADS")
    finally:
        os.environ.clear()
        os.environ.update(env)
