"""Specs for the NCA family: the config class, presets with provenance, the metric spec.

Imported at discovery time, so it imports only attrs and the core's spec and config
helpers (no numpy, no torch); the generator lives in :mod:`pptrain_nca.task` and is named
by a lazy factory string.

Source (read, never copied): Lee, Han, Kumar, Agrawal 2026, arXiv 2603.10055; official
code ``danihyunlee/nca-pre-pretraining`` read through the fork
``ayushnangia/nca-pre-pretraining`` at upstream commit ``bdd1c71``: ``utils/nca.py``
(network, rollout, gzip filter), ``utils/tokenizers.py`` (patch tokens), ``src/nca_ppt.py``
(dataset, loss mask, rule pool), ``utils/training_args.py`` and
``scripts/prepretraining/nca_prepretraining.sh`` (the values that run).
"""

from __future__ import annotations

import math
import re

import attrs

from pptrain_core.config import FieldValueError, at_least, in_range, one_of
from pptrain_core.specs import MetricSpec, Preset, Provenance, Source, TaskSpec

PAPER = "Lee, Han, Kumar, Agrawal 2026, arXiv 2603.10055"
REPO = "danihyunlee/nca-pre-pretraining@bdd1c71 (read via ayushnangia/nca-pre-pretraining)"
BLOG = "hanseungwook.github.io/blog/nca-pre-pre-training"
CITATION = "Lee, Han, Kumar, Agrawal. Training Language Models via Neural Cellular Automata. 2026. arXiv:2603.10055."

#: Largest patch vocabulary we allow (states ** (patch ** 2)); ids must fit int32 for the
#: gzip probe's byte layout and the model's embedding must stay sane.
MAX_PATCH_VOCAB = 2**24


def _device_name(instance: object, attribute: attrs.Attribute, value: object) -> None:
    """attrs validator: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA's presence is checked at build)."""
    if isinstance(value, str) and (value in ("cpu", "cuda", "auto") or re.fullmatch(r"cuda:\d+", value)):
        return
    raise FieldValueError(attribute.name, f"{value!r} is not a device; use 'cpu', 'cuda', 'cuda:N' or 'auto'")


