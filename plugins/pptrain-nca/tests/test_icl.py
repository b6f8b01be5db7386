"""The in-context metric on a tiny GPT-2 trained a few steps on the smoke preset.

Checks that the curves exist, have one value per loss-carrying frame and are finite, and
that the metric is registered as a ``model`` metric; not their values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import transformers  # the test extra declares it: missing, it fails the session, never skips

from pptrain_core.config import structure
from pptrain_core.data import example_at
from pptrain_core.specs import resolve_factory
from pptrain_nca.icl import NCAIclMetric
from pptrain_nca.specs import NCA, NCA_ICL, NCAConfig, NCAIclConfig
from pptrain_nca.task import NCATask

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained():
    task = NCATask(structure(dict(NCA.preset("smoke").values), NCAConfig))
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        vocab_size=task.vocab.size, n_positions=task.config.seq_len, n_embd=16, n_layer=1, n_head=2
    )
    model = transformers.GPT2LMHeadModel(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(5):
        batch = [example_at(task, 0, "train", step * 4 + i) for i in range(4)]
        ids = torch.from_numpy(np.stack([ex.tokens for ex in batch]))
        labels = torch.from_numpy(np.stack([ex.labels() for ex in batch]))
        loss = model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return task, model


@pytest.mark.parametrize("rules", ["train", "eval"])
def test_icl_curves_have_the_right_shape(trained, rules):
    task, model = trained
    metric = NCAIclMetric(NCAIclConfig(n_sequences=6, batch_size=4))
    out = metric.evaluate(model, task=task, rules=rules, device="cpu")
    c = task.config
    # smoke: 8 frames of 11 tokens in 88 tokens; frame 0 carries no loss
    assert out["frame_index"] == list(range(1, c.frames))
    assert len(out["frame_loss"]) == c.frames - 1
    assert all(math.isfinite(v) and v > 0 for v in out["frame_loss"])
    assert out["context_frames"] == list(range(1, c.seq_len // c.frame_len))
    assert len(out["exact_match"]) == len(out["cell_accuracy"]) == len(out["context_frames"])
    assert all(0 <= v <= 1 for v in out["exact_match"] + out["cell_accuracy"])
    assert out["rules"] == rules and out["n_sequences"] == 6


def test_icl_sequences_are_not_training_sequences(trained):
    task, _ = trained
    rows, mask = NCAIclMetric(NCAIclConfig(n_sequences=2)).sequences(task, "train", 2)
    assert rows.shape == (2, task.config.seq_len) and mask.shape == (task.config.seq_len,)
    assert not np.array_equal(rows[0], example_at(task, 0, "train", 0).tokens)
    with pytest.raises(ValueError):
        NCAIclMetric().sequences(task, "test", 1)


def test_metric_spec_is_a_model_metric():
    assert NCA_ICL.kind == "model" and NCA_ICL.name == "nca_icl"
    metric = resolve_factory(NCA_ICL.factory)(NCAIclConfig())
    assert isinstance(metric, NCAIclMetric)
