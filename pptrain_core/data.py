"""Examples, vocabularies, seeding and the virtual dataset.

The rule of the house: example ``i`` of split ``s`` is a pure function of
``(seed, s, i)``. Nothing is materialised, memory does not grow with the dataset size,
and every DataLoader worker, rank or resumed run sees exactly the same example for the
same index.

Loss-mask convention (used by every family and by collation): ``loss_mask[t] == 1``
means the model is trained to *predict* ``tokens[t]`` from ``tokens[:t]``. Labels are
never pre-shifted; Hugging Face causal LMs shift them. ``loss_mask[0]`` is therefore
always 0: nothing precedes the first token.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

# --------------------------------------------------------------------------- vocabulary


@attrs.frozen
class TokenizerSpec:
    """A task vocabulary: its size, special ids, and a display name for every id.

    ``names`` is either a full sequence of ``size`` strings or a callable mapping an id to
    its name (for large vocabularies such as NCA's 10,002 patch ids). Special ids that a
    family does not use are ``None``.
    """

    size: int
    names: Sequence[str] | Callable[[int], str] = attrs.field(eq=False, repr=False)
    pad_id: int | None = None
    bos_id: int | None = None
    eos_id: int | None = None
    sep_id: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"vocabulary size must be positive, got {self.size}")
        if not callable(self.names) and len(self.names) != self.size:
            raise ValueError(f"{len(self.names)} display names for a vocabulary of {self.size} ids")
        for label, value in self.special_ids().items():
            if not 0 <= value < self.size:
                raise ValueError(f"{label} id {value} is outside the vocabulary of {self.size} ids")

    def special_ids(self) -> dict[str, int]:
        """The special ids that are set, by role (``pad``, ``bos``, ``eos``, ``sep``)."""
        ids = {"pad": self.pad_id, "bos": self.bos_id, "eos": self.eos_id, "sep": self.sep_id}
        return {k: v for k, v in ids.items() if v is not None}

    def name(self, token_id: int) -> str:
        """The display name of one id."""
        token_id = int(token_id)
        if not 0 <= token_id < self.size:
            raise ValueError(f"token id {token_id} is outside the vocabulary of {self.size} ids")
        return self.names(token_id) if callable(self.names) else self.names[token_id]

    def render(self, tokens: Sequence[int] | np.ndarray) -> str:
        """Space-separated display names, the way a human reads an example."""
        return " ".join(self.name(t) for t in tokens)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary: size, special ids and the first few names."""
        head = [self.name(i) for i in range(min(self.size, 12))]
        return {"size": self.size, "special_ids": self.special_ids(), "first_names": head}


@attrs.frozen
class NumberNames:
    """Display names ``prefix + str(id)``: a picklable ``names`` callable for large vocabularies."""

    prefix: str = ""

    def __call__(self, token_id: int) -> str:
        return f"{self.prefix}{token_id}"


# --------------------------------------------------------------------------- examples


@attrs.frozen(eq=False)
class Example:
    """One training sequence: token ids, which of them carry loss, and free-form metadata."""

    tokens: np.ndarray = attrs.field(converter=lambda a: np.asarray(a, dtype=np.int64))
    loss_mask: np.ndarray = attrs.field(converter=lambda a: np.asarray(a, dtype=np.int8))
    meta: dict[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.tokens.ndim != 1:
            raise ValueError("Example.tokens must be one-dimensional")
        if self.loss_mask.shape != self.tokens.shape:
            raise ValueError(f"Example.loss_mask has shape {self.loss_mask.shape}, tokens have {self.tokens.shape}")

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Example):
            return NotImplemented
        return (
            np.array_equal(self.tokens, other.tokens)
            and np.array_equal(self.loss_mask, other.loss_mask)
            and self.meta == other.meta
        )

    __hash__ = None  # type: ignore[assignment]

    def labels(self, ignore_index: int = -100) -> np.ndarray:
        """Unshifted labels for a Hugging Face causal LM: the token where it carries loss."""
        return np.where(self.loss_mask.astype(bool), self.tokens, ignore_index)


# --------------------------------------------------------------------------- seeding


def _key(part: str | int) -> int:
    if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
        if part < 0:
            raise ValueError(f"seed components must be non-negative, got {part}")
        return int(part)
    return zlib.crc32(str(part).encode("utf-8"))


def seed_sequence(seed: int, *path: str | int) -> np.random.SeedSequence:
    """The seed sequence for a named stream, e.g. ``seed_sequence(0, "train", 17)``.

    Strings are hashed with CRC-32 (stable across processes and Python versions, unlike
    ``hash``), integers are used as they are. Different paths give independent streams.
    """
    return np.random.SeedSequence(entropy=_key(seed), spawn_key=tuple(_key(p) for p in path))


def rng_for(seed: int, *path: str | int) -> np.random.Generator:
    """A fresh PCG64 generator for the stream ``(seed, *path)``."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, *path)))


# --------------------------------------------------------------------------- tasks


class Task:
    """Base class for a configured task family instance.

    Subclasses set ``config`` and ``vocab`` and implement :meth:`generate`. A family that
    is faster in blocks (vectorised numpy, batched rollouts) sets ``block_size > 1`` and
    implements :meth:`generate_block`; the dataset then asks for whole blocks, each from
    its own seed, so example ``i`` stays a pure function of ``(seed, split, i)``.

    A family with a latent structure shared across examples (a rule pool, a language's
    embedding matrix) derives it from ``(seed, split, ...)`` through :func:`rng_for`, never
    from global state.
    """

    config: Any
    vocab: TokenizerSpec
    block_size: int = 1

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        """Example ``index`` of ``split``; ``rng`` is already seeded for it."""
        raise NotImplementedError

    def generate_block(self, rng: np.random.Generator, *, seed: int, split: str, block: int) -> list[Example]:
        """Examples ``block*block_size .. (block+1)*block_size-1`` of ``split``."""
        raise NotImplementedError

    def render(self, example: Example) -> str:
        """A human-readable rendering; loss-carrying tokens are not marked here."""
        return self.vocab.render(example.tokens)

    def max_example_tokens(self) -> int | None:
        """The most tokens one example can have, when the family knows it without generating.

        Optional (``None``: unknown). The trainer checks it against the model's positions
        and the machine's memory before generating anything, so a setting such as
        ``length: 1e9`` is refused in one sentence instead of exhausting memory.
        """
        return None

    def window_view(self) -> tuple[Task, Any] | None:
        """Optional: ``(source, transform)`` for a task that is a function of what a training
        *window* holds rather than of whole examples.

        When examples are packed or cut to a window, the trainer then draws windows from
        ``source`` and passes each through ``transform(example, seed=, split=, index=)``.
        The shuffled control uses it to permute exactly the tokens the model sees (a cut
        example's visible prefix, or a packed window), so its multiset equals the arm it
        controls. ``None`` (the default): windows are made of this task's own examples.
        """
        return None


class SymbolicTask(Task):
    """A task that samples a problem, solves it, and serialises prompt and answer.

    The loss goes on the answer and the end token by default (``loss_on_prompt=False``),
    never on the prompt: the pptrain 0.3.0 mistake of training on the prompt is not
    repeated here.
    """

    loss_on_prompt: bool = False

    def sample(self, rng: np.random.Generator) -> Any:
        """Draw a problem instance."""
        raise NotImplementedError

    def solve(self, problem: Any) -> Any:
        """The correct answer for a problem instance."""
        raise NotImplementedError

    def serialize(self, problem: Any, answer: Any) -> tuple[Sequence[int], Sequence[int]]:
        """``(prompt_ids, answer_ids)``; the answer ids must end with the end token."""
        raise NotImplementedError

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        problem = self.sample(rng)
        answer = self.solve(problem)
        prompt, target = self.serialize(problem, answer)
        tokens = np.concatenate([np.asarray(prompt, dtype=np.int64), np.asarray(target, dtype=np.int64)])
        mask = np.zeros(len(tokens), dtype=np.int8)
        mask[len(prompt) :] = 1
        if self.loss_on_prompt:
            mask[1:] = 1
        mask[0] = 0
        return Example(tokens, mask, {})


# --------------------------------------------------------------------------- dataset


class VirtualDataset:
    """A map-style dataset whose example ``i`` is generated on demand.

    It holds only the task, the seed, the split name, the length, and at most
    ``cache_blocks`` generated blocks, so it pickles cheaply to DataLoader workers and its
    memory use does not depend on ``length``.
    """

    def __init__(self, task: Task, *, seed: int, split: str, length: int, cache_blocks: int = 2):
        if length < 0:
            raise ValueError(f"dataset length must be non-negative, got {length}")
        self.task = task
        self.seed = int(seed)
        self.split = str(split)
        self.length = int(length)
        self.cache_blocks = cache_blocks
        self._cache: OrderedDict[int, list[Example]] = OrderedDict()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Example:
        index = int(index)
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} examples")
        return example_at(self.task, self.seed, self.split, index, cache=self._cache, cache_blocks=self.cache_blocks)

    def __iter__(self):
        for i in range(self.length):
            yield self[i]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()  # never ship generated blocks to workers
        return state


def example_at(
    task: Task,
    seed: int,
    split: str,
    index: int,
    *,
    cache: OrderedDict[int, list[Example]] | None = None,
    cache_blocks: int = 2,
) -> Example:
    """Example ``index`` of ``split`` under ``seed``: the one definition every reader uses."""
    bs = int(getattr(task, "block_size", 1))
    if bs <= 1:
        return task.generate(rng_for(seed, split, "example", index), seed=seed, split=split, index=index)
    block, offset = divmod(index, bs)
    if cache is not None and block in cache:
        cache.move_to_end(block)
        return cache[block][offset]
    examples = task.generate_block(rng_for(seed, split, "block", block), seed=seed, split=split, block=block)
    if len(examples) != bs:
        raise RuntimeError(f"{type(task).__name__}.generate_block returned {len(examples)} examples, expected {bs}")
    if cache is not None:
        cache[block] = examples
        while len(cache) > cache_blocks:
            cache.popitem(last=False)
    return examples[offset]


def mean_length(task: Task, seed: int, split: str, n: int = 64) -> float:
    """Mean token count of the first ``n`` examples of a split (for budgets and packing strides)."""
    return sum(len(ex) for ex in VirtualDataset(task, seed=seed, split=split, length=n)) / n  # block cache
