"""The generator. Imported only when data is generated (numpy is fine here, torch if needed)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pptrain_core.data import Example, SymbolicTask, TokenizerSpec
from pptrain_core.stats import summary
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

    def stats(self, *, sample: int, seed: int, examples: list[Example]) -> dict[str, Any]:
        """Optional: the family's own numbers for ``pptrain describe TASK --stats``.

        ``examples`` are train examples ``0 .. sample-1`` under ``seed``, already generated
        by the core; measure them rather than generating again (docs/plugin-hooks.md).
        """
        answers = [int(ex.loss_mask.sum()) - 1 for ex in examples]  # the answer, without EOS
        return {"answer_length": summary(answers)}
