"""The generator. Imported only when data is generated (numpy is fine here, torch if needed)."""

from __future__ import annotations

import numpy as np

from pptrain_core.data import SymbolicTask, TokenizerSpec
from pptrain_template.specs import ReverseConfig


class ReverseTask(SymbolicTask):
    """``x SEP reverse(x) EOS``; the loss is on ``reverse(x) EOS`` (SymbolicTask's default)."""

    def __init__(self, config: ReverseConfig):
        self.config = config
        n = config.symbols
        self.vocab = TokenizerSpec(
            size=n + 3,
            names=[f"s{i}" for i in range(n)] + ["<pad>", "<sep>", "<eos>"],
            pad_id=n,
            sep_id=n + 1,
            eos_id=n + 2,
        )

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        length = int(rng.integers(self.config.min_length, self.config.max_length + 1))
        return rng.integers(0, self.config.symbols, size=length)

    def solve(self, problem: np.ndarray) -> np.ndarray:
        return problem[::-1]

    def serialize(self, problem: np.ndarray, answer: np.ndarray) -> tuple[list[int], list[int]]:
        return [*problem.tolist(), self.vocab.sep_id], [*answer.tolist(), self.vocab.eos_id]
