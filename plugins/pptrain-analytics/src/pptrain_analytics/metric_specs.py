"""The analytics metrics' configs and specs (light: attrs only, no torch).

Registered through ``register_metrics``. A metric's factory is called with its config
and returns an object with ``evaluate(model, [other,] **context)``; see
:mod:`pptrain_analytics.evaluate` for how ``pptrain evaluate`` calls it and
``docs/metrics.md`` for every definition, source and default.
"""

from __future__ import annotations

import attrs

from pptrain_analytics.probe_specs import CITATION as PROBE_CITATION
from pptrain_core.config import FieldValueError, at_least, in_range, one_of
from pptrain_core.specs import MetricSpec

# --------------------------------------------------------------------------- fine-tuning probes


@attrs.frozen
class FinetuneProbeConfig:
    """A fine-tuning probe: transfer a model into Jiang et al.'s tiny GPT-2, train it on the probe task.

    Defaults are sized for a laptop CPU (a few seconds to a minute). The paper's values:
    ``steps 10000, batch_size 1000, lr 1e-3 (cosine), warmup_steps 500, weight_decay
    0.001, eval_examples 4000, eval_every 50``, model ``n_layer 2, n_head 4, n_embd 16``,
    dropout 0, untied head.
    """

    preset: str = "paper"
    """Preset of the probe task (``paper`` or ``smoke``)."""
    policy: str = "mean_embeddings"
    """Transfer policy applied when a starting model is given (Jiang et al.: ``mean_embeddings``)."""
    steps: int = attrs.field(default=400, validator=at_least(1))
    """Optimizer steps (paper: 10,000 = 250 epochs of a 40,000-example virtual set at batch 1,000)."""
    batch_size: int = attrs.field(default=64, validator=at_least(1))
    """Sequences per step (paper: 1,000)."""
    lr: float = attrs.field(default=1e-3, validator=in_range(0.0, 10.0, low_open=True))
    """Peak learning rate (paper: 1e-3)."""
    schedule: str = attrs.field(default="cosine", validator=one_of("cosine", "constant", "linear"))
    """Learning-rate schedule after warm-up (paper: cosine to 0)."""
    warmup_steps: int = attrs.field(default=40, validator=at_least(0))
    """Linear warm-up steps (paper: 500, i.e. 5 % of the steps; the default keeps 10 %)."""
    weight_decay: float = attrs.field(default=0.001, validator=at_least(0.0))
    """AdamW weight decay (paper: 0.001)."""
    eval_examples: int = attrs.field(default=500, validator=at_least(1))
    """Held-out examples the accuracy is measured on (paper: 4,000)."""
    eval_every: int = attrs.field(default=50, validator=at_least(0))
    """Measure the accuracy every this many steps for the learning curve (paper: 50); 0: start and end only."""
    n_layer: int = attrs.field(default=2, validator=at_least(1))
    """Probe model depth (paper: 2). A starting model must have the same architecture."""
    n_head: int = attrs.field(default=4, validator=at_least(1))
    """Attention heads (paper: 4)."""
    n_embd: int = attrs.field(default=16, validator=at_least(1))
    """Width (paper: 16)."""
    n_positions: int = attrs.field(default=0, validator=at_least(0))
    """Position-embedding rows; 0: the paper's value for the task (needle 100, reversed addition 40)."""
    seed: int = attrs.field(default=0, validator=at_least(0))
    """Data seed: which training and eval examples (example i is a function of (seed, split, i))."""
    model_seed: int = attrs.field(default=0, validator=at_least(0))
    """Seed of the probe model's fresh initialisation (what the transfer does not overwrite)."""
    output_dir: str = ""
    """Keep the fine-tuning run (metrics.jsonl, loss curve) here; empty: a temporary directory."""

    def __attrs_post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise FieldValueError("n_embd", f"{self.n_embd} is not a multiple of n_head {self.n_head}")
        if self.warmup_steps >= self.steps and self.warmup_steps:
            raise FieldValueError("warmup_steps", f"{self.warmup_steps} leaves no step after warm-up of {self.steps}")


# --------------------------------------------------------------------------- representation metrics


