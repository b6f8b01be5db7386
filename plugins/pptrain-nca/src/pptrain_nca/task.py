"""The NCA task: rule pools derived per rule, batched rollouts, examples, rendering, stats.

Streams (all through :func:`pptrain_core.data.rng_for`, so any process rebuilds anything):

* slot ``j`` of the ``split`` pool in pool epoch ``e``: one stream
  ``(seed, "nca-rule", split, e, j)`` whose raw 64-bit words are cut into fixed-size
  candidates: candidate ``k = 0, 1, ...`` is words ``[k L, (k + 1) L)`` (the rule's
  weights, then its probe simulation; every value is drawn by inverse CDF from a fixed
  number of words, so ``L`` is a constant). Slot ``j`` holds the first candidate whose
  probe lies in the band, so rule ``j`` (rejection loop included) is a pure function of
  ``(seed, split, e, j)``, however many candidates a search round draws at once.
* simulation of example ``i``: ``(seed, split, "nca-sim", i)``: initial grid and noise.

Example ``i`` uses slot ``(i mod sims_per_epoch) mod pool size`` of pool epoch 0
(``rule_pool="fixed"``) or of pool epoch ``i // sims_per_epoch`` (``"per_epoch"``).
Train and eval pools come from different ``split`` streams: disjoint with probability 1
(their weights are independent continuous draws; a collision needs two 656-float draws
(584 for the symmetric network) to agree bit for bit).
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import numpy as np
import torch

from pptrain_core.data import Example, Task, TokenizerSpec, rng_for
from pptrain_nca.rollout import (
    RuleWeights,
    SimDraws,
    decode_patches,
    draw_simulation,
    frame_tokens,
    gzip_ratio,
    in_band,
    neighbour_influence,
    patch_ids,
    resolve_device,
    rollout,
    rule_tables,
    rule_words,
    rules_from_words,
    simulation_words,
    simulations_from_words,
    stacked_tables,
)
from pptrain_nca.specs import NCAConfig

#: Ten distinguishable terminal colours for cell states (cycled beyond ten states).
PALETTE = (
    "#808080",
    "#e6194b",
    "#3cb44b",
    "#ffe119",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#46f0f0",
    "#f032e6",
    "#fabebe",
)

#: Slots searched together in one batched probe when a bulk search runs in process.
SEARCH_CHUNK = 256

#: Examples ahead of a block whose rules are searched with the block's (speed only).
LOOKAHEAD = 480

#: Most probe simulations in one batched rollout (bounds the noise tensor to ~50 MB).
MAX_PROBE_BATCH = 512

#: Probe simulations a search round aims for: while many slots are pending, each probes
#: few candidates per round (little work past each slot's first hit); as slots are filled,
#: the survivors probe more candidates per round so that batches stay this large.
PROBE_TARGET = 256


def rule_stream(seed: int, split: str, epoch: int, slot: int) -> np.random.BitGenerator:
    """The raw-word stream of a rule slot's candidates ``k = 0, 1, ...`` (pool epoch ``epoch``)."""
    return rng_for(seed, "nca-rule", split, epoch, slot).bit_generator


@attrs.frozen
class PatchNames:
    """Display names: ``<grid>`` / ``</grid>`` for the delimiters, the id for a patch,
    ``<unused:N>`` for the padding rows of ``model_vocab_size`` (picklable)."""

    patch_vocab: int

    def __call__(self, token_id: int) -> str:
        if token_id == self.patch_vocab:
            return "<grid>"
        if token_id == self.patch_vocab + 1:
            return "</grid>"
        if token_id > self.patch_vocab + 1:
            return f"<unused:{token_id}>"  # model_vocab_size padding: never in an example
        return str(token_id)


@attrs.frozen
class Rule:
    """An accepted rule: its weights, its probe's gzip ratio, and the candidates tried."""

    weights: RuleWeights
    ratio: float
    attempts: int


def loss_mask_for(config: NCAConfig) -> np.ndarray:
    """No loss on the first ``loss_free_frames`` frames (delimiters included), loss after."""
    mask = np.ones(config.seq_len, dtype=np.int8)
    mask[: config.loss_free_frames * config.frame_len] = 0
    mask[0] = 0
    return mask


