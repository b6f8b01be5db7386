"""Packing: the stride, the share of generated examples a window skips, and what run.json records."""

from __future__ import annotations

import pytest

from pptrain_core.testing.toy import CopyConfig, CopyTask
from pptrain_core.training.collate import PackedDataset


def test_examples_that_fill_a_window_alone_are_never_skipped():
    task = CopyTask(CopyConfig(length=20))  # 42-token examples
    packed = PackedDataset(task, seed=0, split="train", length=50, seq_len=32)
    assert packed.stride == 1
    usage = packed.usage()
    assert usage == {"stride": 1, "examples_per_window": 1.0, "skipped_share": 0.0}
    for j in range(5):  # window j is example j, cut
        from pptrain_core.data import example_at

        assert packed[j].tokens.tolist() == example_at(task, 0, "train", j).tokens[:32].tolist()


@pytest.mark.parametrize("length", [3, 9])
def test_shorter_examples_are_packed_and_the_skipped_share_is_measured(length):
    task = CopyTask(CopyConfig(length=length))  # 8 or 20 tokens
    packed = PackedDataset(task, seed=0, split="train", length=40, seq_len=64)
    usage = packed.usage(windows=40)
    counts = [packed[j].meta["examples"] for j in range(40)]
    assert usage["examples_per_window"] == pytest.approx(sum(counts) / 40, abs=1e-3)
    assert usage["skipped_share"] == pytest.approx(1 - sum(counts) / (40 * packed.stride), abs=1e-3)
    assert 0 <= usage["skipped_share"] < 0.5  # the stride's headroom, not most of the examples
    assert all(len(packed[j]) == 64 for j in range(40))
