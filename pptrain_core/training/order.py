"""The order in which training reads a virtual dataset, and what crosses from data workers.

Lane order
----------
Families that generate in blocks (NCA: 128 trajectories per batched rollout, LIME: 64,
Dyck languages: 64) make a block of ``K`` examples at once. Read in index order with
batches of ``U < K`` examples, one block feeds ``K / U`` consecutive batches, and a
DataLoader deals consecutive batches to its workers in turn: every worker generated
every block and threw most of it away, so ``W`` workers did ``W`` times the work of one
process (measured: NCA 0.51 M tokens/s in one process, 0.20 M with two workers).

Lane order reads other examples in another fixed order. Examples are cut into super-blocks
(the fewest whole blocks that hold a whole number of batches, ``R`` batches each); super-block
``q`` belongs to lane ``q mod LANES``, and a lane's examples are its super-blocks one after
the other. Batch ``t`` is the next run of ``U`` examples of lane ``t mod LANES``. A worker that
receives every ``W``-th batch (``W`` dividing ``LANES``) then reads only its own lanes, so no
block is generated twice. Lane ``l`` starts ``l * R // LANES`` runs into its first
super-block (those examples are never read), so the lanes move to their next block at
different steps: new blocks are needed at an even pace, not all at once. DataLoader workers
may prepare up to a super-block's worth of batches ahead (``prefetch_factor``), so the
workers that are between blocks keep working while one makes a new block.

The order depends on the task's block size and the number of examples per DataLoader batch
over all processes, nothing else: the same step reads the same examples with 0, 1, 2 ... 16
workers, and ``torchrun`` with 2 processes of batch 4 reads what one process of batch 8
reads. No example is read twice. Lane order applies only when a block is larger than a
batch; otherwise index order already gives each batch whole blocks, and is kept.

Batches from workers
--------------------
A torch tensor returned by a worker process travels through shared memory, which costs
about a millisecond per tensor: more than generating a small batch (LIME: 1.63 M tokens/s
in one process, 0.69 M through one worker). The trainer's collator therefore returns
compact numpy arrays inside workers (pickled by value, 9 bytes per token instead of 24),
and :func:`to_torch` rebuilds the tensors in the training process.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

LANES = 16  # worker counts 1, 2, 4, 8, 16 (per process) read disjoint blocks


def block_items(dataset: Any) -> int:
    """How many consecutive items of ``dataset`` one generated block feeds (1: no blocks)."""
    from pptrain_core.data import VirtualDataset
    from pptrain_core.training.collate import PackedDataset, WindowedDataset

    if isinstance(dataset, VirtualDataset):
        return max(1, int(getattr(dataset.task, "block_size", 1)))
    if isinstance(dataset, WindowedDataset):
        return block_items(dataset.examples)
    if isinstance(dataset, PackedDataset):  # window j reads examples j*stride ...
        return max(1, int(getattr(dataset.task, "block_size", 1)) // dataset.stride)
    return 1


def lane_index(position: int, *, unit: int, block: int, lanes: int = LANES) -> int:
    """The dataset index read at ``position`` of the lane order (see the module docstring)."""
    if block <= unit or lanes <= 1:
        return position
    superblock = block * (unit // math.gcd(block, unit))  # a multiple of both the block and the batch
    runs = superblock // unit  # batches per super-block
    t, r = divmod(position, unit)
    lane, k = t % lanes, t // lanes
    q, offset = divmod((lane * runs // lanes + k) * unit + r, superblock)
    return (q * lanes + lane) * superblock + offset


class LaneOrder:
    """A sampler yielding the lane order of ``length`` positions (``unit`` items per DataLoader
    batch over all processes, ``block`` items per generated block)."""

    def __init__(self, length: int, *, unit: int, block: int, lanes: int = LANES):
        self.length, self.unit, self.block, self.lanes = int(length), int(unit), int(block), int(lanes)

    @property
    def active(self) -> bool:
        return self.block > self.unit and self.lanes > 1

    @property
    def runs(self) -> int:
        """Batches read from one super-block (1 when inactive)."""
        if not self.active:
            return 1
        return self.block // math.gcd(self.block, self.unit)

    def prefetch(self) -> int:
        """Batches each worker should be allowed to prepare ahead: one super-block's worth, so a
        worker busy with a new block does not hold the others back (at least torch's default 2)."""
        return max(2, min(self.runs, 64))

    def cache_blocks(self) -> int:
        """Blocks a reader must keep so that coming back to a lane finds its block (two per lane: a
        run may straddle two blocks)."""
        return 2 * self.lanes + 2 if self.active else 2

    def span(self) -> int:
        """One more than the largest index read: how long the dataset must be."""
        if not self.active or not self.length:
            return self.length
        last = range(max(0, self.length - self.lanes * self.unit), self.length)
        return max(self.length, *(self._at(p) + 1 for p in last))

    def _at(self, p: int) -> int:
        return lane_index(p, unit=self.unit, block=self.block, lanes=self.lanes)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        if not self.active:
            yield from range(self.length)
            return
        for p in range(self.length):
            yield self._at(p)


def set_length(dataset: Any, n: int) -> None:
    """Let ``dataset`` (and the virtual dataset it reads) hold at least ``n`` items."""
    if len(dataset) >= n:
        return
    dataset.length = int(n)
    inner = getattr(dataset, "examples", None)
    from pptrain_core.training.collate import WindowedDataset

    if isinstance(dataset, WindowedDataset) and inner is not None:
        inner.length = max(inner.length, int(n))


def set_cache_blocks(dataset: Any, n: int) -> None:
    """Let ``dataset``'s block cache (or its inner one) hold ``n`` blocks."""
    for d in (dataset, getattr(dataset, "examples", None)):
        if d is not None and hasattr(d, "cache_blocks"):
            d.cache_blocks = max(int(d.cache_blocks), int(n))


# --------------------------------------------------------------------------- batches


def compact(batch: dict[str, Any]) -> dict[str, np.ndarray]:
    """A collated batch as small numpy arrays (what a worker sends back)."""
    ids = batch["input_ids"]
    out = {
        "input_ids": ids.astype(np.int32) if ids.max(initial=0) < 2**31 else ids,
        "attention_mask": batch["attention_mask"].astype(np.int8),
        "labels": batch["labels"].astype(np.int32),
    }
    return {**batch, **out}


def to_torch(batch: Any) -> Any:
    """Numpy arrays of a batch as int64 torch tensors (tensors and other values unchanged)."""
    if not isinstance(batch, dict) or not any(isinstance(v, np.ndarray) for v in batch.values()):
        return batch
    import torch

    return {k: torch.from_numpy(v).long() if isinstance(v, np.ndarray) else v for k, v in batch.items()}
