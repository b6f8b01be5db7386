"""The NCA generator itself: rule weights, random draws, batched rollouts, patch tokens, gzip.

Written from the description of the official code (``utils/nca.py``,
``utils/tokenizers.py`` at ``bdd1c71``), never copied.

Randomness is drawn with numpy: a rule candidate from a fixed-size block of raw 64-bit
words of its slot's stream (every value by inverse CDF, so the block size is constant), an
example's simulation from its own stream; a rule or a simulation is therefore the same
whether it is computed alone or in a batch; the
rollout itself is a batched torch computation made only of gathers, element-wise ops
and fixed-size reductions, so batching does not change a single bit of the result.

Devices: every random draw (weights, grids, noise) and the lookup tables are computed on
the CPU and then moved, and gzip runs on the CPU, so the ``device`` setting changes only
where the float arithmetic of the rollout runs; :func:`compare_devices` counts the rules
and frames that this changes.
"""

from __future__ import annotations

import functools
import gzip
import math
from typing import Any, NamedTuple

import numpy as np
import torch

from pptrain_core.errors import UserError

#: Flax's ``variance_scaling(..., "truncated_normal")`` divides the standard deviation by
#: the std of a unit normal truncated to [-2, 2], so that the *truncated* draw has variance
#: exactly ``scale / fan_in``. (JAX: ``jax.nn.initializers.variance_scaling``.)
TRUNCATED_STD = 0.87962566103423978

HIDDEN = 16
PERCEPTION = 4

#: The two first-layer networks. ``official``: the official code wrap-pads the *unbatched*
#: ``(H, W, states)`` one-hot on every axis, the channel axis included, so the 3x3 conv sees
#: ``states + 2`` channels (a copy of the last colour before colour 0, a copy of colour 0
#: after the last colour) and its kernel is ``3 x 3 x (states + 2) x 4`` (fan-in 108 for 10
#: states). ``symmetric``: the ``states``-channel network the paper's text describes
#: (fan-in 90), every colour entering through one weight slice.
NETWORKS = ("official", "symmetric")


# --------------------------------------------------------------------------- devices


def resolve_device(name: str) -> torch.device:
    """The torch device of the NCA ``device`` setting: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.

    ``auto`` is ``cuda`` when torch sees a CUDA device, else ``cpu``. Asking for CUDA where
    there is none is one :class:`UserError`, not a torch traceback.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(
                f"nca: device {name!r} needs a CUDA GPU, but torch sees none here; "
                "set device to 'cpu' (the reference) or 'auto'"
            )
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(
                f"nca: device {name!r} does not exist (torch sees {torch.cuda.device_count()} CUDA devices); "
                "use 'cuda' or a smaller index"
            )
        return dev
    return torch.device(name)


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


def input_channels(num_states: int, network: str = "official") -> int:
    """Input channels of the first (3x3) conv: ``states + 2`` (official, channel axis wrapped) or ``states``."""
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
    return num_states + 2 if network == "official" else num_states


def rule_words(num_states: int, network: str = "official") -> int:
    """Raw words of one rule: one per weight (3x3 kernel, then 4->16, then 16->states)."""
    return 9 * input_channels(num_states, network) * PERCEPTION + PERCEPTION * HIDDEN + HIDDEN * num_states


def rules_from_words(
    words: np.ndarray, num_states: int, network: str = "official"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(K, rule_words)`` raw words to stacked weights ``w1 (K,3,3,C,4)``, ``w2 (K,4,16)``, ``w3 (K,16,S)``.

    ``C`` is :func:`input_channels` (``S + 2`` for the official network). Flax
    ``lecun_normal`` with fan-ins ``9 * C``, 4 and 16: a truncated normal divided by the
    std of the truncated unit normal, times ``1 / sqrt(fan_in)``.
    """
    k = words.shape[0]
    s = num_states
    c = input_channels(s, network)
    n1, n2 = 9 * c * PERCEPTION, PERCEPTION * HIDDEN
    z = truncated_normal_words(words) / TRUNCATED_STD
    w1 = (z[:, :n1] * np.sqrt(1.0 / (9 * c))).reshape(k, 3, 3, c, PERCEPTION)
    w2 = (z[:, n1 : n1 + n2] * np.sqrt(1.0 / PERCEPTION)).reshape(k, PERCEPTION, HIDDEN)
    w3 = (z[:, n1 + n2 :] * np.sqrt(1.0 / HIDDEN)).reshape(k, HIDDEN, s)
    return w1.astype(np.float32), w2.astype(np.float32), w3.astype(np.float32)


def sample_rule(rng: np.random.Generator, num_states: int, network: str = "official") -> RuleWeights:
    """Fresh untrained network weights (Flax ``lecun_normal``) from ``rng``'s next raw words."""
    words = rng.bit_generator.random_raw(rule_words(num_states, network)).reshape(1, -1)
    w1, w2, w3 = rules_from_words(words, num_states, network)
    return RuleWeights(w1[0], w2[0], w3[0])


