"""The ``procedural`` task: blocks of examples from the vectorised programs.

Example ``i`` is a pure function of ``(seed, split, i)``: the dataset asks for block
``i // block_size``, generated from that block's own seed (see
:func:`pptrain_core.data.example_at`).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Any

import numpy as np

from pptrain_core.data import Example, Task, TokenizerSpec, example_at
from pptrain_core.stats import summary
from pptrain_procedural.programs import GENERATORS
from pptrain_procedural.specs import ProceduralConfig


class ProceduralNames:
    """Display names: ``pop`` for 0, the integer for a symbol, ``|`` for SEP, ``<pad>``."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size

    def __call__(self, token_id: int) -> str:
        if token_id == 0:
            return "pop"
        if token_id == self.vocab_size:
            return "|"
        if token_id == self.vocab_size + 1:
            return "<pad>"
        return str(token_id)


def procedural_vocab(vocab_size: int = 100) -> TokenizerSpec:
    """``V+2`` ids: 0 = pop, 1..V-1 symbols, V = separator, V+1 = pad (the paper's layout)."""
    names = [ProceduralNames(vocab_size)(i) for i in range(vocab_size + 2)]
    return TokenizerSpec(size=vocab_size + 2, names=names, pad_id=vocab_size + 1, sep_id=vocab_size)


class ProceduralTask(Task):
    """Jiang et al.'s procedural programs (see :class:`ProceduralConfig` and docs/tasks/procedural.md)."""

    def __init__(self, config: ProceduralConfig):
        self.config = config
        self.vocab = procedural_vocab(config.vocab_size)
        self.block_size = config.block_size
        self._programs = config.programs()

    def _run(self, program: str, rng: np.random.Generator, count: int):
        c = self.config
        if program == "eca_rule110":
            return GENERATORS[program](rng, count, c.length, c.vocab_size, c.eca_steps)
        return GENERATORS[program](rng, count, c.length, c.vocab_size)

    def _examples(self, rng: np.random.Generator, count: int) -> list[Example]:
        programs = self._programs
        if len(programs) == 1:
            which = np.zeros(count, dtype=np.int64)
        else:
            which = rng.integers(0, len(programs), size=count)
        out: list[Example | None] = [None] * count
        for k, program in enumerate(programs):
            where = np.nonzero(which == k)[0]
            if not len(where):
                continue
            tokens, mask, extra = self._run(program, rng, len(where))
            extras = {key: value.tolist() for key, value in extra.items()}
            for j, pos in enumerate(where.tolist()):
                meta: dict[str, Any] = {"program": program}
                for key, values in extras.items():
                    meta[key] = values[j]
                out[pos] = Example(tokens[j], mask[j], meta)
        return out  # type: ignore[return-value]

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        return self._examples(rng, 1)[0]

    def generate_block(self, rng: np.random.Generator, *, seed: int, split: str, block: int) -> list[Example]:
        return self._examples(rng, self.block_size)

    # ------------------------------------------------------------------ statistics

    def stats(
        self, *, sample: int, seed: int = 0, split: str = "train", examples: list[Any] | None = None
    ) -> dict[str, Any]:
        """Length and answer-length distributions, the program mix, and program-specific shares.

        ``examples``: the ``sample`` examples of ``split``, when the caller already has them.
        """
        lengths: list[int] = []
        answers: list[int] = []
        mix: Counter[str] = Counter()
        per_program: dict[str, list[int]] = {}
        present: list[bool] = []
        stack_sizes: list[int] = []
        cache: OrderedDict[int, list[Example]] = OrderedDict()
        if examples is None:
            examples = [example_at(self, seed, split, i, cache=cache) for i in range(sample)]
        for ex in examples:
            program = ex.meta["program"]
            lengths.append(len(ex))
            answer = int(ex.loss_mask.sum())
            answers.append(answer)
            mix[program] += 1
            per_program.setdefault(program, []).append(answer)
            if "query_present" in ex.meta:
                present.append(bool(ex.meta["query_present"]))
            if "stack_size" in ex.meta:
                stack_sizes.append(int(ex.meta["stack_size"]))

        out: dict[str, Any] = {
            "program": self.config.program,
            "length_n": self.config.length,
            "sequence_length": summary(lengths),
            "answer_length": summary(answers),
            "program_mix": {p: mix[p] / sample for p in sorted(mix)},
            "answer_length_by_program": {p: summary(v) for p, v in sorted(per_program.items())},
        }
        if present:
            out["delete_query_present_share"] = sum(present) / len(present)
        if stack_sizes:
            out["stack_final_size"] = summary(stack_sizes)
        return out
