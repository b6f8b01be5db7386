"""Define a task family in a few lines, register it, and read examples from it.

This is what a plugin does, without packaging: a config class, a task class, a spec, and
a hook implementation. ``plugins/_template`` is the same thing as an installable package.
Run it: ``python examples/custom_task.py``.
"""

from __future__ import annotations

import attrs
import numpy as np

from pptrain_core import Preset, Provenance, Source, TaskSpec, hookimpl
from pptrain_core.config import at_least
from pptrain_core.data import SymbolicTask, TokenizerSpec, VirtualDataset
from pptrain_core.plugins import Candidate, Registry
from pptrain_core.tasks import resolve


@attrs.frozen
class SortConfig:
    length: int = attrs.field(default=8, validator=at_least(1))
    symbols: int = attrs.field(default=20, validator=at_least(2))


class SortTask(SymbolicTask):
    """``x SEP sorted(x) EOS``, loss on the sorted part and the end token."""

    def __init__(self, config: SortConfig):
        self.config = config
        n = config.symbols
        self.vocab = TokenizerSpec(size=n + 2, names=[str(i) for i in range(n)] + ["|", "."], sep_id=n, eos_id=n + 1)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.config.symbols, size=self.config.length)

    def solve(self, problem: np.ndarray) -> np.ndarray:
        return np.sort(problem)

    def serialize(self, problem, answer):
        return [*problem.tolist(), self.vocab.sep_id], [*answer.tolist(), self.vocab.eos_id]


SORT = TaskSpec(
    name="example_sort",
    summary="Sort a random string.",
    config_cls=SortConfig,
    factory=SortTask,  # a plugin would write "my_package.sort:SortTask" to stay light
    presets=(Preset("long", "32 symbols", {"length": 32}, {"length": Provenance("ours")}, Source(note="example")),),
)


class MyPlugin:
    @hookimpl
    def register_tasks(self, register):
        register(SORT)


def main() -> None:
    registry = Registry.load([Candidate(name="example", load=MyPlugin, distribution="example")], environ={})
    resolved = resolve("example_sort:long", {"symbols": 10}, registry=registry)
    print("resolved:", resolved.describe()["config"])
    data = VirtualDataset(resolved.build(), seed=0, split="train", length=1_000_000)
    for i in range(3):
        ex = data[i]
        print(f"#{i}", data.task.render(ex), "| loss on", int(ex.loss_mask.sum()), "tokens")
        sep = int(np.flatnonzero(ex.tokens == data.task.vocab.sep_id)[0])
        assert ex.tokens[sep + 1 : -1].tolist() == sorted(ex.tokens[:sep].tolist())


if __name__ == "__main__":
    main()
