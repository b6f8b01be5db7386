"""The training read order (lane order) and what crosses from DataLoader workers."""

from __future__ import annotations

import numpy as np
import pytest

from pptrain_core.data import Example, Task, TokenizerSpec, VirtualDataset
from pptrain_core.training.order import LANES, LaneOrder, lane_index, to_torch

CASES = [(5000, 8, 128), (3000, 96, 128), (4000, 8, 64), (1000, 64, 64), (777, 5, 12), (2048, 1, 16)]


class CountingBlocks(Task):
    """A block task that records which blocks it generated."""

    def __init__(self, block_size: int):
        self.block_size = block_size
        self.vocab = TokenizerSpec(size=16, names=str)
        self.generated: list[int] = []

    def generate_block(self, rng, *, seed, split, block):
        self.generated.append(block)
        first = block * self.block_size
        return [Example(np.array([1, (first + i) % 16]), np.array([0, 1])) for i in range(self.block_size)]


@pytest.mark.parametrize(("length", "unit", "block"), CASES)
def test_lane_order_never_reads_an_example_twice_and_stays_within_its_span(length, unit, block):
    order = LaneOrder(length, unit=unit, block=block)
    indices = list(order)
    assert len(indices) == length == len(set(indices))
    assert min(indices) >= 0 and max(indices) < order.span()


@pytest.mark.parametrize(("unit", "block"), [(8, 8), (64, 16), (8, 1)])
def test_index_order_is_kept_when_a_batch_holds_whole_blocks(unit, block):
    assert list(LaneOrder(500, unit=unit, block=block)) == list(range(500))


@pytest.mark.parametrize(("unit", "block"), [(8, 128), (96, 128), (4, 64)])
def test_every_batch_reads_a_single_lane_and_lanes_take_turns(unit, block):
    superblock = block * (unit // np.gcd(block, unit))
    for t in range(3 * LANES):
        rows = [lane_index(t * unit + r, unit=unit, block=block) for r in range(unit)]
        lanes = {(i // superblock) % LANES for i in rows}
        assert lanes == {t % LANES}
        assert rows == list(range(rows[0], rows[0] + unit))  # a run of consecutive examples


def _blocks_generated(indices, *, unit, workers, block, cache):
    """Deal batches to ``workers`` readers in turn (as a DataLoader does) and count block generations."""
    task = CountingBlocks(block)
    readers = [VirtualDataset(task, seed=0, split="train", length=10**9, cache_blocks=cache) for _ in range(workers)]
    for t in range(len(indices) // unit):
        reader = readers[t % workers]
        for i in indices[t * unit : (t + 1) * unit]:
            reader[i]
    return task.generated


@pytest.mark.parametrize("workers", [1, 2, 4, 8, 16])
def test_workers_that_divide_the_lanes_generate_each_block_once(workers):
    unit, block, length = 8, 128, 8 * 2048
    order = LaneOrder(length, unit=unit, block=block)
    generated = _blocks_generated(list(order), unit=unit, workers=workers, block=block, cache=order.cache_blocks())
    assert len(generated) == len(set(generated))


def test_index_order_makes_every_worker_generate_every_block():
    """What lane order fixes: with batches smaller than a block, two workers each make every block."""
    unit, block, length = 8, 128, 8 * 512
    generated = _blocks_generated(list(range(length)), unit=unit, workers=2, block=block, cache=2)
    assert len(generated) == 2 * len(set(generated))


def test_lanes_need_new_blocks_at_an_even_pace():
    """After the lanes' first blocks, no batch needs more than one block that was never generated."""
    unit, block = 8, 128
    seen: set[int] = set()
    worst = 0
    for t in range(4000):
        rows = {lane_index(t * unit + r, unit=unit, block=block) // block for r in range(unit)}
        new = len(rows - seen)
        seen |= rows
        if t >= LANES:
            worst = max(worst, new)
    assert worst == 1


def test_worker_batches_cross_as_compact_numpy_and_come_back_as_the_same_tensors(monkeypatch):
    torch = pytest.importorskip("torch")
    from pptrain_core.training.collate import Collator

    examples = [Example(np.array([5, 6, 7, 300]), np.array([0, 1, 1, 1])), Example(np.array([9, 2]), np.array([0, 1]))]
    in_main = Collator(0, numpy_in_workers=True)(examples)
    assert all(isinstance(v, torch.Tensor) for v in in_main.values())  # outside a worker: tensors as before
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())  # as inside a worker
    sent = Collator(0, numpy_in_workers=True)(examples)
    assert all(isinstance(v, np.ndarray) for v in sent.values())
    assert sum(v.nbytes for v in sent.values()) < sum(v.numel() * v.element_size() for v in in_main.values()) / 2
    back = to_torch(sent)
    for key, tensor in in_main.items():
        assert back[key].dtype == torch.int64 and torch.equal(back[key], tensor), key
