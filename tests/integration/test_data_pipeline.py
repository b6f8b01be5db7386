"""The training input pipeline with real families: the same batches whatever the number of DataLoader
workers, and the run summary's data-wait share."""

from __future__ import annotations

import os
import time

import pytest

torch = pytest.importorskip("torch")

from pptrain_core.plugins import Registry  # noqa: E402
from pptrain_core.tasks import resolve  # noqa: E402
from pptrain_core.training import PrePreTrainer, RunConfig  # noqa: E402
from pptrain_core.training.job import build_adapter  # noqa: E402

torch.set_num_threads(1)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REGISTRY = Registry.load(environ={})
TINY = {"model_type": "gpt2", "overrides": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64}}


def _trainer(tmp_path, ref: str, *, workers: int, steps: int, **run) -> PrePreTrainer:
    config = RunConfig(
        output_dir=str(tmp_path / f"run-{workers}"),
        max_steps=steps,
        batch_size=4,
        collation="pack",
        seq_len=64,
        dataloader_workers=workers,
        eval_examples=0,
        progress=False,
        export_bundle=False,
        **run,
    )
    adapter = build_adapter("hf_causal_lm", TINY, registry=REGISTRY)
    return PrePreTrainer(resolve(ref, registry=REGISTRY), adapter, config, registry=REGISTRY)


@pytest.mark.parametrize("ref", ["lime:paper_mixed_1m", "dyck:small_k8"])
def test_each_step_reads_the_same_batch_with_0_1_and_2_workers(tmp_path, ref):
    """lime generates blocks of 64 (bigger than a batch: lane order); dyck:small_k8 one example at a time."""
    steps = 40
    runs = {w: list(_trainer(tmp_path, ref, workers=w, steps=steps).data_loader()) for w in (0, 1, 2)}
    assert len(runs[0]) == steps
    for w in (1, 2):
        assert len(runs[w]) == steps
        for step, (a, b) in enumerate(zip(runs[0], runs[w], strict=True)):
            for key in ("input_ids", "attention_mask", "labels"):
                assert b[key].dtype == torch.int64, key
                assert torch.equal(a[key], b[key]), (w, step, key)
    # and the batches are not all alike: 40 steps of 4 windows, no window read twice
    windows = {tuple(row.tolist()) for batch in runs[0] for row in batch["input_ids"]}
    assert len(windows) == 4 * steps


def test_the_run_summary_reports_the_time_spent_waiting_for_data(tmp_path, monkeypatch):
    fast = _trainer(tmp_path / "fast", "lime:paper_mixed_1m", workers=0, steps=6).fit().summary
    built_cls = type(resolve("lime:paper_mixed_1m", registry=REGISTRY).build())
    original = built_cls.generate_block

    def slow(self, *args, **kwargs):
        time.sleep(0.25)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(built_cls, "generate_block", slow)
    slowed = _trainer(tmp_path / "slow", "lime:paper_mixed_1m", workers=0, steps=6).fit().summary
    for summary in (fast, slowed):
        assert 0 <= summary["data_wait_s"] <= summary["wall_time_s"]
        assert summary["data_wait_share"] == pytest.approx(
            summary["data_wait_s"] / summary["wall_time_s"], rel=0.05, abs=2e-3
        )
    # six steps of 4 packed windows read several fresh blocks at 0.25 s each, inside the training loop
    assert slowed["data_wait_s"] >= 3 * 0.25
    assert slowed["data_wait_share"] > fast["data_wait_share"] + 0.2
