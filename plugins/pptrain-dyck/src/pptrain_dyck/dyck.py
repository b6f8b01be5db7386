"""k-Dyck and k-Shuffle-Dyck generators (written from the papers' descriptions).

Every random number comes from the ``rng`` handed in, drawn up front with numpy (one
array of uniforms per decision kind, one array of bracket types); the walk itself is a
plain Python loop over ``length`` steps. Token ``t`` only ever reads the draws at index
``t``, so each token has fresh, independent randomness, which is all the reference
generators' distributions depend on (they call ``random`` lazily; we pre-draw).

Layout for both families: opens ``0..k-1``, closes ``k..2k-1`` (close of type ``i`` is
``k+i``), pad ``2k``. Loss on every token but the first (``loss_mask = [0, 1, ..., 1]``):
Jiang et al. train on all positions' next-token targets except the last input position,
which is the same set of predicted tokens.
"""

from __future__ import annotations

import attrs
import numpy as np

from pptrain_core.data import Example, Task, TokenizerSpec
from pptrain_dyck.dyck_specs import DyckConfig, ShuffleDyckConfig


@attrs.frozen
class BracketNames:
    """Display names of the bracket vocabulary, computed per id (a huge ``k`` costs no memory)."""

    k: int

    def __call__(self, token_id: int) -> str:
        if token_id < self.k:
            return f"({token_id}"
        return f"{token_id - self.k})" if token_id < 2 * self.k else "<pad>"


def bracket_vocab(k: int) -> TokenizerSpec:
    """``2k+1`` ids: ``(0 .. (k-1``, then ``0) .. k-1)``, then ``<pad>``.

    The names are a function of the id, so building the vocabulary is instant for any
    ``k``; a ``k`` too large for the model is refused by the trainer's memory check.
    """
    return TokenizerSpec(size=2 * k + 1, names=BracketNames(k), pad_id=2 * k)


def _mask(length: int) -> np.ndarray:
    mask = np.ones(length, dtype=np.int8)
    mask[0] = 0
    return mask


# --------------------------------------------------------------------------- k-Dyck


def jiang_dyck(rng: np.random.Generator, k: int, length: int, p_open: float) -> tuple[list[int], int]:
    """Jiang et al.'s k-Dyck walk; returns ``(tokens, deepest nesting)``.

    At each step, in order: an empty stack opens a uniform type; when the tokens left are
    no more than the open brackets, all of them are closed and the walk ends; otherwise
    open with probability ``p_open`` provided the stack stays closable (depth < left - 1);
    otherwise close the top.
    """
    u = rng.random(length).tolist()
    types = rng.integers(0, k, size=length).tolist()
    out = [0] * length
    stack: list[int] = []
    deepest = 0
    t = 0
    while t < length:
        depth = len(stack)
        left = length - t
        if depth == 0:
            b = types[t]
            stack.append(b)
            out[t] = b
            if deepest == 0:
                deepest = 1
        elif left <= depth:
            while stack and t < length:
                out[t] = stack.pop() + k
                t += 1
            break
        elif u[t] < p_open and depth < left - 1:
            b = types[t]
            stack.append(b)
            out[t] = b
            if depth + 1 > deepest:
                deepest = depth + 1
        else:
            out[t] = stack.pop() + k
        t += 1
    return out, deepest