def state_kernel(w1: np.ndarray, num_states: int) -> np.ndarray:
    """The first-layer kernel seen by a one-hot state: ``(..., 3, 3, C, 4)`` to ``(..., 3, 3, S, 4)``.

    For the official network (``C = S + 2``) a cell of colour ``s`` lights input channel
    ``s + 1``, and also channel ``S + 1`` when ``s = 0`` and channel 0 when ``s = S - 1``
    (the wrapped copies), so colours 0 and ``S - 1`` act through the sum of two slices.
    A symmetric kernel (``C = S``) is returned unchanged.
    """
    c = w1.shape[-2]
    if c == num_states:
        return w1
    if c != num_states + 2:
        raise ValueError(f"first-layer kernel has {c} input channels; expected {num_states} or {num_states + 2}")
    eff = w1[..., 1 : num_states + 1, :].copy()
    eff[..., 0, :] += w1[..., num_states + 1, :]
    eff[..., num_states - 1, :] += w1[..., 0, :]
    return eff


def rule_tables(rules: list[RuleWeights], device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-rule lookup tables for the batched step (see :func:`stacked_tables`)."""
    w1 = np.stack([r.w1 for r in rules])
    w2 = np.stack([r.w2 for r in rules])
    w3 = np.stack([r.w3 for r in rules])
    return stacked_tables(w1, w2, w3, device)


def stacked_tables(
    w1: np.ndarray, w2: np.ndarray, w3: np.ndarray, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lookup tables for stacked weights ``w1 (B,3,3,C,4)``, ``w2 (B,4,16)``, ``w3 (B,16,S)``.

    The input is one-hot and the first two layers are linear, so the pre-ReLU hidden
    vector of a cell is ``sum over the 9 neighbours of (k[dy, dx, s_neighbour] @ w2)``,
    ``k`` the per-state kernel of :func:`state_kernel` (``C`` is ``S`` or ``S + 2``).
    Returns ``table (B, 9*states, 16)`` and ``w3 (B, 16, states)``, both on ``device``
    (computed on the CPU, then moved, so every device gets the same bits).
    """
    w1 = state_kernel(w1, w3.shape[-1])
    b, _, _, s, _ = w1.shape
    t1 = torch.from_numpy(np.ascontiguousarray(w1, dtype=np.float32).reshape(b, 9 * s, PERCEPTION))
    t2 = torch.from_numpy(np.ascontiguousarray(w2, dtype=np.float32))
    # fixed-size reduction over the 4 perception channels, element-wise per rule
    table = (t1.unsqueeze(-1) * t2.unsqueeze(1)).sum(dim=2)  # B, 9S, 16
    return table.to(device), torch.from_numpy(np.ascontiguousarray(w3, dtype=np.float32)).to(device)


def neighbour_influence(
    w1: np.ndarray, w2: np.ndarray, w3: np.ndarray, grids: np.ndarray, *, identity_bias: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """How often setting one neighbour of a cell to colour ``c`` changes the cell's next state.

    ``w1 (B,3,3,C,4)``, ``w2``, ``w3`` are stacked rules and ``grids (B, H, W)`` one grid per
    rule. For every cell, each of its 8 neighbours (not the cell itself) whose colour is not
    ``c`` is set to ``c`` and the cell's next state (the argmax of its logits plus the
    identity bias, the temperature-0 limit) is compared with the unchanged one. Returns
    ``(changed, trials)``, two ``(states,)`` int64 count arrays; the influence of ``c`` is
    ``changed[c] / trials[c]``. On the CPU, float32, one rule at a time.
    """
    s = w3.shape[-1]
    table, w3t = stacked_tables(w1, w2, w3)
    b, h, w = grids.shape
    table = table.view(b, 9, s, HIDDEN)
    rows, cols = np.arange(h).reshape(h, 1, 1, 1), np.arange(w).reshape(1, w, 1, 1)
    dy, dx = np.arange(3).reshape(1, 1, 3, 1), np.arange(3).reshape(1, 1, 1, 3)
    nbr = (((rows + dy - 1) % h) * w + (cols + dx - 1) % w).reshape(h * w, 9)  # (dy, dx) row-major
    others = [p for p in range(9) if p != 4]  # position 4 is the cell itself
    changed = np.zeros(s, dtype=np.int64)
    trials = np.zeros(s, dtype=np.int64)
    colours = torch.arange(s)
    for r in range(b):
        flat = torch.from_numpy(np.ascontiguousarray(grids[r]).reshape(h * w).astype(np.int64))
        states = flat[torch.from_numpy(nbr)]  # N, 9
        rows_t = table[r][torch.arange(9), states]  # N, 9, 16: each neighbour's table row
        hidden = rows_t.sum(dim=1)  # N, 16
        bias = identity_bias * torch.nn.functional.one_hot(flat, s).to(torch.float32)  # N, S
        base = (hidden.clamp_min(0.0) @ w3t[r] + bias).argmax(dim=1)  # N
        for p in others:
            # hidden with neighbour p set to each colour: (N, S, 16)
            alt = hidden.unsqueeze(1) - rows_t[:, p].unsqueeze(1) + table[r, p].unsqueeze(0)
            nxt = (alt.clamp_min(0.0) @ w3t[r] + bias.unsqueeze(1)).argmax(dim=2)  # N, S
            differs = states[:, p].unsqueeze(1) != colours.unsqueeze(0)  # N, S: a real change
            changed += ((nxt != base.unsqueeze(1)) & differs).sum(dim=0).numpy()
            trials += differs.sum(dim=0).numpy()
    return changed, trials


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


# --------------------------------------------------------------------------- device comparison


def frame_differences(reference: np.ndarray, other: np.ndarray) -> dict[str, int]:
    """Counts of differing trajectories, frames and cells between two ``(B, F, H, W)`` frame stacks."""
    if reference.shape != other.shape:
        raise ValueError(f"frame stacks of shapes {reference.shape} and {other.shape} cannot be compared")
    cells = reference != other  # B, F, H, W
    frames = cells.reshape(*cells.shape[:2], -1).any(axis=2)  # B, F
    return {
        "trajectories": int(reference.shape[0]),
        "trajectories_differing": int(frames.any(axis=1).sum()),
        "frames": int(frames.size),
        "frames_differing": int(frames.sum()),
        "cells_differing": int(cells.sum()),
        "first_differing_frame_min": int(frames.argmax(axis=1)[frames.any(axis=1)].min()) if frames.any() else -1,
    }


def compare_devices(
    config: Any,
    *,
    device: str = "cuda",
    reference: str = "cpu",
    seed: int = 0,
    split: str = "train",
    rules: int = 256,
    examples: int = 256,
) -> dict[str, Any]:
    """Run the same NCA work on two devices and count what floating point changed.

    ``config`` is an :class:`~pptrain_nca.specs.NCAConfig`; ``device`` / ``reference`` are
    its ``device`` values (the defaults compare a GPU with the CPU reference; run it where
    CUDA exists). Three comparisons, each on identical inputs (weights, grids and noise
    are drawn on the CPU in both cases):

    * ``probes``: the first candidate of each of ``rules`` slots (the same raw words),
      probed on both devices: gzip ratios that differ, band decisions that differ, and
      both acceptance rates.
    * ``search``: the rejection loop for slots ``0..rules-1``: slots whose accepted rule
      differs (another candidate accepted) and both pools' ratio quantiles.
    * ``rollouts``: examples ``0..examples-1`` of ``split`` with the *reference's* rules
      and the same draws on both devices: :func:`frame_differences` counts.
    """
    import attrs

    from pptrain_nca.task import NCATask, rule_stream

    ref = NCATask(attrs.evolve(config, device=reference, probe_workers=0))
    dev = NCATask(attrs.evolve(config, device=device, probe_workers=0))
    c = ref.config
    length = sum(ref._candidate_words())
    words = np.stack([rule_stream(seed, split, 0, j).random_raw(length) for j in range(rules)])
    _, ratios_ref = ref._probe_words(words)
    _, ratios_dev = dev._probe_words(words)
    band_ref = [in_band(r, c.band_lower, c.band_upper) for r in ratios_ref]
    band_dev = [in_band(r, c.band_lower, c.band_upper) for r in ratios_dev]
    probes = {
        "candidates": rules,
        "ratios_differing": int(sum(a != b for a, b in zip(ratios_ref, ratios_dev, strict=True))),
        "band_decisions_differing": int(sum(a != b for a, b in zip(band_ref, band_dev, strict=True))),
        "acceptance_reference": sum(band_ref) / rules,
        "acceptance_device": sum(band_dev) / rules,
    }
    found_ref = ref.search_rules(seed, split, 0, range(rules))
    found_dev = dev.search_rules(seed, split, 0, range(rules))
    differing = [
        j
        for j in range(rules)
        if found_ref[j].attempts != found_dev[j].attempts or found_ref[j].ratio != found_dev[j].ratio
    ]
    search = {
        "slots": rules,
        "slots_differing": len(differing),
        "attempts_reference": int(sum(r.attempts for r in found_ref.values())),
        "attempts_device": int(sum(r.attempts for r in found_dev.values())),
        "ratio_median_reference": float(np.median([r.ratio for r in found_ref.values()])),
        "ratio_median_device": float(np.median([r.ratio for r in found_dev.values()])),
    }
    keys = [ref.rule_slot(split, i) for i in range(examples)]
    weights = [r.weights for r in ref.rules_for(seed, split, keys)]
    draws = [ref.draws_for(seed, split, "nca-sim", i) for i in range(examples)]
    rollouts = frame_differences(ref._frames(weights, draws, c.frames), dev._frames(weights, draws, c.frames))
    return {
        "device": str(dev.device),
        "reference": str(ref.device),
        "probes": probes,
        "search": search,
        "rollouts": rollouts,
    }
