"""The ``pptrain compare`` config: strict attrs classes (no torch), errors as ``$.path`` sentences.

See ``docs/compare.md`` for the reference. Checks that need the registry (does the task,
the policy, the adapter exist? is the bundle valid?) happen in
:func:`pptrain_analytics.compare.resolve_compare`, still before anything is written.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from pptrain_analytics.corpus_specs import CorpusConfig, TokenizerConfig
from pptrain_core.config import FieldValueError, at_least, in_range, one_of

ARM_KINDS = ("scratch", "bundle", "synthetic", "shuffled", "natural")
DESIGNS = ("additive", "substitutive")
SCHEDULES = ("constant", "cosine", "linear")
_ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: arm kind -> (fields it needs, fields it accepts)
ARM_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "scratch": (set(), set()),
    "bundle": ({"bundle"}, {"bundle", "policy", "policy_params"}),
    "synthetic": ({"task"}, {"task", "params", "policy", "policy_params"}),
    "shuffled": ({"task"}, {"task", "params", "policy", "policy_params", "keep_first"}),
    "natural": (set(), {"policy", "policy_params"}),
}


def _to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@attrs.frozen
class ArmConfig:
    """One arm of the comparison.

    ``scratch``: downstream training only. ``synthetic``: pre-pretrain on ``task``
    (``TASK[:PRESET]``, ``params`` on top) for the synthetic budget, transfer with
    ``policy`` (default ``reinit_embeddings``), then downstream. ``shuffled``: the same with
    the task's tokens permuted within each sequence. ``natural``: the synthetic budget of
    natural text from the downstream corpus first (transfer ``policy`` default ``full``: the
    model continues as it is), then downstream. ``bundle``: transfer an existing ``bundle``
    (``policy`` default: the bundle's suggestion), then downstream.
    """

    name: str
    kind: str = attrs.field(validator=one_of(*ARM_KINDS))
    task: str | None = None
    params: dict[str, Any] = attrs.Factory(dict)
    policy: str | None = None
    policy_params: dict[str, Any] = attrs.Factory(dict)
    bundle: str | None = None
    keep_first: bool = True
    """shuffled: keep each sequence's first token in place."""

    def __attrs_post_init__(self) -> None:
        if not _ARM_NAME.match(self.name) or self.name in (".", ".."):
            raise FieldValueError(
                "name", f"{self.name!r} must be letters, digits, '_', '-' or '.', starting with a letter or digit"
            )
        needed, accepted = ARM_FIELDS[self.kind]
        defaults = {f.name: f.default for f in attrs.fields(type(self))}
        given = set()
        for field in ("task", "params", "policy", "policy_params", "bundle", "keep_first"):
            value, default = getattr(self, field), defaults[field]
            if isinstance(default, attrs.Factory):
                default = default.factory()
            if value != default:
                given.add(field)
        for field in sorted(needed - given):
            example = {"task": "e.g. task: dyck:paper_k64", "bundle": "the bundle/ folder of a finished run"}[field]
            raise FieldValueError(field, f"is required for an arm of kind {self.kind!r} ({example})")
        extra = sorted(given - accepted)
        if extra:
            raise FieldValueError(extra[0], f"does not apply to an arm of kind {self.kind!r}; remove it")

    @property
    def pre_pretrains(self) -> bool:
        """Whether this arm has a phase before the downstream stage that spends the synthetic budget."""
        return self.kind in ("synthetic", "shuffled", "natural")


@attrs.frozen
class ModelSection:
    """The downstream model (every arm, and every phase of an arm, uses this architecture)."""

    adapter: str = "hf_causal_lm"
    params: dict[str, Any] = attrs.Factory(dict)


@attrs.frozen
class DownstreamConfig:
    """The downstream stage: budget ``tokens`` (input tokens, ``seq_len`` per window) and optimiser."""

    tokens: int = attrs.field(validator=at_least(1))
    seq_len: int = attrs.field(default=128, validator=at_least(2))
    batch_size: int = attrs.field(default=8, validator=at_least(1))
    lr: float = attrs.field(default=1e-3, validator=in_range(0.0, 10.0, low_open=True))
    schedule: str = attrs.field(default="cosine", validator=one_of(*SCHEDULES))
    warmup_steps: int = attrs.field(default=0, validator=at_least(0))
    weight_decay: float = attrs.field(default=0.0, validator=at_least(0.0))
    eval_every_tokens: int = attrs.field(default=0, validator=at_least(0))
    """Evaluate every this many downstream tokens (rounded to whole steps); 0: at the start and the end only."""
    eval_windows: int = attrs.field(default=64, validator=at_least(1))
    """Validation windows scored at every evaluation (the same windows for every arm and seed)."""
    eval_batch_size: int = attrs.field(default=0, validator=at_least(0))
    val_fraction: float = attrs.field(default=0.1, validator=in_range(0.0, 1.0, low_open=True, high_open=True))


@attrs.frozen
class SyntheticConfig:
    """The phase before the downstream stage (synthetic, shuffled and natural arms): budget and optimiser."""

    tokens: int = attrs.field(validator=at_least(1))
    batch_size: int = attrs.field(default=0, validator=at_least(0))
    """0: the downstream batch size."""
    seq_len: int = attrs.field(default=0, validator=at_least(0))
    """Packed window length; 0: the downstream seq_len."""
    collation: str = attrs.field(default="pack", validator=one_of("pack", "pad"))
    """``pack``: fixed windows (token budget exact); ``pad``: one example per row (budget from the mean length)."""
    lr: float = attrs.field(default=1e-3, validator=in_range(0.0, 10.0, low_open=True))
    schedule: str = attrs.field(default="cosine", validator=one_of(*SCHEDULES))
    warmup_steps: int = attrs.field(default=0, validator=at_least(0))
    weight_decay: float = attrs.field(default=0.0, validator=at_least(0.0))


@attrs.frozen
class ProbeConfig:
    """A metric run for every (arm, seed) through ``pptrain_analytics.evaluate``.

    ``on: start``: on what the arm transfers (its bundle; nothing for scratch: a probe
    from scratch). ``on: final``: on the downstream model at the end (saved for it).
    """

    metric: str
    params: dict[str, Any] = attrs.Factory(dict)
    on: str = attrs.field(default="final", validator=one_of("start", "final"))


@attrs.frozen
class CompareConfig:
    output_dir: str
    downstream: DownstreamConfig
    arms: tuple[ArmConfig, ...] = attrs.field(converter=_to_tuple)
    seeds: tuple[int, ...] = attrs.field(default=(0,), converter=_to_tuple)
    design: str = attrs.field(default="additive", validator=one_of(*DESIGNS))
    baseline: str = "scratch"
    corpus: CorpusConfig = attrs.Factory(lambda: CorpusConfig(name="pydoc_topics"))
    tokenizer: TokenizerConfig = attrs.Factory(TokenizerConfig)
    cache_dir: str | None = None
    model: ModelSection = attrs.Factory(ModelSection)
    synthetic: SyntheticConfig | None = None
    probes: tuple[ProbeConfig, ...] = attrs.field(default=(), converter=_to_tuple)

    def __attrs_post_init__(self) -> None:
        if not self.output_dir:
            raise FieldValueError("output_dir", "must not be empty, e.g. output_dir: runs/compare-tiny")
        if not self.arms:
            raise FieldValueError("arms", "needs at least one arm, e.g. - {name: scratch, kind: scratch}")
        if not self.seeds:
            raise FieldValueError("seeds", "needs at least one seed, e.g. seeds: [0, 1, 2]")
        for i, seed in enumerate(self.seeds):
            if seed < 0:
                raise FieldValueError(f"seeds[{i}]", f"must be non-negative, got {seed}")
        if len(set(self.seeds)) != len(self.seeds):
            raise FieldValueError("seeds", f"lists a seed twice: {list(self.seeds)}")
        names = [a.name for a in self.arms]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise FieldValueError(f"arms[{i}].name", f"{name!r} is used by two arms; arm names must be unique")
        if self.baseline not in names:
            from pptrain_core.errors import did_you_mean

            raise FieldValueError("baseline", f"{self.baseline!r} is not an arm{did_you_mean(self.baseline, names)}")
        needs = [i for i, a in enumerate(self.arms) if a.pre_pretrains]
        if needs and self.synthetic is None:
            kind = self.arms[needs[0]].kind
            raise FieldValueError(
                "synthetic", f"is required by arm {names[needs[0]]!r} (kind {kind}): e.g. synthetic: {{tokens: 200000}}"
            )
        if (
            self.design == "substitutive"
            and self.synthetic is not None
            and self.synthetic.tokens >= self.downstream.tokens
        ):
            raise FieldValueError(
                "synthetic.tokens",
                f"must be less than downstream.tokens ({self.downstream.tokens}) in the substitutive design, "
                f"which gives pre-pretrained arms downstream.tokens - synthetic.tokens downstream tokens; "
                f"got {self.synthetic.tokens}",
            )
        for i, probe in enumerate(self.probes):
            if not probe.metric:
                raise FieldValueError(f"probes[{i}].metric", "must name a metric, e.g. needle")
