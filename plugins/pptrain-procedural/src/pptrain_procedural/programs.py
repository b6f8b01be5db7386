"""The programs, vectorised over a block of examples (written from the official code's behaviour).

Each function takes a numpy ``Generator``, the number of examples ``b``, the length
``n`` and the vocabulary size ``v``, and returns ``(tokens, mask, extra)``: two
``(b, L)`` arrays (every example of one program has the same length ``L``; shorter
outputs are padded as the official code pads them) and a dict of per-example arrays for
``Example.meta``.

Ids: symbols ``1..v-1``, separator ``v``, pad ``v+1``, and ``0`` = the stack's pop.

Mask (pptrain's convention: ``mask[t] = 1`` means token ``t`` is predicted from
``tokens[:t]``): the official code trains the positions from the (last) separator onward
whose *target* is an output token and not a pad, which is exactly ``mask = 1`` on the
output tokens themselves. There is no end token: the official sequences have none, and a
pad target is never trained.
"""

from __future__ import annotations

import numpy as np

Result = tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]

#: ECA rule 110's successor for each neighbourhood (left, centre, right) read as a 3-bit number.
RULE110 = np.array([(110 >> i) & 1 for i in range(8)], dtype=np.int64)


def _symbols(rng: np.random.Generator, b: int, n: int, v: int) -> np.ndarray:
    return rng.integers(1, v, size=(b, n), dtype=np.int64)


def _col(b: int, value: int) -> np.ndarray:
    return np.full((b, 1), value, dtype=np.int64)


def _assemble(parts: list[np.ndarray], out_width: int, out_valid: np.ndarray | None = None) -> tuple:
    """Concatenate the parts; the last ``out_width`` columns are the output, valid where ``out_valid``."""
    tokens = np.concatenate(parts, axis=1)
    b, total = tokens.shape
    mask = np.zeros((b, total), dtype=np.int8)
    if out_valid is None:
        mask[:, total - out_width :] = 1
    else:
        mask[:, total - out_width :] = out_valid
    return tokens, mask


def _first_occurrence(x: np.ndarray) -> np.ndarray:
    """``first[r, i]`` is True where ``x[r, i]`` does not occur in ``x[r, :i]``."""
    b, n = x.shape
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, axis=1)
    new = np.ones((b, n), dtype=bool)
    new[:, 1:] = xs[:, 1:] != xs[:, :-1]
    first = np.empty((b, n), dtype=bool)
    np.put_along_axis(first, order, new, axis=1)
    return first