class NCATask(Task):
    """NCA trajectories as patch tokens (see :class:`pptrain_nca.specs.NCAConfig`)."""

    def __init__(self, config: NCAConfig):
        self.config = config
        self.device = resolve_device(config.device)  # one UserError when CUDA is asked for and absent
        self.block_size = config.block_size
        self.vocab = TokenizerSpec(size=config.vocab_size, names=PatchNames(config.patch_vocab))
        self.start_id = config.patch_vocab
        self.end_id = config.patch_vocab + 1
        self.loss_mask = loss_mask_for(config)
        self._rules: OrderedDict[tuple, Rule] = OrderedDict()
        self._tried = 0  # candidates probed / accepted in this process: sizes probe batches only
        self._accepted = 0
        self._cache_rules = max(4096, min(config.num_rules + config.eval_num_rules, 50_000))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_rules"] = OrderedDict()  # workers rebuild rules on demand
        return state

    # ----------------------------------------------------------------- pools

    def pool_size(self, split: str) -> int:
        return self.config.num_rules if split == "train" else self.config.eval_num_rules

    def rule_slot(self, split: str, index: int) -> tuple[int, int]:
        """``(pool_epoch, slot)`` of the rule example ``index`` of ``split`` uses."""
        c = self.config
        epoch = index // c.sims_per_epoch if c.rule_pool == "per_epoch" else 0
        return epoch, (index % c.sims_per_epoch) % self.pool_size(split)

    def _candidate_words(self) -> tuple[int, int]:
        """Raw words per candidate: its rule, then its probe simulation."""
        c = self.config
        sim = simulation_words(
            grid_size=c.grid_size,
            num_states=c.num_states,
            steps=c.burn_in + c.probe_frames - 1,
            stochastic=c.temperature > 0,
        )
        return rule_words(c.num_states, c.network), sim

    def probe_ratios(self, rules: Sequence[RuleWeights], draws: Sequence[SimDraws]) -> list[float]:
        """The gzip ratio of each rule's probe rollout (``probe_frames`` frames after burn-in)."""
        c = self.config
        frames = self._frames(list(rules), draws, c.probe_frames)
        return self._ratios(frames)

    def _ratios(self, frames: np.ndarray) -> list[float]:
        c = self.config
        ids = patch_ids(frames, c.num_states, c.patch_size).reshape(len(frames), -1)
        return [gzip_ratio(row) for row in ids]

    def _probe_words(self, words: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], list[float]]:
        """Candidates ``(K, L)`` raw words to their stacked weights and probe gzip ratios."""
        c = self.config
        n_rule, _ = self._candidate_words()
        w1, w2, w3 = rules_from_words(words[:, :n_rule], c.num_states, c.network)
        init, noise = simulations_from_words(
            words[:, n_rule:],
            grid_size=c.grid_size,
            num_states=c.num_states,
            steps=c.burn_in + c.probe_frames - 1,
            stochastic=c.temperature > 0,
        )
        table, w3t = stacked_tables(w1, w2, w3, self.device)
        frames = self._rollout(table, w3t, init, noise, c.probe_frames)
        return (w1, w2, w3), self._ratios(frames)

    def search_rules(
        self, seed: int, split: str, epoch: int, slots: Iterable[int], record: list[float] | None = None
    ) -> dict[int, Rule]:
        """Run the rejection loop for several slots at once (no cache); ``record`` gets every ratio.

        Slot ``j`` takes the first candidate ``k = 0, 1, ...`` in the band. To keep batches
        large when the band is narrow, each round probes the next ``m`` candidates of every
        pending slot at once (``m`` from the acceptance rate seen so far and the number of
        pending slots); candidates past the first accepted one are discarded, so ``m``
        changes speed, never the result, and ``record`` holds exactly the candidates up to each slot's accepted one.
        """
        c = self.config
        pending = list(dict.fromkeys(int(s) for s in slots))
        found: dict[int, Rule] = {}
        streams = {j: rule_stream(seed, split, epoch, j) for j in pending}
        length = sum(self._candidate_words())
        k = 0
        while pending:
            if k >= c.max_attempts:
                raise RuntimeError(
                    f"no rule found in the band ({c.band_lower}, {c.band_upper}) after {c.max_attempts} "
                    f"candidates for slot {pending[0]} of the {split!r} pool; widen the band"
                )
            rate = (self._accepted + 1) / (self._tried + 2)
            m = max(
                1,
                min(
                    math.ceil(1.5 / rate),
                    math.ceil(PROBE_TARGET / len(pending)),
                    MAX_PROBE_BATCH // len(pending),
                    c.max_attempts - k,
                ),
            )
            # candidates k .. k+m-1 of each pending slot: the next m*L words of its stream
            words = np.stack([streams[j].random_raw(m * length) for j in pending]).reshape(len(pending) * m, length)
            (w1, w2, w3), ratios = self._probe_words(words)
            still = []
            for n, j in enumerate(pending):
                mine = ratios[n * m : (n + 1) * m]
                hit = next((d for d, r in enumerate(mine) if in_band(r, c.band_lower, c.band_upper)), None)
                used = mine if hit is None else mine[: hit + 1]
                self._tried += len(used)
                if record is not None:
                    record.extend(used)
                if hit is None:
                    still.append(j)
                else:
                    self._accepted += 1
                    r = n * m + hit
                    weights = RuleWeights(w1[r].copy(), w2[r].copy(), w3[r].copy())
                    found[j] = Rule(weights, mine[hit], k + hit + 1)
            pending = still
            k += m
        return found

    def rules_for(self, seed: int, split: str, keys: Sequence[tuple[int, int]]) -> list[Rule]:
        """Accepted rules for ``(pool_epoch, slot)`` keys, searched lazily and cached (LRU)."""
        missing: dict[int, list[int]] = {}
        for epoch, slot in keys:
            if (seed, split, epoch, slot) not in self._rules:
                missing.setdefault(epoch, []).append(slot)
        for epoch, slots in missing.items():
            self._store(seed, split, epoch, self._search_maybe_parallel(seed, split, epoch, slots))
        out = []
        for epoch, slot in keys:
            key = (seed, split, epoch, slot)
            self._rules.move_to_end(key)
            out.append(self._rules[key])
        return out

    def _store(self, seed: int, split: str, epoch: int, found: dict[int, Rule]) -> None:
        for slot, rule in found.items():
            self._rules[(seed, split, epoch, slot)] = rule
        while len(self._rules) > self._cache_rules:
            self._rules.popitem(last=False)

    def _search_maybe_parallel(self, seed: int, split: str, epoch: int, slots: list[int]) -> dict[int, Rule]:
        workers = self.config.probe_workers
        if workers <= 1 or len(slots) < 2 * SEARCH_CHUNK:
            found: dict[int, Rule] = {}
            for start in range(0, len(slots), SEARCH_CHUNK):
                found.update(self.search_rules(seed, split, epoch, slots[start : start + SEARCH_CHUNK]))
            return found
        chunks = [slots[i : i + SEARCH_CHUNK] for i in range(0, len(slots), SEARCH_CHUNK)]
        ctx = multiprocessing.get_context("spawn")
        found = {}
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
            futures = [pool.submit(_search_chunk, self.config, seed, split, epoch, ch) for ch in chunks]
            for fut in futures:
                found.update(fut.result())
        return found

    def prefetch_rules(
        self, seed: int, split: str = "train", epoch: int = 0, slots: Iterable[int] | None = None
    ) -> int:
        """Search a whole pool up front (in ``probe_workers`` processes when set); returns rules added."""
        slots = list(range(self.pool_size(split))) if slots is None else list(slots)
        todo = [s for s in slots if (seed, split, epoch, s) not in self._rules]
        if todo:
            self._store(seed, split, epoch, self._search_maybe_parallel(seed, split, epoch, todo))
        return len(todo)

    # ----------------------------------------------------------------- examples

    def simulate(self, rules: Sequence[Rule], draws: Sequence[SimDraws]) -> np.ndarray:
        """Token rows ``(B, seq_len)`` for one simulation per (rule, draws) pair, batched."""
        c = self.config
        frames = self._frames([r.weights for r in rules], draws, c.frames)
        return frame_tokens(frames, c.num_states, c.patch_size)[:, : c.seq_len]

    def _frames(self, weights: list[RuleWeights], draws: Sequence[SimDraws], n_frames: int) -> np.ndarray:
        """One batched rollout: ``n_frames`` recorded frames after the burn-in, per (rule, draws) pair."""
        c = self.config
        table, w3 = rule_tables(weights, self.device)
        init = np.stack([d.init for d in draws])
        steps = c.burn_in + n_frames - 1
        noise = np.stack([d.uniforms[:steps] for d in draws]) if c.temperature > 0 else None
        return self._rollout(table, w3, init, noise, n_frames)

    def _rollout(
        self, table: torch.Tensor, w3: torch.Tensor, init: np.ndarray, noise: np.ndarray | None, n_frames: int
    ) -> np.ndarray:
        c = self.config
        return rollout(
            table,
            w3,
            init,
            noise,
            num_states=c.num_states,
            burn_in=c.burn_in,
            frames=n_frames,
            identity_bias=c.identity_bias,
            temperature=c.temperature,
        )

    def draws_for(self, seed: int, *path: str | int) -> SimDraws:
        c = self.config
        return draw_simulation(
            rng_for(seed, *path),
            grid_size=c.grid_size,
            num_states=c.num_states,
            steps=c.burn_in + c.frames - 1,
            stochastic=c.temperature > 0,
        )

    def examples(self, seed: int, split: str, indices: Sequence[int]) -> list[Example]:
        """Examples for any list of indices, in one batched rollout; each from its own streams.

        When a rule is missing and the reader looks sequential (the rule of the example just
        before is cached), the rules of the next ``LOOKAHEAD`` examples are searched with it
        in one batch. Rules are pure functions of their slot, so this changes speed only.
        """
        keys = [self.rule_slot(split, i) for i in indices]
        first = min(indices)
        sequential = first > 0 and (seed, split, *self.rule_slot(split, first - 1)) in self._rules
        if sequential and any((seed, split, e, j) not in self._rules for e, j in keys):
            last = max(indices)
            ahead = [self.rule_slot(split, i) for i in range(last + 1, last + 1 + LOOKAHEAD)]
            self.rules_for(seed, split, keys + [k for k in ahead if k not in keys])
        rules = self.rules_for(seed, split, keys)
        draws = [self.draws_for(seed, split, "nca-sim", i) for i in indices]
        rows = self.simulate(rules, draws)
        out = []
        for row, (epoch, slot), rule in zip(rows, keys, rules, strict=True):
            meta = {"rule": slot, "pool_epoch": epoch, "rule_ratio": rule.ratio, "rule_attempts": rule.attempts}
            out.append(Example(row, self.loss_mask, meta))
        return out

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        return self.examples(seed, split, [index])[0]

    def generate_block(self, rng: np.random.Generator, *, seed: int, split: str, block: int) -> list[Example]:
        b = self.block_size
        return self.examples(seed, split, range(block * b, (block + 1) * b))

    # ----------------------------------------------------------------- rendering

    def frames_of(self, tokens: np.ndarray) -> list[np.ndarray]:
        """The complete frames of a token row, decoded back to ``(H, W)`` cell grids."""
        c = self.config
        fl = c.frame_len
        out = []
        for f in range(len(tokens) // fl):
            chunk = np.asarray(tokens[f * fl : (f + 1) * fl])
            out.append(decode_patches(chunk[1:-1], c.num_states, c.patch_size, c.grid_size))
        return out

    def render(self, example: Example) -> str:
        """Frames as digit grids between ``<grid>`` and ``</grid>`` (a cut last frame as ids)."""
        c = self.config
        lines = []
        frames = self.frames_of(example.tokens)
        for grid in frames:
            lines.append("<grid>")
            sep = "" if c.num_states <= 10 else " "
            lines.extend(sep.join(str(int(v)) for v in row) for row in grid)
            lines.append("</grid>")
        rest = example.tokens[len(frames) * c.frame_len :]
        if len(rest):
            lines.append(self.vocab.render(rest) + "  (frame cut at seq_len)")
        return "\n".join(lines)

    def render_rich(self, example: Example) -> Any:
        """Frames side by side: coloured cells on a colour terminal, digits elsewhere (rich renderable)."""
        return GridView(self.frames_of(example.tokens), self.config.loss_free_frames, self.config.num_states)

    # ----------------------------------------------------------------- statistics

    def stats(self, sample: int, seed: int, examples: list[Any] | None = None) -> dict[str, Any]:
        """Band acceptance, gzip-ratio quantiles, token-frequency shape, band stability and
        per-colour neighbour influence.

        ``sample`` train-pool slots are searched from scratch (every candidate's ratio
        recorded) and ``sample`` train examples are generated for the token statistics
        (or ``examples`` are used, when the caller already has them).
        ``neighbour_influence[c]``: over the accepted rules, each on one uniformly random
        grid (stream ``(seed, "nca-influence", j)``), the share of (cell, neighbour) pairs
        where setting the neighbour to colour ``c`` changes the cell's (argmax) next state
        (see :func:`pptrain_nca.rollout.neighbour_influence`). The official network gives
        colours 0 and ``states - 1`` a clearly higher influence than the others (about
        1.12x at 10 states); the symmetric one does not, so this tells which network a pool
        came from.
        """
        c = self.config
        record: list[float] = []
        found = self.search_rules(seed, "train", 0, range(sample), record=record)
        accepted = [found[j].ratio for j in range(sample)]
        # band stability: each accepted rule re-simulated from a fresh initial grid
        restab = [
            draw_simulation(
                rng_for(seed, "nca-restab", j),
                grid_size=c.grid_size,
                num_states=c.num_states,
                steps=c.burn_in + c.probe_frames - 1,
                stochastic=c.temperature > 0,
            )
            for j in range(sample)
        ]
        weights = [found[j].weights for j in range(sample)]
        again = self.probe_ratios(weights, restab)
        stable = sum(in_band(r, c.band_lower, c.band_upper) for r in again)
        grids = np.stack(
            [
                rng_for(seed, "nca-influence", j).integers(0, c.num_states, size=(c.grid_size, c.grid_size))
                for j in range(sample)
            ]
        )
        changed, trials = neighbour_influence(
            np.stack([w.w1 for w in weights]),
            np.stack([w.w2 for w in weights]),
            np.stack([w.w3 for w in weights]),
            grids,
            identity_bias=c.identity_bias,
        )
        influence = changed / np.maximum(trials, 1)
        ends = (influence[0] + influence[-1]) / 2
        middle = influence[1:-1].mean() if c.num_states > 2 else ends
        counts = np.zeros(c.patch_vocab, dtype=np.int64)
        if examples is None:  # one generation per block, as the core's describe --stats does
            from pptrain_core.stats import sample_examples

            examples = sample_examples(self, sample=sample, seed=seed)
        for ex in examples:
            t = ex.tokens[ex.tokens < c.patch_vocab]
            counts += np.bincount(t, minlength=c.patch_vocab)
        return {
            "sample_rules": sample,
            "sample_examples": sample,
            "candidates": len(record),
            "acceptance_rate": sample / len(record),
            "band": [c.band_lower, c.band_upper],
            "ratio_quantiles_accepted": _quantiles(accepted),
            "ratio_quantiles_all": _quantiles(record),
            "band_stability": stable / sample,
            "distinct_patch_ids": int((counts > 0).sum()),
            "patch_vocab": c.patch_vocab,
            "top10_patch_share": float(np.sort(counts)[::-1][:10].sum() / counts.sum()),
            "rank_frequency_slope": _rank_slope(counts),
            "network": c.network,
            "neighbour_influence": [round(float(v), 4) for v in influence],
            "influence_trials_per_colour": int(trials.min()),
            "influence_end_colours_vs_rest": round(float(ends / middle), 4) if middle > 0 else None,
            "vocab_size": c.vocab_size,
        }


@attrs.frozen(eq=False)
class GridView:
    """NCA frames for a rich console, side by side.

    Coloured blocks only where the console shows colour; piped into a file or another
    program (or under ``NO_COLOR``) every block would look the same, so each cell is
    written as its state's digit instead.
    """

    frames: list[np.ndarray]
    loss_free_frames: int
    num_states: int

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.columns import Columns
        from rich.text import Text

        colour = console.color_system is not None and not console.no_color
        sep = "" if self.num_states <= 10 else " "
        panels = []
        for f, grid in enumerate(self.frames):
            text = Text(f"t={f}{' (no loss)' if f < self.loss_free_frames else ''}\n", style="dim")
            for row in grid:
                if colour:
                    for v in row:
                        text.append("██", style=PALETTE[int(v) % len(PALETTE)])
                else:
                    text.append(sep.join(str(int(v)) for v in row))
                text.append("\n")
            panels.append(text)
        yield Columns(panels, padding=(0, 2))


def _quantiles(values: Sequence[float]) -> dict[str, float]:
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    arr = np.asarray(values, dtype=np.float64)
    return {f"q{int(q * 100):02d}": round(float(np.quantile(arr, q)), 4) for q in qs}


def _rank_slope(counts: np.ndarray) -> float | None:
    """Least-squares slope of log(frequency) against log(rank) over the ids that occur."""
    ranked = np.sort(counts[counts > 0])[::-1].astype(np.float64)
    if len(ranked) < 3:
        return None
    x = np.log(np.arange(1, len(ranked) + 1))
    y = np.log(ranked)
    return round(float(np.polyfit(x, y, 1)[0]), 4)


# --------------------------------------------------------------------------- worker pool


def _worker_init() -> None:
    torch.set_num_threads(1)


def _search_chunk(config: NCAConfig, seed: int, split: str, epoch: int, slots: list[int]) -> dict[int, Rule]:
    return NCATask(attrs.evolve(config, probe_workers=0)).search_rules(seed, split, epoch, slots)