@attrs.frozen(kw_only=True)
class InputsConfig:
    """Which token ids the representation metrics read.

    From ``--task REF`` (the eval split, examples joined and cut into windows), else the
    bundle's own task, else uniform random ids from the stream ``(seed, "analytics-inputs")``.
    """

    n_sequences: int = attrs.field(default=16, validator=at_least(1))
    """Windows of token ids."""
    seq_len: int = attrs.field(default=64, validator=at_least(2))
    """Tokens per window."""
    seed: int = attrs.field(default=0, validator=at_least(0))
    """Seed of the random ids (and of which task examples are read)."""
    batch_size: int = attrs.field(default=8, validator=at_least(1))
    """Windows per forward pass."""


@attrs.frozen(kw_only=True)
class CKAConfig(InputsConfig):
    """Layer-wise linear CKA between two models' hidden states on the same inputs."""


@attrs.frozen(kw_only=True)
class PredictionDivergenceConfig(InputsConfig):
    """KL and Jensen-Shannon divergence of two models' next-token distributions."""


@attrs.frozen(kw_only=True)
class EffectiveRankConfig(InputsConfig):
    """Roy & Vetterli's effective rank of hidden states and/or weight matrices."""

    of: str = attrs.field(default="both", validator=one_of("both", "hidden_states", "weights"))
    """``hidden_states`` (one token-by-width matrix per layer), ``weights`` (every 2-D parameter) or ``both``."""
    center: bool = True
    """Subtract the mean hidden state before the SVD (the mean would otherwise dominate one singular value)."""


@attrs.frozen(kw_only=True)
class InductionHeadConfig:
    """Olsson et al.'s prefix-matching score on a random block repeated twice."""

    n_sequences: int = attrs.field(default=16, validator=at_least(1))
    """Sequences, each a fresh random block followed by the same block again."""
    block_len: int = attrs.field(default=32, validator=at_least(2))
    """Tokens in the random block (the sequence has 2 * block_len)."""
    seed: int = attrs.field(default=0, validator=at_least(0))
    batch_size: int = attrs.field(default=8, validator=at_least(1))


# --------------------------------------------------------------------------- specs

_OLSSON = "Olsson et al. 2022, In-context Learning and Induction Heads, arXiv 2209.11895"
_KORNBLITH = "Kornblith, Norouzi, Lee, Hinton 2019, Similarity of Neural Network Representations Revisited, ICML"
_ROY = "Roy & Vetterli 2007, The effective rank: a measure of effective dimensionality, EUSIPCO"
_LIN = "Lin 1991, Divergence measures based on the Shannon entropy, IEEE Trans. Inf. Theory"

METRICS: list[MetricSpec] = [
    MetricSpec(
        name="needle",
        summary="Fine-tuning probe: transfer into a tiny GPT-2, train on needle-in-a-haystack, answer-token accuracy.",
        kind="model",
        config_cls=FinetuneProbeConfig,
        factory="pptrain_analytics.finetune:NeedleProbe",
        citation=PROBE_CITATION,
    ),
    MetricSpec(
        name="reversed_addition",
        summary="Fine-tuning probe: transfer into a tiny GPT-2, train on reversed addition, answer-digit accuracy.",
        kind="model",
        config_cls=FinetuneProbeConfig,
        factory="pptrain_analytics.finetune:ReversedAdditionProbe",
        citation=PROBE_CITATION,
    ),
    MetricSpec(
        name="cka",
        summary="Layer-wise linear CKA between two models' hidden states on the same inputs (1 = same geometry).",
        kind="pair",
        config_cls=CKAConfig,
        factory="pptrain_analytics.representations:CKAMetric",
        citation=_KORNBLITH,
    ),
    MetricSpec(
        name="prediction_divergence",
        summary="Mean KL(p||q), KL(q||p) and Jensen-Shannon divergence of two models' next-token distributions.",
        kind="pair",
        config_cls=PredictionDivergenceConfig,
        factory="pptrain_analytics.representations:PredictionDivergenceMetric",
        citation=_LIN,
    ),
    MetricSpec(
        name="induction_head_score",
        summary="Per head: attention from a repeated token to the token after its earlier occurrence (max reported).",
        kind="model",
        config_cls=InductionHeadConfig,
        factory="pptrain_analytics.representations:InductionHeadMetric",
        citation=_OLSSON,
    ),
    MetricSpec(
        name="effective_rank",
        summary="Entropy effective rank (exp of the entropy of normalised singular values) of hidden states and weights.",
        kind="model",
        config_cls=EffectiveRankConfig,
        factory="pptrain_analytics.representations:EffectiveRankMetric",
        citation=_ROY,
    ),
]