@attrs.frozen
class NCAConfig:
    """Neural cellular automata trajectories serialised as 2x2-patch tokens.

    A rule is an untrained 3x3-conv / 1x1-conv / ReLU / 1x1-conv network on a toroidal
    grid of ``num_states`` colours; rules are kept only when a probe rollout's gzip ratio
    lies strictly inside ``(band_lower, band_upper)``. One example is one simulation of
    one rule: ``num_frames`` frames (each ``[<grid>, patches..., </grid>]``) cut to
    ``seq_len`` tokens; no loss on the first ``loss_free_frames`` frames.
    """

    grid_size: int = attrs.field(default=12, validator=at_least(1))
    """Cells per side of the (square, toroidal) grid."""
    num_states: int = attrs.field(default=10, validator=at_least(2))
    """Colours a cell can take (the paper's ``num_colors``)."""
    network: str = attrs.field(default="official", validator=one_of("official", "symmetric"))
    """First layer of the rule network. ``official``: what the official code computes: it
    wrap-pads the unbatched one-hot on the channel axis too, so the 3x3 conv sees
    ``num_states + 2`` channels (fan-in 108 at 10 states) and colours 0 and
    ``num_states - 1`` enter every rule through two weight slices (they change a
    neighbour's next state about 1.12x as often as the other colours). ``symmetric``: the
    ``num_states``-channel network the paper's text describes (fan-in 90), every colour
    alike; the rules (and so the data) of this plugin before the ``network`` field."""
    patch_size: int = attrs.field(default=2, validator=at_least(1))
    """Side of the square patch that becomes one token; must divide ``grid_size``."""
    seq_len: int = attrs.field(default=1024, validator=at_least(2))
    """Tokens per example (the model's input window)."""
    num_frames: int | None = attrs.field(default=None, validator=attrs.validators.optional(at_least(1)))
    """Frames simulated per example; unset: ``ceil(seq_len / frame_len)`` (27 for the paper)."""
    loss_free_frames: int = attrs.field(default=1, validator=at_least(0))
    """Leading frames that carry no loss (the official ``min_grid``)."""
    burn_in: int = attrs.field(default=10, validator=at_least(0))
    """Steps simulated and discarded before the first recorded frame (``init_rollout_steps``)."""
    identity_bias: float = 0.0
    """Added to the logit of a cell's current state before sampling."""
    temperature: float = attrs.field(default=1e-4, validator=at_least(0.0))
    """Sampling temperature; 0 means argmax (no division)."""
    band_lower: float = attrs.field(default=0.5, validator=in_range(0.0, 10.0))
    """Keep a rule iff ``band_lower < gzip ratio < band_upper`` (strict)."""
    band_upper: float = attrs.field(default=1.0, validator=in_range(0.0, 10.0))
    """Upper edge of the complexity band (strict)."""
    probe_frames: int = attrs.field(default=10, validator=at_least(1))
    """Frames recorded by the gzip probe (after the same burn-in)."""
    num_rules: int = attrs.field(default=16_000, validator=at_least(1))
    """Accepted rules in the train pool; example ``i`` uses rule ``i mod num_rules``."""
    eval_num_rules: int = attrs.field(default=2_000, validator=at_least(1))
    """Accepted rules in the (disjoint) eval pool."""
    sims_per_epoch: int = attrs.field(default=16_000, validator=at_least(1))
    """Examples per epoch: ``epoch = index // sims_per_epoch`` (matters for ``per_epoch`` pools)."""
    rule_pool: str = attrs.field(default="fixed", validator=one_of("fixed", "per_epoch"))
    """``fixed``: one pool for all epochs (what the official code does); ``per_epoch``: a
    fresh pool every epoch (what its README says)."""
    epochs: int = attrs.field(default=10, validator=at_least(1))
    """Paper budget, for documentation and token budgets only: ``epochs * sims_per_epoch * seq_len``."""
    max_attempts: int = attrs.field(default=100_000, validator=at_least(1))
    """Candidate rules tried for one pool slot before giving up with an error."""
    block_size: int = attrs.field(default=128, validator=at_least(1))
    """Examples simulated together in one batched rollout; never changes an example. 128 keeps
    the per-step overhead of the rollout small on a CPU (1.3x the tokens/s of 32 for
    ``paper_web_text``, 1.07x for ``paper_code``)."""
    device: str = attrs.field(default="cpu", validator=_device_name)
    """Torch device of the batched rule search, gzip probes and rollouts: ``cpu`` (the
    reference), ``cuda`` / ``cuda:N``, or ``auto`` (CUDA when present). Weights and initial
    grids are always drawn on the CPU and moved, and gzip runs on the CPU, so a rule or an
    example differs between devices only where float arithmetic flips a near-tie
    (:func:`pptrain_nca.rollout.compare_devices` counts how often). Never changes a CPU result."""
    model_vocab_size: int | None = attrs.field(default=None, validator=attrs.validators.optional(at_least(1)))
    """Rows of the model's embedding and output head; unset: exactly the ids used
    (``states ** patch ** 2 + 2``, 10,002 for the paper). The official script passes
    ``--vocab_size 64000``: 53,998 extra rows that no example ever contains (named
    ``<unused:N>``); set 64000 to reproduce it. It changes the model, never the tokens."""
    probe_workers: int = attrs.field(default=0, validator=at_least(0))
    """Processes for bulk rule searches (:meth:`NCATask.prefetch_rules`); 0 = in process."""

    def __attrs_post_init__(self) -> None:
        if self.grid_size % self.patch_size:
            raise FieldValueError("patch_size", f"must divide grid_size ({self.grid_size}), got {self.patch_size}")
        if self.num_states ** (self.patch_size**2) > MAX_PATCH_VOCAB:
            raise FieldValueError(
                "num_states",
                f"num_states ** (patch_size ** 2) = {self.num_states ** (self.patch_size**2)} patch ids "
                f"exceeds {MAX_PATCH_VOCAB}; use fewer states or a smaller patch",
            )
        if not self.band_lower < self.band_upper:
            raise FieldValueError(
                "band_upper", f"must be greater than band_lower ({self.band_lower}), got {self.band_upper}"
            )
        if self.num_frames is not None and self.num_frames * self.frame_len < self.seq_len:
            raise FieldValueError(
                "num_frames",
                f"{self.num_frames} frames of {self.frame_len} tokens cannot fill seq_len {self.seq_len}",
            )
        if self.loss_free_frames * self.frame_len >= self.seq_len:
            raise FieldValueError("loss_free_frames", "leaves no token with loss inside seq_len")
        if self.model_vocab_size is not None and self.model_vocab_size < self.patch_vocab + 2:
            raise FieldValueError(
                "model_vocab_size",
                f"must be at least the {self.patch_vocab + 2} ids the examples use "
                f"(num_states ** (patch_size ** 2) + 2), got {self.model_vocab_size}; leave it unset for exactly that",
            )

    @property
    def patches_per_frame(self) -> int:
        return (self.grid_size // self.patch_size) ** 2

    @property
    def frame_len(self) -> int:
        """Tokens per frame: start + patches + end (38 for the paper)."""
        return self.patches_per_frame + 2

    @property
    def frames(self) -> int:
        """Frames simulated per example."""
        return self.num_frames if self.num_frames is not None else math.ceil(self.seq_len / self.frame_len)

    @property
    def patch_vocab(self) -> int:
        return self.num_states ** (self.patch_size**2)

    @property
    def vocab_size(self) -> int:
        """Vocabulary the model gets: ``model_vocab_size`` or the ``patch_vocab + 2`` ids used."""
        return self.model_vocab_size if self.model_vocab_size is not None else self.patch_vocab + 2

    @property
    def token_budget(self) -> int:
        """``epochs * sims_per_epoch * seq_len`` (the paper: 10 * 16,000 * 1,024 = 164 M)."""
        return self.epochs * self.sims_per_epoch * self.seq_len


@attrs.frozen
class NCAIclConfig:
    """The in-context probe: how many sequences and how many at a time."""

    n_sequences: int = attrs.field(default=32, validator=at_least(1))
    """Sequences evaluated per rule set (one per rule)."""
    batch_size: int = attrs.field(default=8, validator=at_least(1))
    """Sequences per forward pass."""
    seed: int = attrs.field(default=0, validator=at_least(0))
    """Seed of the probe's own simulations (never the training streams)."""


# --------------------------------------------------------------------------- presets

_V = "verified"
_A = "approximate"
_O = "ours"


def _p(status: str, note: str = "") -> Provenance:
    return Provenance(status, note)  # type: ignore[arg-type]


_SHARED_VALUES = {
    "grid_size": 12,
    "num_states": 10,
    "network": "official",
    "patch_size": 2,
    "seq_len": 1024,
    "loss_free_frames": 1,
    "burn_in": 10,
    "identity_bias": 0.0,
    "temperature": 1e-4,
    "probe_frames": 10,
    "num_rules": 16_000,
    "eval_num_rules": 2_000,
    "sims_per_epoch": 16_000,
    "rule_pool": "fixed",
    "epochs": 10,
}

_SHARED_PROVENANCE = {
    "grid_size": _p(_V, "nca_prepretraining.sh --grid 12"),
    "num_states": _p(_V, "--num_colors 10"),
    "network": _p(
        _V,
        "utils/nca.py NCANetwork: jnp.pad(x, pad_width=1, mode='wrap') on the unbatched (H, W, 10) one-hot "
        "wraps the channel axis too: 12 input channels, kernel 3x3x12x4, fan-in 108",
    ),
    "patch_size": _p(_V, "--patch 2"),
    "seq_len": _p(
        _A,
        "--seq_len 1024; the official builds 27 frames (1026 tokens), shifts by one and keeps 1024 "
        "inputs + 1024 targets; our example is the 1024-token input window, so its last target "
        "(token 1024) is not predicted. Set seq_len 1025 for the exact official target set.",
    ),
    "loss_free_frames": _p(_V, "--min_grid 1: target[:38] = -100 before the shift (src/nca_ppt.py NCADataset)"),
    "burn_in": _p(_V, "--init_rollout_steps 10"),
    "identity_bias": _p(_V, "--identity_bias 0"),
    "temperature": _p(_V, "--temperature 1e-4 (the argparse default 0 is never used by the script)"),
    "probe_frames": _p(_V, "generate_rules_batch(n_steps=10) in src/nca_ppt.py"),
    "num_rules": _p(_V, "--train_num_rules 16000"),
    "eval_num_rules": _p(_V, "--val_num_rules 2000"),
    "sims_per_epoch": _p(_V, "train_num_sim 500 x batch 16 x grad-accum 2 = 16,000"),
    "rule_pool": _p(
        _V,
        "the code's `epoch+1 % generate_rules == 0` is true only at epoch 0, so the pool is fixed; "
        "set per_epoch for the README's intent",
    ),
    "epochs": _p(_V, "164 M tokens = 10 epochs of 16.4 M (paper; README recommends the epoch-10 checkpoint)"),
}


def _paper(name: str, summary: str, lower: float, upper: float, band_note: str, status: str = _V) -> Preset:
    values = dict(_SHARED_VALUES, band_lower=lower, band_upper=upper)
    provenance = dict(_SHARED_PROVENANCE, band_lower=_p(status, band_note), band_upper=_p(status, band_note))
    return Preset(
        name=name,
        summary=summary,
        values=values,
        provenance=provenance,
        source=Source(paper=PAPER, repo=REPO, note="scripts/prepretraining/nca_prepretraining.sh, utils/nca.py"),
    )


NCA_PRESETS = (
    _paper(
        "paper_web_text",
        "Lee et al.'s NCA data for web text: 12x12 grid, 10 states, gzip band 0.5-1.0, 16,000 rules.",
        0.5,
        1.0,
        "--filter_rules_threshold 0.5 --filter_rules_upper_bound 1.0 (script default; '50%+' for web text)",
    ),
    _paper(
        "paper_math",
        "Lee et al.'s NCA data for math (same band as web text: 0.5-1.0).",
        0.5,
        1.0,
        "paper/README: the 50%+ band is recommended for web text and math",
    ),
    _paper(
        "paper_code",
        "Lee et al.'s NCA data for code: gzip band 0.3-0.4 (from the README text; no script runs it).",
        0.3,
        0.4,
        "README text only ('30-40%' recommended for code, i.e. --filter_rules_threshold 0.3 "
        "--filter_rules_upper_bound 0.4); no script in the repo passes these values (the one "
        "pre-pre-training script runs the 0.5/1.0 default)",
        _A,
    ),
    _paper(
        "blog_20_30",
        "The blog's 20-30% complexity band (lowest band of its complexity figure).",
        0.2,
        0.3,
        f"{BLOG}: complexity figure bands 20-30/30-40/40-50/50%+; no script runs this band",
        _A,
    ),
    _paper(
        "blog_40_50",
        "The blog's 40-50% complexity band.",
        0.4,
        0.5,
        f"{BLOG}: complexity figure bands 20-30/30-40/40-50/50%+; no script runs this band",
        _A,
    ),
    Preset(
        name="smoke",
        summary="Tiny NCA for tests and smoke runs: 6x6 grid, 4 states, 8 frames of 11 tokens, 8 rules.",
        values={
            "grid_size": 6,
            "num_states": 4,
            "network": "official",
            "patch_size": 2,
            "seq_len": 88,
            "loss_free_frames": 1,
            "burn_in": 10,
            "identity_bias": 0.0,
            "temperature": 1e-4,
            "band_lower": 0.3,
            "band_upper": 1.0,
            "probe_frames": 10,
            "num_rules": 8,
            "eval_num_rules": 8,
            "sims_per_epoch": 64,
            "rule_pool": "fixed",
            "epochs": 1,
            "block_size": 8,
        },
        provenance={
            "grid_size": _p(_O, "tiny for tests"),
            "num_states": _p(_O, "tiny vocabulary: 4**4 + 2 = 258 ids"),
            "network": _p(_V, "the official channel-wrapped first layer (6 input channels at 4 states)"),
            "patch_size": _p(_V, "the paper's 2x2 patches"),
            "seq_len": _p(_O, "8 frames of 11 tokens"),
            "loss_free_frames": _p(_V, "--min_grid 1"),
            "burn_in": _p(_V, "--init_rollout_steps 10"),
            "identity_bias": _p(_V, "--identity_bias 0"),
            "temperature": _p(_V, "--temperature 1e-4"),
            "band_lower": _p(_O, "a wide band so tiny grids pass quickly"),
            "band_upper": _p(_V, "script default upper bound 1.0"),
            "probe_frames": _p(_V, "the official 10-frame probe"),
            "num_rules": _p(_O, "tiny pool"),
            "eval_num_rules": _p(_O, "tiny pool"),
            "sims_per_epoch": _p(_O, "tiny epoch"),
            "rule_pool": _p(_V, "what the official code does"),
            "epochs": _p(_O, "one epoch"),
            "block_size": _p(_O, "small blocks for tests"),
        },
        source=Source(paper=PAPER, repo=REPO, note="our sizes on the paper's generator"),
    ),
)


# --------------------------------------------------------------------------- specs

NCA = TaskSpec(
    name="nca",
    summary="Neural cellular automata rollouts as 2x2-patch tokens, rules filtered by gzip complexity (Lee et al. 2026).",
    config_cls=NCAConfig,
    factory="pptrain_nca.task:NCATask",
    citation=CITATION,
    presets=NCA_PRESETS,
    default_preset="paper_web_text",
)

NCA_ICL = MetricSpec(
    name="nca_icl",
    summary="NCA in-context probe: per-frame next-token loss and next-frame accuracy, train vs held-out rules.",
    kind="model",
    config_cls=NCAIclConfig,
    factory="pptrain_nca.icl:NCAIclMetric",
    citation=CITATION,
)
