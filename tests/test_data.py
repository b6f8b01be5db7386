"""Vocabularies, examples, seeding and the virtual dataset."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from pptrain_core.data import Example, NumberNames, Task, TokenizerSpec, VirtualDataset, example_at, rng_for


def test_tokenizer_spec_validates_and_renders():
    vocab = TokenizerSpec(size=3, names=["a", "b", "<eos>"], eos_id=2)
    assert vocab.render([0, 1, 2]) == "a b <eos>"
    assert vocab.special_ids() == {"eos": 2}
    with pytest.raises(ValueError, match="outside"):
        TokenizerSpec(size=3, names=["a", "b", "c"], pad_id=3)
    with pytest.raises(ValueError, match="display names"):
        TokenizerSpec(size=3, names=["a", "b"])
    with pytest.raises(ValueError, match="outside"):
        vocab.name(5)


def test_example_checks_shapes_and_builds_unshifted_labels():
    ex = Example([5, 6, 7, 8], [0, 0, 1, 1])
    assert ex.labels().tolist() == [-100, -100, 7, 8]
    with pytest.raises(ValueError, match="loss_mask"):
        Example([1, 2, 3], [0, 1])


def test_streams_are_independent_and_stable_across_processes():
    a = rng_for(0, "train", 5).integers(0, 2**31, size=4).tolist()
    assert a == rng_for(0, "train", 5).integers(0, 2**31, size=4).tolist()
    assert a != rng_for(0, "eval", 5).integers(0, 2**31, size=4).tolist()
    assert a != rng_for(0, "train", 6).integers(0, 2**31, size=4).tolist()
    assert a != rng_for(1, "train", 5).integers(0, 2**31, size=4).tolist()
    code = "from pptrain_core.data import rng_for; print(rng_for(0, 'train', 5).integers(0, 2**31, size=4).tolist())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout
    assert out.strip() == str(a)


class Counter(Task):
    """Each example records how its rng was seeded, to check the dataset's bookkeeping."""

    def __init__(self, block_size=1):
        self.block_size = block_size
        self.vocab = TokenizerSpec(size=2**16, names=NumberNames())
        self.calls = 0

    def generate(self, rng, *, seed, split, index):
        self.calls += 1
        return Example(rng.integers(0, 2**16, size=4), [0, 1, 1, 1], {"index": index})

    def generate_block(self, rng, *, seed, split, block):
        self.calls += 1
        draws = rng.integers(0, 2**16, size=(self.block_size, 4))
        return [Example(d, [0, 1, 1, 1], {"index": block * self.block_size + j}) for j, d in enumerate(draws)]


def test_dataset_is_virtual_and_pure():
    ds = VirtualDataset(Counter(), seed=1, split="train", length=10**15)
    assert len(ds) == 10**15
    far = ds[10**15 - 1]
    assert far == ds[-1] and far.meta["index"] == 10**15 - 1
    assert ds[3] == VirtualDataset(Counter(), seed=1, split="train", length=5)[3]
    assert ds[3] != ds[4]
    with pytest.raises(IndexError):
        ds[10**15]
    small = pickle.dumps(VirtualDataset(Counter(), seed=1, split="train", length=10))
    assert len(pickle.dumps(ds)) < len(small) + 64  # size does not depend on the length


def test_blocks_are_cached_and_still_a_function_of_the_index():
    task = Counter(block_size=8)
    ds = VirtualDataset(task, seed=2, split="train", length=100)
    seq = [ds[i] for i in range(24)]
    assert task.calls == 3  # one generation per block for a sequential reader
    assert [e.meta["index"] for e in seq] == list(range(24))
    fresh = Counter(block_size=8)
    assert example_at(fresh, 2, "train", 13) == seq[13]  # random access, no cache: same example
    ds_copy = pickle.loads(pickle.dumps(ds))
    assert ds_copy._cache == {} and ds_copy[5] == seq[5]


def test_symbolic_task_puts_loss_on_answer_and_end_token():
    from pptrain_core.testing import toy as conf

    task = conf.CopyTask(conf.CopyConfig(length=4, symbols=10))
    ex = example_at(task, 0, "train", 0)
    sep = int(np.flatnonzero(ex.tokens == task.vocab.sep_id)[0])
    assert ex.loss_mask[: sep + 1].sum() == 0
    assert ex.loss_mask[sep + 1 :].all()
    assert ex.tokens[-1] == task.vocab.eos_id
    assert ex.tokens[sep + 1 : -1].tolist() == ex.tokens[:sep].tolist()
