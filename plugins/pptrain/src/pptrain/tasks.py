"""pptrain 0.3.0's task API on our registry: ``create_task(name, {...})``, presets, listings.

``create_task("dyck:small_k8", k=4)`` is the modern spelling and returns the core's
:class:`~pptrain_core.tasks.ResolvedTask`. ``create_task("dyck", {"preset": ..., ...})``
is 0.3.0's: it resolves the preset through :mod:`pptrain.legacy_presets` (0.3.0 names are
aliases of ours, or refused when there is no honest counterpart) and keeps the
dataset-level settings 0.3.0 put in the task config (``sequence_count``,
``eval_sequence_count``, ``max_length``) on the returned :class:`LegacyTask`, where
:class:`pptrain.PrePreTrainer` turns them into run settings. Each 0.3.0 spelling gives one
``DeprecationWarning`` naming the modern one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import attrs

from pptrain._compat import note
from pptrain.legacy_presets import Alias, Refused, legacy_preset
from pptrain_core.config import unstructure
from pptrain_core.data import Example, Task, example_at
from pptrain_core.errors import UserError, quote
from pptrain_core.plugins import get_registry
from pptrain_core.tasks import ResolvedTask, resolve, split_ref
from pptrain_core.tasks import create_task as _core_create_task

#: 0.3.0 task-config keys that are dataset settings here, not task settings.
DATASET_KEYS = ("sequence_count", "eval_sequence_count", "max_length")
#: 0.3.0 setting names with the same meaning under another name.
RENAMED = {"dyck": {"num_bracket_types": "k"}}
#: 0.3.0 simpler_tasks task names that are spelled differently here.
SIMPLER_TASK_NAMES = {"identity": "copy", "first_token": "first_char", "last_token": "last_char"}


@attrs.frozen
class TaskPreset:
    """0.3.0's preset record: name, description, the config values, and the reference."""

    name: str
    description: str
    config: dict[str, Any]
    reference: str = ""


@attrs.frozen
class RegisteredTask:
    """0.3.0's task listing entry: name, description and presets."""

    name: str
    description: str
    presets: tuple[TaskPreset, ...] = ()


def _preset_record(preset: Any) -> TaskPreset:
    return TaskPreset(
        name=preset.name,
        description=preset.summary,
        config=unstructure(dict(preset.values)),
        reference=preset.source.paper,
    )


def registered_presets(name: str) -> tuple[TaskPreset, ...]:
    """Our presets of task ``name``, sorted by name (0.3.0's spelling of ``pptrain presets TASK``)."""
    spec = get_registry().task(name)
    return tuple(_preset_record(p) for p in sorted(spec.presets, key=lambda p: p.name))


def registered_tasks() -> tuple[RegisteredTask, ...]:
    """Every installed task family with its presets (0.3.0's spelling of ``pptrain list-tasks``)."""
    reg = get_registry()
    return tuple(
        RegisteredTask(name=name, description=reg.tasks[name].summary, presets=registered_presets(name))
        for name in sorted(reg.tasks)
    )


# --------------------------------------------------------------------------- a dataset of fixed size


class FixedSizeTask(Task):
    """``inner`` with ``sizes[split]`` distinct examples per split, read again and again.

    Example ``i`` of a sized split is ``inner``'s example ``i mod size``: a run longer than
    the dataset repeats it epoch by epoch, in the same order (0.3.0 reshuffled each epoch;
    the examples are i.i.d. draws either way). Splits without a size are ``inner``'s own.
    """

    def __init__(self, inner: Task, sizes: Mapping[str, int]):
        self.inner = inner
        self.sizes = {k: int(v) for k, v in sizes.items() if v}
        self.config = inner.config
        self.vocab = inner.vocab
        self._cache: OrderedDict[Any, list[Example]] = OrderedDict()

    def generate(self, rng: Any, *, seed: int, split: str, index: int) -> Example:
        size = self.sizes.get(split)
        position = index % size if size else index
        return example_at(self.inner, seed, split, position, cache=self._cache)

    def render(self, example: Example) -> str:
        return self.inner.render(example)

    def max_example_tokens(self) -> int | None:
        return self.inner.max_example_tokens()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state


@attrs.frozen
class LegacyTask(ResolvedTask):
    """A resolved task built from 0.3.0's ``create_task(name, config)``, with its dataset settings."""

    sequence_count: int | None = None
    """Distinct training examples (0.3.0's dataset size): the training split cycles over them."""
    eval_sequence_count: int | None = None
    """Evaluation examples: becomes ``RunConfig(eval_examples=...)``."""
    max_length: int | None = None
    """Longest example in tokens: becomes ``RunConfig(seq_len=...)`` (longer examples are cut)."""
    legacy_preset: str | None = None
    """The 0.3.0 preset name given, when it was an alias."""

    @property
    def name(self) -> str:
        """The family name (0.3.0's ``task.name``)."""
        return self.spec.name

    def export_config(self) -> dict[str, Any]:
        """The resolved config as plain data (0.3.0's ``task.export_config()``)."""
        return unstructure(self.config)

    def build(self) -> Any:
        built = super().build()
        if not self.sequence_count:
            return built
        if getattr(built, "window_view", lambda: None)() is not None:
            raise UserError(
                f"sequence_count cannot be applied to task '{self.spec.name}', which is a function of each training "
                "window; leave sequence_count out and set the run's budget with RunConfig(max_steps=...)."
            )
        return FixedSizeTask(built, {"train": self.sequence_count})

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["pptrain_0_3"] = {
            "sequence_count": self.sequence_count,
            "eval_sequence_count": self.eval_sequence_count,
            "max_length": self.max_length,
            "legacy_preset": self.legacy_preset,
        }
        return out


