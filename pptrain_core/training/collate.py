"""Collation: examples to model batches, padded or packed, labels never pre-shifted.

``labels[b, t]`` is ``input_ids[b, t]`` where that token carries loss and -100 elsewhere.
Hugging Face causal LMs shift labels themselves (position ``t`` predicts ``t + 1``);
shifting here too is the double shift pptrain 0.3.0 suffered from.

Packing is a dataset, not a collator trick, so a window is a pure function of its
index: window ``j`` draws on its own range of example indices,
``j * stride ... (j + 1) * stride - 1`` of the underlying virtual dataset, and
concatenates them until ``seq_len`` tokens are filled; the last example is cut. The
stride is 1.5 times the number of examples an average window needs (plus one), from the
mean length of the split's first 64 examples, so ranges are short and families that
generate in blocks waste little; when every one of those examples fills a window on its
own, the stride is 1 (window ``j`` is example ``j``, cut). The examples of a range that a
window does not need are generated and skipped (they are i.i.d. draws, so this costs
time, not statistics); :meth:`PackedDataset.usage` measures the share, and the trainer
records it in ``run.json``. When a window's range runs out before the window is full
(rare), the window is shorter and the collator pads it. Between examples the
vocabulary's end token is inserted (without loss) when the family has one and the
example does not already end with it. Examples keep their own loss masks, so the first
token of each packed example still carries no loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pptrain_core.data import Example, Task, VirtualDataset


class PackedDataset:
    """Windows of up to ``seq_len`` packed examples; window ``j`` is a pure function of ``j``."""

    def __init__(self, task: Task, *, seed: int, split: str, length: int, seq_len: int, stride: int | None = None):
        if seq_len < 2:
            raise ValueError("seq_len must be at least 2")
        view = task.window_view() if hasattr(task, "window_view") else None
        # a window-level task (the shuffled control) packs its source's examples and transforms whole windows
        self.task, self.transform = (view[0], view[1]) if view else (task, None)
        self.seed = int(seed)
        self.split = str(split)
        self.length = int(length)
        self.seq_len = int(seq_len)
        # reads go through a virtual dataset for its block cache (block-generating families)
        self.examples = VirtualDataset(self.task, seed=seed, split=split, length=2**62)
        self.stride = int(stride) if stride else self._default_stride()

    def _default_stride(self) -> int:
        sample = VirtualDataset(self.task, seed=self.seed, split=self.split, length=64)  # the block cache
        lengths = [len(ex) for ex in sample]
        if min(lengths) >= self.seq_len:  # every example fills a window alone: skip none
            return 1
        mean = sum(lengths) / len(lengths)
        return int(math.ceil(1.5 * self.seq_len / max(mean, 1.0))) + 1

    def usage(self, windows: int = 32) -> dict[str, Any]:
        """Stride and the measured share of generated examples that the first ``windows`` windows skip."""
        n = min(windows, self.length)
        used = sum(int(self[j].meta["examples"]) for j in range(n)) if n else 0
        generated = n * self.stride
        return {
            "stride": self.stride,
            "examples_per_window": round(used / n, 3) if n else None,
            "skipped_share": round(1 - used / generated, 3) if generated else None,
        }

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, j: int) -> Example:
        j = int(j)
        if not 0 <= j < self.length:
            raise IndexError(f"window {j} out of range for {self.length} windows")
        eos = self.task.vocab.eos_id
        tokens: list[np.ndarray] = []
        masks: list[np.ndarray] = []
        filled = 0
        first = j * self.stride
        used = 0
        while filled < self.seq_len and used < self.stride:
            ex = self.examples[first + used]
            used += 1
            t, m = ex.tokens, ex.loss_mask
            if filled and eos is not None and not (tokens[-1].size and tokens[-1][-1] == eos):
                tokens.append(np.array([eos], dtype=np.int64))
                masks.append(np.zeros(1, dtype=np.int8))
                filled += 1
                if filled == self.seq_len:
                    break
            take = min(len(t), self.seq_len - filled)
            tokens.append(t[:take])
            masks.append(m[:take])
            filled += take
        window = Example(np.concatenate(tokens), np.concatenate(masks), {"window": j, "examples": used})
        if self.transform is not None:
            window = self.transform(window, seed=self.seed, split=self.split, index=j)
        return window


class WindowedDataset:
    """Examples of a window-level task (:meth:`Task.window_view`) cut to ``max_len`` tokens (0: whole),
    then transformed: what the model sees under ``pad`` collation."""

    def __init__(self, task: Task, *, seed: int, split: str, length: int, max_len: int = 0):
        source, self.transform = task.window_view()
        self.seed, self.split, self.length, self.max_len = int(seed), str(split), int(length), int(max_len)
        self.examples = VirtualDataset(source, seed=seed, split=split, length=length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Example:
        ex = self.examples[i]
        if self.max_len and len(ex) > self.max_len:
            ex = Example(ex.tokens[: self.max_len], ex.loss_mask[: self.max_len], ex.meta)
        return self.transform(ex, seed=self.seed, split=self.split, index=int(i))


class Collator:
    """Stack examples into ``input_ids``, ``attention_mask`` and unshifted ``labels``.

    ``max_len`` > 0 truncates longer examples; rows are right-padded to the longest row
    with the vocabulary's pad id (0 when it has none; padded positions are masked out of
    attention and loss either way).
    """

    def __init__(
        self, pad_id: int | None, max_len: int = 0, *, positions: int | None = None, numpy_in_workers: bool = False
    ):
        self.pad_id = 0 if pad_id is None else int(pad_id)
        self.max_len = int(max_len)
        # inside a DataLoader worker, return compact numpy arrays (cheap to send; the trainer
        # turns them into tensors with pptrain_core.training.order.to_torch)
        self.numpy_in_workers = bool(numpy_in_workers)
        # the model's positions: a longer row is refused in one sentence, not an index error deep in the model
        self.positions = positions

    def __call__(self, examples: Sequence[Example]) -> dict[str, Any]:
        import torch

        rows = [
            (e.tokens[: self.max_len], e.loss_mask[: self.max_len]) if self.max_len else (e.tokens, e.loss_mask)
            for e in examples
        ]
        width = max(len(t) for t, _ in rows)
        if self.positions is not None and width > self.positions:
            from pptrain_core.errors import ConfigError

            raise ConfigError(
                "$.run.seq_len",
                f"an example of {width} tokens is longer than the model's {self.positions} positions; "
                f"cut examples with run.seq_len: {self.positions} or pack them with run.collation: pack",
            )
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        attn = np.zeros((len(rows), width), dtype=np.int64)
        labels = np.full((len(rows), width), -100, dtype=np.int64)
        for b, (t, m) in enumerate(rows):
            n = len(t)
            ids[b, :n] = t
            attn[b, :n] = 1
            labels[b, :n] = np.where(m.astype(bool), t, -100)
        if self.numpy_in_workers and torch.utils.data.get_worker_info() is not None:
            from pptrain_core.training.order import compact

            return compact({"input_ids": ids, "attention_mask": attn, "labels": labels})
        return {
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(attn),
            "labels": torch.from_numpy(labels),
        }