def _compact(x: np.ndarray, keep: np.ndarray, width: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """The kept entries of each row, in order, left-aligned and padded to ``width``."""
    b, n = x.shape
    order = np.argsort(~keep, axis=1, kind="stable")
    moved = np.take_along_axis(x, order, axis=1)
    count = keep.sum(axis=1)
    valid = np.arange(width)[None, :] < count[:, None]
    out = np.full((b, width), pad, dtype=np.int64)
    w = min(width, n)
    out[:, :w] = moved[:, :w]
    out[~valid] = pad
    return out, valid


# --------------------------------------------------------------------------- the official seven


def identity(rng: np.random.Generator, b: int, n: int, v: int) -> Result:
    """``x SEP x``: 2n+1 tokens, loss on the second x."""
    x = _symbols(rng, b, n, v)
    return (*_assemble([x, _col(b, v), x], n), {})


def reverse(rng: np.random.Generator, b: int, n: int, v: int) -> Result:
    """``x SEP reversed(x)``: 2n+1 tokens."""
    x = _symbols(rng, b, n, v)
    return (*_assemble([x, _col(b, v), x[:, ::-1]], n), {})


def sort(rng: np.random.Generator, b: int, n: int, v: int) -> Result:
    """``x SEP sorted(x)`` (ascending): 2n+1 tokens."""
    x = _symbols(rng, b, n, v)
    return (*_assemble([x, _col(b, v), np.sort(x, axis=1)], n), {})


def set_(rng: np.random.Generator, b: int, n: int, v: int) -> Result:
    """``x SEP unique(x)`` in first-occurrence order, padded to 2n+1 tokens."""
    x = _symbols(rng, b, n, v)
    out, valid = _compact(x, _first_occurrence(x), n, v + 1)
    return (*_assemble([x, _col(b, v), out], n, valid), {})


def union(rng: np.random.Generator, b: int, n: int, v: int) -> Result:
    """``a SEP b SEP unique(a+b)`` with halves of n//2, the union padded to n: 2(n//2)+2+n tokens."""
    h = n // 2
    a = _symbols(rng, b, h, v)
    c = _symbols(rng, b, h, v)
    both = np.concatenate([a, c], axis=1)
    out, valid = _compact(both, _first_occurrence(both), n, v + 1)
    return (*_assemble([a, _col(b, v), c, _col(b, v), out], n, valid), {})


def delete(rng: np.random.Generator, b: int, n: int, v: int) -> Result:
    """``x SEP q SEP x-without-the-first-q``, padded to n: 2n+3 tokens. q need not occur in x."""
    x = _symbols(rng, b, n, v)
    q = rng.integers(1, v, size=(b, 1), dtype=np.int64)
    hit = x == q
    present = hit.any(axis=1)
    first = hit.argmax(axis=1)
    keep = np.ones((b, n), dtype=bool)
    rows = np.nonzero(present)[0]
    keep[rows, first[rows]] = False
    out, valid = _compact(x, keep, n, v + 1)
    sep = _col(b, v)
    return (*_assemble([x, sep, q, sep, out], n, valid), {"query_present": present})


def stack(rng: np.random.Generator, b: int, n: int, v: int) -> Result:
    """``ops SEP contents-top-to-bottom``, padded to 2n tokens; loss on the contents.

    ``n`` operations; a push writes a symbol not currently on the stack (uniform over the
    free ones), a pop writes 0. Schedule, per step ``t``: on the last step pop if more
    than one element is on the stack; else push while the stack holds at most one
    element; else push with probability 0.75 while ``t < floor(2n/3)`` and 0.25 after
    (pop 0.75); a push with no free symbol pops instead. If the stack ends empty a free
    symbol is put on it (without an operation).
    """
    pad = v + 1
    m = v - 1  # symbols 1..v-1
    rows = np.arange(b)
    contents = np.zeros((b, n + 1), dtype=np.int64)  # bottom .. top
    size = np.zeros(b, dtype=np.int64)
    # perm[r] is a permutation of the symbols whose first size[r] entries are exactly the
    # symbols on row r's stack; where[r, s] is the index of symbol s in perm[r]. A uniform
    # free symbol is then perm[r, k] for k uniform in [size, m): O(1) per row and step.
    perm = np.tile(np.arange(1, v, dtype=np.int64), (b, 1))
    where = np.tile(np.arange(-1, m, dtype=np.int64), (b, 1))  # where[:, s] = s - 1
    ops = np.zeros((b, n), dtype=np.int64)
    u = rng.random((b, n))
    pick = rng.random((b, n + 1))
    cut = (2 * n) // 3

    def swap(i: np.ndarray, j: np.ndarray) -> None:
        si, sj = perm[rows, i], perm[rows, j]
        perm[rows, i], perm[rows, j] = sj, si
        where[rows, si], where[rows, sj] = j, i

    def push(active: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """Push a uniform free symbol on the rows where ``active``; returns the symbols (0 elsewhere)."""
        k = size + np.minimum((draws * (m - size)).astype(np.int64), m - 1 - size)
        k = np.where(active, k, size)  # inactive rows swap an entry with itself
        k = np.minimum(k, m - 1)
        s0 = np.minimum(size, m - 1)
        swap(s0, k)
        token = perm[rows, s0]
        contents[rows, size] = np.where(active, token, contents[rows, size])
        size[:] += active
        return np.where(active, token, 0)

    for t in range(n):
        if t == n - 1:
            want_push = size <= 1
        elif t < cut:
            want_push = (size <= 1) | (u[:, t] < 0.75)
        else:
            want_push = (size <= 1) | (u[:, t] >= 0.75)
        want_push &= size < m  # no free symbol: pop instead
        pops = ~want_push
        # pop: move the top symbol to the end of the stacked prefix of perm, shrink
        top = contents[rows, np.maximum(size - 1, 0)]
        last = np.maximum(size - 1, 0)
        at = np.where(pops, where[rows, top], last)
        swap(at, last)
        size[:] -= pops
        ops[:, t] = push(want_push, pick[:, t])  # 0 (pop) on the popping rows
    empty = size == 0
    if empty.any():
        push(empty, pick[:, n])
    width = n - 1
    top_first = np.full((b, width), pad, dtype=np.int64)
    idx = size[:, None] - 1 - np.arange(width)[None, :]
    valid = idx >= 0
    top_first[valid] = np.take_along_axis(contents, np.maximum(idx, 0), axis=1)[valid]
    tokens, mask = _assemble([ops, _col(b, v), top_first], width, valid)
    return tokens, mask, {"stack_size": size.copy()}


# --------------------------------------------------------------------------- the project page's two


def eca_rule110(rng: np.random.Generator, b: int, n: int, v: int, steps: int = 1) -> Result:
    """``s0 SEP s1 [SEP s2 ...]``: a uniform random binary state of width n and its rule-110 successors.

    Cells are written as ids 1 (off) and 2 (on); the boundary is periodic; loss on every
    successor state (not on the separators). Layout ours: the project page gives none.
    """
    s = rng.integers(0, 2, size=(b, n), dtype=np.int64)
    parts = [s + 1]
    valid = []
    for _ in range(steps):
        s = RULE110[(np.roll(s, 1, axis=1) << 2) | (s << 1) | np.roll(s, -1, axis=1)]
        parts += [_col(b, v), s + 1]
        valid += [np.zeros((b, 1), dtype=bool), np.ones((b, n), dtype=bool)]
    width = steps * (n + 1) - 1
    return (*_assemble(parts, width, np.concatenate(valid, axis=1)[:, 1:]), {})


def ww(rng: np.random.Generator, b: int, n: int, v: int) -> Result:
    """``w w``: a uniform string of n symbols and its copy, no separator; loss on every token but the first.

    Trained like the other formal languages (k-Dyck): a language-model loss on the whole
    string. Layout ours: the project page gives none.
    """
    w = _symbols(rng, b, n, v)
    tokens = np.concatenate([w, w], axis=1)
    mask = np.ones(tokens.shape, dtype=np.int8)
    mask[:, 0] = 0
    return tokens, mask, {}


GENERATORS = {
    "identity": identity,
    "reverse": reverse,
    "sort": sort,
    "set": set_,
    "union": union,
    "delete": delete,
    "stack": stack,
    "eca_rule110": eca_rule110,
    "ww": ww,
}
