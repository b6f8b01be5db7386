"""The NCA generator itself: rule weights, random draws, batched rollouts, patch tokens, gzip.

Written from the description of the official code (``utils/nca.py``,
``utils/tokenizers.py`` at ``bdd1c71``), never copied.

Randomness is drawn with numpy: a rule candidate from a fixed-size block of raw 64-bit
words of its slot's stream (every value by inverse CDF, so the block size is constant), an
example's simulation from its own stream; a rule or a simulation is therefore the same
whether it is computed alone or in a batch; the
rollout itself is a batched torch computation made only of gathers, element-wise ops
and fixed-size reductions, so batching does not change a single bit of the result.
"""

from __future__ import annotations

import functools
import gzip
import math
from typing import NamedTuple

import numpy as np
import torch

#: Flax's ``variance_scaling(..., "truncated_normal")`` divides the standard deviation by
#: the std of a unit normal truncated to [-2, 2], so that the *truncated* draw has variance
#: exactly ``scale / fan_in``. (JAX: ``jax.nn.initializers.variance_scaling``.)
TRUNCATED_STD = 0.87962566103423978

HIDDEN = 16
PERCEPTION = 4


# --------------------------------------------------------------------------- rule weights


class RuleWeights(NamedTuple):
    """One rule: ``w1[dy, dx, state, c]`` (3x3 conv), ``w2[c, h]`` (1x1), ``w3[h, state]`` (1x1).

    All biases are zero (Flax's default), so they are not stored.
    """

    w1: np.ndarray
    w2: np.ndarray
    w3: np.ndarray


#: ``Phi(-2)`` and ``Phi(2)``: a uniform mapped into ``[Phi(-2), Phi(2))`` and through the
#: normal quantile function is a standard normal truncated to [-2, 2] (inverse-CDF sampling).
PHI_LOW = 0.5 * math.erfc(2.0 / math.sqrt(2.0))
PHI_HIGH = 1.0 - PHI_LOW


