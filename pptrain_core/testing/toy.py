"""A tiny copy task and plugin: the core's own test fixture and a minimal reference.

``x SEP x EOS`` over ``symbols`` symbols, with the loss on the copy and the end token.
Used by the core's tests and available to plugin authors who want a known-good task.
"""

from __future__ import annotations

import attrs
import numpy as np

from pptrain_core.config import at_least
from pptrain_core.data import SymbolicTask, TokenizerSpec
from pptrain_core.hookspecs import hookimpl
from pptrain_core.specs import Preset, Provenance, Source, TaskSpec


@attrs.frozen
class CopyConfig:
    length: int = attrs.field(default=5, validator=at_least(1))
    symbols: int = attrs.field(default=10, validator=at_least(2))


class CopyTask(SymbolicTask):
    """x SEP x EOS over ``symbols`` symbols; loss on the copy and EOS."""

    def __init__(self, config: CopyConfig):
        self.config = config
        n = config.symbols
        self.vocab = TokenizerSpec(
            size=n + 3,
            names=[f"s{i}" for i in range(n)] + ["<pad>", "<sep>", "<eos>"],
            pad_id=n,
            sep_id=n + 1,
            eos_id=n + 2,
        )

    def max_example_tokens(self) -> int:
        return 2 * self.config.length + 2

    def sample(self, rng: np.random.Generator):
        return rng.integers(0, self.config.symbols, size=self.config.length)

    def solve(self, problem):
        return problem.copy()

    def serialize(self, problem, answer):
        return list(problem) + [self.vocab.sep_id], list(answer) + [self.vocab.eos_id]


COPY_SPEC = TaskSpec(
    name="toy_copy",
    summary="Copy a random string (test fixture).",
    config_cls=CopyConfig,
    factory="pptrain_core.testing.toy:CopyTask",
    citation="none",
    presets=(
        Preset("tiny", "three symbols", {"length": 3}, {"length": Provenance("ours", "test")}, Source(paper="test")),
        Preset(
            "wide",
            "many symbols",
            {"symbols": 50, "length": 8},
            {"symbols": Provenance("verified"), "length": Provenance("approximate", "close")},
        ),
    ),
)


class ToyPlugin:
    @hookimpl
    def register_tasks(self, register):
        register(COPY_SPEC)