def _count(value: Any, key: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"$.task.params.{key}: expected an integer of at least {minimum}, got {quote(value)}.")
    return value


def _legacy_create(name: str, config: Mapping[str, Any]) -> LegacyTask:
    family, ref_preset = split_ref(name)
    params = dict(config)
    preset = params.pop("preset", None)
    if preset is not None and ref_preset is not None:
        raise UserError(f"$.task.params.preset: the preset is given twice ({name!r} and {preset!r}); give it once.")
    preset = preset if preset is not None else ref_preset
    get_registry().task(family)  # unknown family: one sentence with the installed ones
    sizes: dict[str, Any] = {k: params.pop(k) for k in DATASET_KEYS if k in params}
    for old, new in RENAMED.get(family, {}).items():
        if old in params:
            if new in params:
                raise UserError(f"$.task.params.{old}: give {old} (0.3.0) or {new}, not both.")
            note(
                f"rename:{family}:{old}", f"{family}'s '{old}' is spelled '{new}' now; it means the same.", stacklevel=4
            )
            params[new] = params.pop(old)
    if family == "simpler_tasks" and isinstance(params.get("tasks"), (list, tuple)):
        renamed = [SIMPLER_TASK_NAMES.get(t, t) if isinstance(t, str) else t for t in params["tasks"]]
        if renamed != list(params["tasks"]):
            note(
                "rename:simpler_tasks:tasks",
                "simpler_tasks names identity, first_token and last_token are copy, first_char and last_char now.",
                stacklevel=4,
            )
            params["tasks"] = renamed
    ref, legacy_name = family, None
    if preset is not None:
        if not isinstance(preset, str):
            raise UserError(f"$.task.params.preset: expected a preset name, got {quote(preset)}.")
        mapped = legacy_preset(family, preset)
        if isinstance(mapped, Refused):
            raise UserError(f"$.task.params.preset: {family} preset '{preset}' is refused: {mapped.reason}")
        if isinstance(mapped, Alias):
            legacy_name = preset
            ref = mapped.target
            params = {**mapped.params, **params}
            if mapped.sequence_count is not None:
                sizes.setdefault("sequence_count", mapped.sequence_count)
            if mapped.eval_sequence_count is not None:
                sizes.setdefault("eval_sequence_count", mapped.eval_sequence_count)
            note(
                f"preset:{family}:{preset}",
                f"pptrain 0.3.0 preset {family}:{preset} is create_task({mapped.target!r}) now; it differs: "
                f"{mapped.differs}.",
                stacklevel=4,
            )
        else:
            ref = f"{family}:{preset}"
    resolved = resolve(ref, params)
    note(
        "create_task",
        f"create_task({family!r}, {{...}}) is pptrain 0.3.0's spelling; write create_task({resolved.ref!r}, "
        "**overrides) and give the dataset settings to the run: RunConfig(max_steps=... or max_tokens=..., "
        "eval_examples=..., seq_len=...).",
        stacklevel=4,
    )
    seq = _count(sizes["sequence_count"], "sequence_count", minimum=1) if "sequence_count" in sizes else None
    ev = (
        _count(sizes["eval_sequence_count"], "eval_sequence_count", minimum=0)
        if "eval_sequence_count" in sizes
        else None
    )
    max_len = _count(sizes["max_length"], "max_length", minimum=2) if "max_length" in sizes else None
    if seq is not None:
        note(
            "sequence_count",
            f"sequence_count={seq}: the training split cycles over {seq} distinct examples (0.3.0's dataset size); "
            "the modern spelling draws fresh examples for every step: leave it out and set RunConfig(max_steps=...).",
            stacklevel=4,
        )
    if max_len is not None and "max_length" in config:
        note(
            "max_length",
            f"max_length={max_len} now cuts longer examples at {max_len} tokens (RunConfig(seq_len={max_len})); "
            "0.3.0 redrew examples until one fit, which skewed the lengths toward short ones. Cut symbolic "
            "examples lose their answer tokens, so choose a max_length that fits the preset's examples.",
            stacklevel=4,
        )
    return LegacyTask(
        spec=resolved.spec,
        preset=resolved.preset,
        config=resolved.config,
        sequence_count=seq,
        eval_sequence_count=ev,
        max_length=max_len if "max_length" in config else None,
        legacy_preset=legacy_name,
    )


def create_task(name: str, config: Mapping[str, Any] | None = None, /, **params: Any) -> ResolvedTask:
    """``create_task("dyck:small_k8", k=4)`` (modern) or ``create_task("dyck", {"preset": "paper_k8", ...})`` (0.3.0)."""
    if config is None:
        return _core_create_task(name, **params)
    if not isinstance(config, Mapping):
        raise UserError(
            f"create_task's second argument must be a mapping of settings (0.3.0's config dict), got {quote(config)}."
        )
    if params:
        raise UserError("create_task takes settings either as a mapping (0.3.0) or as keywords, not both.")
    return _legacy_create(name, config)