def _unit_doubles(words: np.ndarray) -> np.ndarray:
    """Raw 64-bit words to doubles in [0, 1): the top 53 bits times 2^-53 (as numpy's ``random``)."""
    return (words >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _open_doubles(words: np.ndarray) -> np.ndarray:
    """Raw 64-bit words to doubles strictly inside (0, 1): ``(top 52 bits + 1/2) * 2^-52``."""
    return ((words >> np.uint64(12)).astype(np.float64) + 0.5) * 2.0**-52


def _ndtri(p: np.ndarray) -> np.ndarray:
    """The standard normal quantile function (float64)."""
    return torch.special.ndtri(torch.from_numpy(np.ascontiguousarray(p, dtype=np.float64))).numpy()


def truncated_normal_words(words: np.ndarray) -> np.ndarray:
    """Standard normals truncated to [-2, 2], one per raw word, by inverse CDF (float64)."""
    z = _ndtri(PHI_LOW + _unit_doubles(words) * (PHI_HIGH - PHI_LOW))
    return np.clip(z, -2.0, 2.0, out=z)  # guards the last ulp of the quantile function only


def rule_words(num_states: int) -> int:
    """Raw words of one rule: one per weight (3x3 kernel, then 4->16, then 16->states)."""
    return 9 * num_states * PERCEPTION + PERCEPTION * HIDDEN + HIDDEN * num_states


def rules_from_words(words: np.ndarray, num_states: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(K, rule_words)`` raw words to stacked weights ``w1 (K,3,3,S,4)``, ``w2 (K,4,16)``, ``w3 (K,16,S)``.

    Flax ``lecun_normal`` with fan-ins 9*states, 4 and 16: a truncated normal divided by
    the std of the truncated unit normal, times ``1 / sqrt(fan_in)``.
    """
    k = words.shape[0]
    s = num_states
    n1, n2 = 9 * s * PERCEPTION, PERCEPTION * HIDDEN
    z = truncated_normal_words(words) / TRUNCATED_STD
    w1 = (z[:, :n1] * np.sqrt(1.0 / (9 * s))).reshape(k, 3, 3, s, PERCEPTION)
    w2 = (z[:, n1 : n1 + n2] * np.sqrt(1.0 / PERCEPTION)).reshape(k, PERCEPTION, HIDDEN)
    w3 = (z[:, n1 + n2 :] * np.sqrt(1.0 / HIDDEN)).reshape(k, HIDDEN, s)
    return w1.astype(np.float32), w2.astype(np.float32), w3.astype(np.float32)


def sample_rule(rng: np.random.Generator, num_states: int) -> RuleWeights:
    """Fresh untrained network weights (Flax ``lecun_normal``) from ``rng``'s next raw words."""
    words = rng.bit_generator.random_raw(rule_words(num_states)).reshape(1, -1)
    w1, w2, w3 = rules_from_words(words, num_states)
    return RuleWeights(w1[0], w2[0], w3[0])


def rule_tables(rules: list[RuleWeights], device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-rule lookup tables for the batched step (see :func:`stacked_tables`)."""
    w1 = np.stack([r.w1 for r in rules])
    w2 = np.stack([r.w2 for r in rules])
    w3 = np.stack([r.w3 for r in rules])
    return stacked_tables(w1, w2, w3, device)


def stacked_tables(
    w1: np.ndarray, w2: np.ndarray, w3: np.ndarray, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lookup tables for stacked weights ``w1 (B,3,3,S,4)``, ``w2 (B,4,16)``, ``w3 (B,16,S)``.

    The input is one-hot and the first two layers are linear, so the pre-ReLU hidden
    vector of a cell is ``sum over the 9 neighbours of (w1[dy, dx, s_neighbour] @ w2)``.
    Returns ``table (B, 9*states, 16)`` and ``w3 (B, 16, states)``.
    """
    b, _, _, s, _ = w1.shape
    t1 = torch.from_numpy(np.ascontiguousarray(w1, dtype=np.float32).reshape(b, 9 * s, PERCEPTION))
    t2 = torch.from_numpy(np.ascontiguousarray(w2, dtype=np.float32))
    # fixed-size reduction over the 4 perception channels, element-wise per rule
    table = (t1.unsqueeze(-1) * t2.unsqueeze(1)).sum(dim=2)  # B, 9S, 16
    return table.to(device), torch.from_numpy(np.ascontiguousarray(w3, dtype=np.float32)).to(device)


# --------------------------------------------------------------------------- simulation draws


class SimDraws(NamedTuple):
    """The random numbers of one simulation: initial grid and one uniform per cell and step."""

    init: np.ndarray  # (H, W) int64 initial states
    uniforms: np.ndarray | None  # (steps, H*W) float32 in (0, 1]; None when temperature is 0


def draw_simulation(
    rng: np.random.Generator, *, grid_size: int, num_states: int, steps: int, stochastic: bool
) -> SimDraws:
    """One N(0,1) logit vector, cells i.i.d. from its softmax, then one uniform per cell per step."""
    logits = rng.standard_normal(num_states)
    p = np.exp(logits - logits.max())
    cdf = np.cumsum(p / p.sum())
    u = rng.random(grid_size * grid_size)
    init = np.minimum(np.searchsorted(cdf, u, side="right"), num_states - 1).reshape(grid_size, grid_size)
    noise = None
    if stochastic:
        noise = np.float32(1.0) - rng.random((steps, grid_size * grid_size), dtype=np.float32)  # (0, 1]
    return SimDraws(init.astype(np.int64), noise)


def simulation_words(*, grid_size: int, num_states: int, steps: int, stochastic: bool) -> int:
    """Raw words of one probe simulation: logits, initial cells, then two uniforms per word."""
    n = grid_size * grid_size
    return num_states + n + ((steps * n + 1) // 2 if stochastic else 0)


def simulations_from_words(
    words: np.ndarray, *, grid_size: int, num_states: int, steps: int, stochastic: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(K, simulation_words)`` raw words to ``init (K, H, W)`` int64 and ``noise (K, steps, HW)``.

    The same distribution as :func:`draw_simulation`: one N(0,1) logit vector (inverse
    CDF of an open uniform), cells i.i.d. from its softmax (inverse CDF, ``side="right"``),
    and float32 uniforms in (0, 1] (24 bits each, two per word; ``None`` at temperature 0).
    """
    k = words.shape[0]
    s, n = num_states, grid_size * grid_size
    logits = _ndtri(_open_doubles(words[:, :s]))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    u = _unit_doubles(words[:, s : s + n])
    # searchsorted(cdf, u, side="right") per row: how many cdf entries are <= u
    init = torch.searchsorted(torch.from_numpy(cdf), torch.from_numpy(u), right=True).clamp_max_(s - 1)
    init = init.numpy().reshape(k, grid_size, grid_size)
    noise = None
    if stochastic:
        w = words[:, s + n :]
        halves = np.stack([w >> np.uint64(40), (w >> np.uint64(8)) & np.uint64(0xFFFFFF)], axis=-1)
        ints = halves.reshape(k, -1)[:, : steps * n].astype(np.float32)
        noise = (np.float32(1.0) - ints * np.float32(2.0**-24)).reshape(k, steps, n)  # (0, 1], exact
    return init.astype(np.int64), noise


# --------------------------------------------------------------------------- rollout


#: Scaled logits below ``max - 60`` are raised to ``max - 60`` before ``exp``: a state that
#: unlikely (p < e^-60 ~ 1e-26) still cannot be drawn, since uniforms are at least 2^-24,
#: and the exponential never hits float32 denormals (which are ~10x slower on CPU).
LOGIT_FLOOR = -60.0


def sample_next(logits: torch.Tensor, u: torch.Tensor | None, temperature: float) -> torch.Tensor:
    """A categorical sample per cell from ``softmax(logits / temperature)``, by inverse CDF.

    ``logits`` is ``(B, S, HW)``; ``u`` holds one uniform in (0, 1] per cell, ``(B, HW)``.
    The sample is the first state whose cumulative weight reaches ``u * total``, so a state
    of probability 0 is never drawn. Temperature 0 (or ``u is None``) is argmax (first
    maximum on ties), with no division. The official code draws with
    ``jax.random.categorical`` (Gumbel-max): the same distribution, one uniform per state.
    """
    if temperature <= 0 or u is None:
        return logits.argmax(dim=1)
    b, states, n = logits.shape
    top = logits.amax(dim=1, keepdim=True)
    # A cell whose other states all have scaled logits at or below the floor samples its
    # (unique) maximum for every uniform: their weights are e^-60 each, the maximum's is
    # exactly 1, so the cumulative weight stays below u (>= 2^-24) before the maximum and
    # is 1.0 from it on. Only the other cells (near-ties; few at small temperatures) go
    # through the inverse CDF. The test below over-approximates "some other scaled logit is
    # above the floor" by 1% of the floor (well above float32 rounding for |logit| < 256).
    lo, hi = torch.aminmax(top)
    if not (float(hi) < 256.0 and float(lo) > -256.0):
        return _inverse_cdf(logits.transpose(1, 2).reshape(b * n, states), u.reshape(b * n), temperature).view(b, n)
    close = torch.empty_like(logits)
    torch.gt(logits, top - (-LOGIT_FLOOR * temperature * 1.01), out=close)  # 1.0 / 0.0
    # row 0: how many states are close to the maximum; row 1: the sum of their indices
    weights = _count_weights(states, logits.device)
    stats = torch.matmul(weights, close)  # B, 2, HW (small integers, exact)
    best = stats[:, 1].to(torch.int64)  # the index of the maximum where it is the only close state
    near = stats[:, 0] > 1.0
    cells = near.nonzero()
    if cells.shape[0]:
        bi, ci = cells[:, 0], cells[:, 1]
        best[bi, ci] = _inverse_cdf(logits[bi, :, ci], u[bi, ci], temperature)
    return best


@functools.cache
def _count_weights(states: int, device: torch.device) -> torch.Tensor:
    return torch.stack([torch.ones(states), torch.arange(states, dtype=torch.float32)]).to(device)


def _inverse_cdf(logits: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
    """The categorical sample of :func:`sample_next` for ``(K, S)`` logits and ``(K,)`` uniforms."""
    top = logits.amax(dim=1, keepdim=True)
    weight = (logits - top).div_(temperature).clamp_min_(LOGIT_FLOOR).exp_()
    cum = weight.cumsum_(dim=1)
    threshold = cum[:, -1] * u
    return (cum[:, :-1] < threshold.unsqueeze(1)).sum(dim=1)


def rollout(
    table: torch.Tensor,
    w3: torch.Tensor,
    init: np.ndarray,
    noise: np.ndarray | None,
    *,
    num_states: int,
    burn_in: int,
    frames: int,
    identity_bias: float,
    temperature: float,
) -> np.ndarray:
    """Simulate B rules (one simulation each) at once; returns frames ``(B, frames, H, W)``.

    ``init`` is ``(B, H, W)``; ``noise`` is ``(B, T, H*W)`` with ``T >= burn_in + frames - 1``
    uniforms in (0, 1] (``None`` at temperature 0). Frame ``t`` is the state *before* step
    ``burn_in + t`` (the official 'video' sampling); ``burn_in + frames - 1`` steps are
    simulated. Next state per cell: a categorical sample from
    ``(logits + identity_bias * onehot) / temperature`` (argmax at 0).
    """
    device = table.device
    b, h, w = init.shape
    s = num_states
    n = h * w
    steps = burn_in + frames - 1
    stochastic = temperature > 0
    u_steps = None
    if stochastic and steps:
        u_steps = torch.from_numpy(noise[:, :steps]).transpose(0, 1).contiguous().to(device)  # T,B,HW
    flat = torch.from_numpy(np.ascontiguousarray(init).reshape(b, n)).to(device)  # B,HW
    flat_table = table.reshape(b * 9 * s, HIDDEN)
    w3t = w3.transpose(1, 2).contiguous()  # B,S,16
    # toroidal 3x3 neighbourhood of each cell (row-major, (dy, dx) = (0, 0) first), and the
    # table row offset of each (simulation, cell, neighbour): rule * 9S + (3 dy + dx) * S
    r, q = torch.arange(h).view(h, 1, 1, 1), torch.arange(w).view(1, w, 1, 1)
    dy, dx = torch.arange(3).view(1, 1, 3, 1), torch.arange(3).view(1, 1, 1, 3)
    neighbours = (((r + dy - 1) % h) * w + (q + dx - 1) % w).reshape(1, n * 9).to(device)
    rule_base = torch.arange(b, device=device, dtype=torch.int32).view(b, 1) * (9 * s)
    pos_base = (torch.arange(9, device=device, dtype=torch.int32) * s).repeat(n).view(1, n * 9)
    base = rule_base + pos_base  # B, 9HW
    neighbours = neighbours.expand(b, n * 9)
    out = torch.empty((frames, b, n), dtype=torch.int64, device=device)
    for t in range(steps + 1):
        if t >= burn_in:
            out[t - burn_in] = flat
        if t == steps:
            break
        # table row of each neighbour, as int32 (a gather from the grid, plus the offsets)
        idx = torch.gather(flat.to(torch.int32), 1, neighbours).add_(base)
        hidden = torch.nn.functional.embedding_bag(idx.view(b * n, 9), flat_table, mode="sum").clamp_min_(0.0)
        logits = torch.bmm(w3t, hidden.view(b, n, HIDDEN).transpose(1, 2))  # B,S,HW
        if identity_bias:
            logits = logits + identity_bias * torch.nn.functional.one_hot(flat, s).transpose(1, 2).to(logits.dtype)
        flat = sample_next(logits, None if u_steps is None else u_steps[t], temperature)
    return out.permute(1, 0, 2).reshape(b, frames, h, w).cpu().numpy()


# --------------------------------------------------------------------------- tokens


def patch_powers(num_states: int, patch_size: int) -> np.ndarray:
    """``states ** (a * patch + b)`` for cell ``(a, b)`` of a patch (row-major, little end first)."""
    return num_states ** np.arange(patch_size * patch_size, dtype=np.int64).reshape(patch_size, patch_size)


def patch_ids(frames: np.ndarray, num_states: int, patch_size: int) -> np.ndarray:
    """``(..., H, W)`` cells to ``(..., patches)`` int32 ids, patches in row-major order."""
    *lead, h, w = frames.shape
    p = patch_size
    cells = frames.astype(np.int32, copy=False)
    powers = patch_powers(num_states, p)
    ids = np.zeros((*lead, h // p, w // p), dtype=np.int32)  # ids < MAX_PATCH_VOCAB = 2^24
    for a in range(p):
        for b in range(p):
            ids += cells[..., a::p, b::p] * np.int32(powers[a, b])
    return ids.reshape(*lead, (h // p) * (w // p))


def decode_patches(ids: np.ndarray, num_states: int, patch_size: int, grid_size: int) -> np.ndarray:
    """Inverse of :func:`patch_ids` for one frame: ``(patches,)`` ids to an ``(H, W)`` grid."""
    p = patch_size
    n = grid_size // p
    digits = (np.asarray(ids, dtype=np.int64)[:, None] // num_states ** np.arange(p * p)) % num_states
    return digits.reshape(n, n, p, p).transpose(0, 2, 1, 3).reshape(grid_size, grid_size)


def frame_tokens(frames: np.ndarray, num_states: int, patch_size: int) -> np.ndarray:
    """``(B, F, H, W)`` to ``(B, F * (patches + 2))``: each frame ``[start, patches..., end]``."""
    ids = patch_ids(frames, num_states, patch_size)  # B,F,P
    start = num_states ** (patch_size * patch_size)
    b, f, _ = ids.shape
    seq = np.concatenate([np.full((b, f, 1), start), ids, np.full((b, f, 1), start + 1)], axis=-1)
    return seq.reshape(b, -1)


# --------------------------------------------------------------------------- gzip probe


def gzip_ratio(ids: np.ndarray) -> float:
    """Compressed / raw size of the patch ids as little-endian int32 bytes, gzip level 9."""
    raw = np.ascontiguousarray(ids, dtype="<i4").tobytes()
    return len(gzip.compress(raw, compresslevel=9, mtime=0)) / len(raw)


def in_band(ratio: float, lower: float, upper: float) -> bool:
    """The official filter: strictly inside ``(lower, upper)``."""
    return lower < ratio < upper