def hu_dyck(
    rng: np.random.Generator,
    k: int,
    length: int,
    p_open: float,
    *,
    min_depth: int,
    max_depth: int,
    max_word_length: int,
) -> tuple[list[int], int, int]:
    """Hu et al.'s k-Dyck: independent words concatenated and cut at ``length``.

    Returns ``(tokens, deepest nesting, brackets left open by the cut)``.

    One word: ``min_depth`` opens of uniform types; then, while the word is shorter than
    ``max_word_length``: below ``max_depth`` and with probability ``p_open`` open a bracket
    (but close the top instead when only one token is left before ``max_word_length``),
    otherwise close the top and end the word if that emptied the stack. Whatever is still
    open when the cap is reached is closed. Stopping at ``length`` tokens is the same as
    Hu's generating past it and truncating, since later tokens never affect earlier ones.
    """
    u = rng.random(length).tolist()
    types = rng.integers(0, k, size=length).tolist()
    out: list[int] = []
    deepest = 0
    stack: list[int] = []
    while True:
        stack = []
        wlen = 0
        for _ in range(min_depth):
            if len(out) == length:
                return out, deepest, len(stack)
            b = types[len(out)]
            out.append(b)
            stack.append(b)
            wlen += 1
            if len(stack) > deepest:
                deepest = len(stack)
        while wlen < max_word_length:
            n = len(out)
            if n == length:
                return out, deepest, len(stack)
            if len(stack) < max_depth and u[n] < p_open and wlen < max_word_length - 1:
                b = types[n]
                out.append(b)
                stack.append(b)
                if len(stack) > deepest:
                    deepest = len(stack)
            else:
                out.append(stack.pop() + k)
                if not stack:
                    break
            wlen += 1
        while stack:
            if len(out) == length:
                return out, deepest, len(stack)
            out.append(stack.pop() + k)
        if len(out) == length:
            return out, deepest, 0


class DyckTask(Task):
    """k-Dyck sequences of exactly ``config.length`` tokens (see :class:`DyckConfig`)."""

    def __init__(self, config: DyckConfig):
        self.config = config
        self.vocab = bracket_vocab(config.k)

    def max_example_tokens(self) -> int:
        return self.config.length

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        c = self.config
        if c.variant == "jiang":
            tokens, deepest = jiang_dyck(rng, c.k, c.length, c.p_open)
            unclosed = 0
        else:
            tokens, deepest, unclosed = hu_dyck(
                rng,
                c.k,
                c.length,
                c.p_open,
                min_depth=c.resolved("min_depth"),
                max_depth=c.resolved("max_depth"),
                max_word_length=c.resolved("max_word_length"),
            )
        return Example(tokens, _mask(c.length), {"depth_max": deepest, "unclosed": unclosed})


# --------------------------------------------------------------------------- k-Shuffle-Dyck


def shuffle_dyck(
    rng: np.random.Generator, k: int, length: int, p_open: float, max_depth: int
) -> tuple[list[int], int, int]:
    """The k-Shuffle-Dyck walk; returns ``(tokens, deepest total depth, brackets left open)``.

    Depth is the number of open brackets over all types. At depth 0 open a uniform type;
    at ``max_depth`` or more close a uniformly chosen type that has an open bracket;
    otherwise open a uniform type with probability ``p_open``, else close as above.
    """
    u_open = rng.random(length).tolist()
    u_close = rng.random(length).tolist()
    types = rng.integers(0, k, size=length).tolist()
    out = [0] * length
    counts = [0] * k
    open_types: list[int] = []  # types with counts > 0, in any order
    where = [-1] * k  # position of a type in open_types
    depth = 0
    deepest = 0
    for t in range(length):
        if depth == 0 or (depth < max_depth and u_open[t] < p_open):
            b = types[t]
            if counts[b] == 0:
                where[b] = len(open_types)
                open_types.append(b)
            counts[b] += 1
            depth += 1
            if depth > deepest:
                deepest = depth
            out[t] = b
        else:
            m = len(open_types)
            i = int(u_close[t] * m)
            if i >= m:  # guard against rounding up; cannot happen for m < 2**52
                i = m - 1
            b = open_types[i]
            counts[b] -= 1
            depth -= 1
            if counts[b] == 0:  # swap-remove b from open_types
                last = open_types.pop()
                if last != b:
                    open_types[i] = last
                    where[last] = i
                where[b] = -1
            out[t] = b + k
    return out, deepest, depth


class ShuffleDyckTask(Task):
    """k-Shuffle-Dyck sequences of exactly ``config.length`` tokens (see :class:`ShuffleDyckConfig`)."""

    def __init__(self, config: ShuffleDyckConfig):
        self.config = config
        self.vocab = bracket_vocab(config.k)

    def max_example_tokens(self) -> int:
        return self.config.length

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        c = self.config
        tokens, deepest, unclosed = shuffle_dyck(rng, c.k, c.length, c.p_open, c.max_depth)
        return Example(tokens, _mask(c.length), {"depth_max": deepest, "unclosed": unclosed})
