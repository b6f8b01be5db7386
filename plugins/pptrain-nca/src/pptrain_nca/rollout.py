"""The NCA generator itself: rule weights, random draws, batched rollouts, patch tokens, gzip.

Written from the description of the official code (``utils/nca.py``,
``utils/tokenizers.py`` at ``bdd1c71``), never copied.

Randomness is drawn with numpy from one stream per rule candidate or per simulation, so
a rule or a simulation is the same whether it is computed alone or in a batch; the
rollout itself is a batched torch computation made only of gathers, element-wise ops
and fixed-size reductions, so batching does not change a single bit of the result.
"""

from __future__ import annotations

import gzip
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


def truncated_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws truncated to [-2, 2] by rejection (resampling the outliers)."""
    z = rng.standard_normal(shape)
    flat = z.reshape(-1)
    bad = np.flatnonzero(np.abs(flat) > 2.0)  # ascending, as a boolean mask fills them
    while bad.size:
        flat[bad] = rng.standard_normal(bad.size)
        bad = bad[np.abs(flat[bad]) > 2.0]  # only redrawn entries can still be outside
    return z


def lecun_normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """Flax ``lecun_normal``: truncated normal rescaled to variance ``1 / fan_in``."""
    std = np.sqrt(1.0 / fan_in) / TRUNCATED_STD
    return (truncated_normal(rng, shape) * std).astype(np.float32)


def sample_rule(rng: np.random.Generator, num_states: int) -> RuleWeights:
    """Fresh untrained network weights: Flax ``lecun_normal`` with fan-ins 9*states, 4 and 16.

    One truncated-normal draw of all weights (3x3 kernel, then 4->16, then 16->states), each
    part scaled by its own ``1 / sqrt(fan_in)``.
    """
    n1, n2, n3 = 9 * num_states * PERCEPTION, PERCEPTION * HIDDEN, HIDDEN * num_states
    z = truncated_normal(rng, (n1 + n2 + n3,)) / TRUNCATED_STD
    w1 = (z[:n1] * np.sqrt(1.0 / (9 * num_states))).reshape(3, 3, num_states, PERCEPTION)
    w2 = (z[n1 : n1 + n2] * np.sqrt(1.0 / PERCEPTION)).reshape(PERCEPTION, HIDDEN)
    w3 = (z[n1 + n2 :] * np.sqrt(1.0 / HIDDEN)).reshape(HIDDEN, num_states)
    return RuleWeights(w1.astype(np.float32), w2.astype(np.float32), w3.astype(np.float32))


def rule_tables(rules: list[RuleWeights], device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-rule lookup tables for the batched step.

    The input is one-hot and the first two layers are linear, so the pre-ReLU hidden
    vector of a cell is ``sum over the 9 neighbours of (w1[dy, dx, s_neighbour] @ w2)``.
    Returns ``table (B, 9*states, 16)`` and ``w3 (B, 16, states)``.
    """
    w1 = np.stack([r.w1 for r in rules]).astype(np.float32)  # B,3,3,S,4
    w2 = np.stack([r.w2 for r in rules]).astype(np.float32)  # B,4,16
    w3 = np.stack([r.w3 for r in rules]).astype(np.float32)  # B,16,S
    b, _, _, s, _ = w1.shape
    t1 = torch.from_numpy(w1.reshape(b, 9 * s, PERCEPTION))
    t2 = torch.from_numpy(w2)
    # fixed-size reduction over the 4 perception channels, element-wise per rule
    table = (t1.unsqueeze(-1) * t2.unsqueeze(1)).sum(dim=2)  # B, 9S, 16
    return table.to(device), torch.from_numpy(w3).to(device)


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
    if not float(top.abs().max()) < 256.0:
        return _inverse_cdf(logits.transpose(1, 2).reshape(b * n, states), u.reshape(b * n), temperature).view(b, n)
    close = torch.empty_like(logits)
    torch.gt(logits, top - (-LOGIT_FLOOR * temperature * 1.01), out=close)  # 1.0 / 0.0
    # row 0: how many states are close to the maximum; row 1: the sum of their indices
    weights = torch.stack([torch.ones(states), torch.arange(states, dtype=torch.float32)]).to(logits.device)
    stats = torch.matmul(weights, close)  # B, 2, HW (small integers, exact)
    best = stats[:, 1].to(torch.int64)  # the index of the maximum where it is the only close state
    near = stats[:, 0] > 1.0
    cells = near.nonzero()
    if cells.shape[0]:
        bi, ci = cells[:, 0], cells[:, 1]
        best[bi, ci] = _inverse_cdf(logits[bi, :, ci], u[bi, ci], temperature)
    return best


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
    draws: list[SimDraws],
    *,
    num_states: int,
    burn_in: int,
    frames: int,
    identity_bias: float,
    temperature: float,
) -> np.ndarray:
    """Simulate B rules (one simulation each) at once; returns frames ``(B, frames, H, W)``.

    Frame ``t`` is the state *before* step ``burn_in + t`` (the official 'video' sampling);
    ``burn_in + frames - 1`` steps are simulated. Next state per cell: a categorical
    sample from ``(logits + identity_bias * onehot) / temperature`` (argmax at 0).
    """
    device = table.device
    b = len(draws)
    s = num_states
    h, w = draws[0].init.shape
    n = h * w
    steps = burn_in + frames - 1
    stochastic = temperature > 0
    noise = None
    if stochastic and steps:
        noise = torch.from_numpy(np.stack([d.uniforms[:steps] for d in draws], axis=1)).to(device)  # T,B,HW
    flat = torch.from_numpy(np.stack([d.init.reshape(n) for d in draws])).to(device)  # B,HW
    flat_table = table.reshape(b * 9 * s, HIDDEN)
    w3t = w3.transpose(1, 2).contiguous()  # B,S,16
    # the grid padded circularly by one cell (toroidal), then the 9 shifted views of it
    rows, cols = (torch.arange(h + 2) - 1) % h, (torch.arange(w + 2) - 1) % w
    padded = (rows.view(-1, 1) * w + cols.view(1, -1)).reshape(-1).to(device)
    rule_base = (torch.arange(b, device=device, dtype=torch.int32) * (9 * s)).view(b, 1)
    pos_base = (torch.arange(9, device=device, dtype=torch.int32) * s).view(1, 1, 1, 9)
    out = torch.empty((frames, b, n), dtype=torch.int64, device=device)
    for t in range(steps + 1):
        if t >= burn_in:
            out[t - burn_in] = flat
        if t == steps:
            break
        # table row of each neighbour: rule * 9S + (3 dy + dx) * S + state, as int32
        grid = (flat.to(torch.int32) + rule_base).index_select(1, padded).view(b, h + 2, w + 2)
        idx = torch.stack([grid[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], dim=-1)
        idx = (idx + pos_base).view(b, n, 9)
        hidden = torch.nn.functional.embedding_bag(idx.view(b * n, 9), flat_table, mode="sum").clamp_min_(0.0)
        logits = torch.bmm(w3t, hidden.view(b, n, HIDDEN).transpose(1, 2))  # B,S,HW
        if identity_bias:
            logits = logits + identity_bias * torch.nn.functional.one_hot(flat, s).transpose(1, 2).to(logits.dtype)
        flat = sample_next(logits, None if noise is None else noise[t], temperature)
    return out.permute(1, 0, 2).reshape(b, frames, h, w).cpu().numpy()


# --------------------------------------------------------------------------- tokens


def patch_powers(num_states: int, patch_size: int) -> np.ndarray:
    """``states ** (a * patch + b)`` for cell ``(a, b)`` of a patch (row-major, little end first)."""
    return num_states ** np.arange(patch_size * patch_size, dtype=np.int64).reshape(patch_size, patch_size)


def patch_ids(frames: np.ndarray, num_states: int, patch_size: int) -> np.ndarray:
    """``(..., H, W)`` cells to ``(..., patches)`` ids, patches in row-major order."""
    *lead, h, w = frames.shape
    p = patch_size
    blocks = frames.reshape(*lead, h // p, p, w // p, p)
    blocks = np.moveaxis(blocks, -3, -2)  # ..., H/p, W/p, p, p
    ids = (blocks.astype(np.int64) * patch_powers(num_states, p)).sum(axis=(-2, -1))
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
