"""pptrain 0.3.0's extension API for custom families, run on our data pipeline.

* :class:`SymbolicTaskFamily` (``sample_task`` -> ``execute_task`` -> ``serialize_task``)
  and :class:`TokenSequenceTask` (``sample_example``) subclasses become virtual datasets:
  example ``i`` is drawn from a generator seeded by ``(seed, split, i)``. A flat token list
  from ``serialize_task`` / ``sample_example`` carries loss on every token after the
  first, as 0.3.0 trained (prompt included); return ``(prompt_ids, answer_ids)`` instead
  to put the loss on the answer only, as our families do. ``max_length`` redraws an
  example up to ``max_sampling_attempts`` times, as 0.3.0 did (your family, your rule); the
  last token is kept (0.3.0 dropped it, so its models never learned to end a sequence).
* :class:`Task` subclasses implement ``build_datasets(seed)`` with materialised datasets;
  their items (``input_ids``, ``labels``) are read as examples, and labels that do not
  equal ``input_ids`` where they carry loss (pre-shifted labels) are refused.
* :func:`register_task` adds a family to the registry at run time, so ``create_task``,
  bundles and ``registered_tasks`` see it (in this process; publish a plugin for others).

The modern spelling is :class:`pptrain_core.data.SymbolicTask` in a plugin (docs/plugin-authoring.md).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, ClassVar

import attrs
import numpy as np

from pptrain._compat import note
from pptrain.integrations import TokenizerSpec
from pptrain.tasks import LegacyTask, TaskPreset, create_task, registered_presets, registered_tasks
from pptrain.training import PrePreTrainer, PrePreTrainingRun, RunConfig
from pptrain_core.data import Example, NumberNames
from pptrain_core.data import Task as CoreTask
from pptrain_core.data import TokenizerSpec as Vocabulary
from pptrain_core.errors import UserError
from pptrain_core.tasks import ResolvedTask


@dataclass
class DatasetBundle:
    """0.3.0's datasets of a :class:`Task`: train, eval, collator, metadata."""

    train_dataset: Any
    eval_dataset: Any | None = None
    data_collator: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class SymbolicTask:
    """0.3.0's sampled problem: a name, a payload, metadata."""

    name: str
    payload: Any
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExecutedSymbolicTask:
    """0.3.0's solved problem: a name, a payload (problem and answer), metadata."""

    name: str
    payload: Any
    metadata: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """0.3.0's lowest-level task: a vocabulary and ``build_datasets(seed)``."""

    name: ClassVar[str]

    def __init__(self, config: Any) -> None:
        self.config = config

    @abstractmethod
    def tokenizer_spec(self) -> TokenizerSpec: ...

    @abstractmethod
    def build_datasets(self, seed: int | None = None) -> DatasetBundle: ...

    def default_transfer_policy_name(self) -> str:
        return "reinit_embeddings"

    def export_config(self) -> dict[str, Any]:
        if is_dataclass(self.config):
            return asdict(self.config)
        if isinstance(self.config, Mapping):
            return dict(self.config)
        if attrs.has(type(self.config)):
            return attrs.asdict(self.config)
        return {"value": self.config}


class TokenSequenceTask(Task):
    """0.3.0's per-example task: ``sample_example(rng, spec) -> (tokens, metadata)``."""

    max_sampling_attempts: ClassVar[int] = 1

    @abstractmethod
    def sample_example(self, rng: np.random.Generator, spec: TokenizerSpec) -> tuple[Any, dict[str, Any]]: ...

    def build_datasets(self, seed: int | None = None) -> DatasetBundle:
        raise UserError(
            f"{type(self).__name__} is trained through pptrain.PrePreTrainer, which draws its examples on demand; "
            "build_datasets is not used."
        )


class SymbolicTaskFamily(TokenSequenceTask):
    """0.3.0's symbolic family: ``sample_task`` -> ``execute_task`` -> ``serialize_task``."""

    @abstractmethod
    def sample_task(self, rng: np.random.Generator) -> SymbolicTask: ...

    @abstractmethod
    def execute_task(self, task: SymbolicTask) -> ExecutedSymbolicTask: ...

    @abstractmethod
    def serialize_task(self, executed: ExecutedSymbolicTask, spec: TokenizerSpec) -> Any: ...

    def sample_example(self, rng: np.random.Generator, spec: TokenizerSpec) -> tuple[Any, dict[str, Any]]:
        task = self.sample_task(rng)
        executed = self.execute_task(task)
        return self.serialize_task(executed, spec), {**task.metadata, **executed.metadata}


# --------------------------------------------------------------------------- onto our pipeline


def _vocabulary(spec: TokenizerSpec) -> Vocabulary:
    sep = (spec.extra_token_ids or {}).get("sep")
    return Vocabulary(
        size=spec.vocab_size,
        names=NumberNames(""),
        pad_id=spec.pad_token_id,
        bos_id=spec.bos_token_id,
        eos_id=spec.eos_token_id,
        sep_id=sep,
    )


def _example(drawn: Any, family: str) -> Example:
    """A flat token list (loss on every token after the first) or ``(prompt, answer)`` (loss on the answer)."""
    if isinstance(drawn, tuple) and len(drawn) == 2 and not np.isscalar(drawn[0]):
        prompt, answer = (np.asarray(part, dtype=np.int64) for part in drawn)
        tokens = np.concatenate([prompt, answer])
        mask = np.zeros(len(tokens), dtype=np.int8)
        mask[len(prompt) :] = 1
    else:
        note(
            f"prompt_loss:{family}",
            f"family '{family}' returns one token list, so the loss is on every token, prompt included, as 0.3.0 "
            "trained; return (prompt_ids, answer_ids) to put it on the answer only.",
        )
        tokens = np.asarray(drawn, dtype=np.int64)
        mask = np.ones(len(tokens), dtype=np.int8)
    if len(tokens):
        mask[0] = 0
    return Example(tokens, mask, {})


class SampledFamilyTask(CoreTask):
    """A 0.3.0 :class:`TokenSequenceTask` as our task: example ``i`` from its own seeded generator."""

    def __init__(self, family: TokenSequenceTask):
        self.family = family
        self.config = family.config
        self.spec = family.tokenizer_spec()
        self.vocab = _vocabulary(self.spec)

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        limit = getattr(self.config, "max_length", None)
        if isinstance(self.config, Mapping):
            limit = self.config.get("max_length")
        attempts = max(int(self.family.max_sampling_attempts), 1)
        for _ in range(attempts):
            drawn, _meta = self.family.sample_example(rng, self.spec)
            example = _example(drawn, self.family.name)
            if not limit or len(example) <= limit + 1:
                return example
        raise UserError(
            f"family '{self.family.name}' drew no example of at most max_length={limit} tokens in {attempts} "
            "attempts; raise max_length or draw shorter examples."
        )


class DatasetFamilyTask(CoreTask):
    """A 0.3.0 :class:`Task` as our task: its materialised datasets, read by index (cyclically)."""

    def __init__(self, family: Task, seed: int = 0):
        self.family = family
        self.config = family.config
        self.vocab = _vocabulary(family.tokenizer_spec())
        self.bundle = family.build_datasets(seed=seed)

    def generate(self, rng: np.random.Generator, *, seed: int, split: str, index: int) -> Example:
        data = self.bundle.train_dataset if split == "train" else self.bundle.eval_dataset
        if data is None or len(data) == 0:
            raise UserError(f"family '{self.family.name}' built no {split} dataset; return one from build_datasets.")
        item = data[index % len(data)]
        ids = np.asarray(item["input_ids"], dtype=np.int64)
        labels = np.asarray(item.get("labels", ids), dtype=np.int64)
        if labels.shape != ids.shape:
            raise UserError(
                f"family '{self.family.name}': labels and input_ids of {split} example {index % len(data)} differ in "
                "length; labels must be input_ids with -100 where there is no loss (never shifted)."
            )
        carried = labels != -100
        if np.any(labels[carried] != ids[carried]):
            raise UserError(
                f"family '{self.family.name}': the labels of {split} example {index % len(data)} are not the input "
                "ids; they look shifted, and the model shifts them itself (0.3.0's NCA made this mistake): give "
                "labels equal to input_ids, with -100 where there is no loss."
            )
        mask = carried.astype(np.int8)
        if len(mask):
            mask[0] = 0
        return Example(ids, mask, {})


@attrs.frozen
class CustomConfig:
    """The config of a family added with :func:`register_task`: its 0.3.0 settings, as data."""

    values: dict[str, Any] = attrs.Factory(dict)


_CUSTOM: dict[str, Any] = {}


def _reload_registry() -> None:
    from pptrain_core import hookimpl
    from pptrain_core.plugins import Candidate, Registry, entry_point_candidates, reset_registry

    specs = dict(_CUSTOM)

    class CustomFamilies:
        """The run-time plugin that registers the :func:`register_task` families."""

        @hookimpl
        def register_tasks(self, register: Callable[[Any], None]) -> None:
            for spec in specs.values():
                register(spec)

    plugin = CustomFamilies()
    cand = Candidate(name="custom_0_3", load=lambda: plugin, distribution="pptrain", module="pptrain.core")
    reset_registry(Registry.load([*entry_point_candidates(), cand]))


def register_task(
    name: str,
    factory: Callable[[dict[str, Any]], Task],
    *,
    description: str = "",
    presets: tuple[TaskPreset, ...] = (),
) -> None:
    """0.3.0's ``register_task``: ``factory(config_dict)`` builds your family; ``presets`` are named dicts."""
    from pptrain_core.specs import Preset, Provenance, TaskSpec

    def build(config: CustomConfig) -> CoreTask:
        family = factory(dict(config.values))
        return _as_core_task(family)

    spec = TaskSpec(
        name=name,
        summary=description or f"custom family {name} (pptrain 0.3.0 register_task)",
        config_cls=CustomConfig,
        factory=build,
        presets=tuple(
            Preset(
                name=p.name,
                summary=p.description,
                values={"values": dict(p.config)},
                provenance={"values": Provenance("ours", p.reference)},
            )
            for p in presets
        ),
    )
    _CUSTOM[name] = spec
    _reload_registry()


def _as_core_task(family: Any) -> CoreTask:
    if isinstance(family, TokenSequenceTask):
        return SampledFamilyTask(family)
    if isinstance(family, Task):
        return DatasetFamilyTask(family)
    raise UserError(
        f"a custom family must subclass pptrain.core.SymbolicTaskFamily or Task, got {type(family).__name__}."
    )


def _setting(config: Any, key: str) -> Any:
    if isinstance(config, Mapping):
        return config.get(key)
    return getattr(config, key, None)


def as_resolved_task(task: Any) -> ResolvedTask:
    """A resolved task for the core trainer: ours as it is, a 0.3.0 family instance registered and wrapped."""
    if isinstance(task, ResolvedTask):
        return task
    if not isinstance(task, Task):
        raise UserError(
            f"task must be create_task(...) or a pptrain.core.Task / SymbolicTaskFamily, got {type(task).__name__}."
        )
    name = getattr(type(task), "name", None)
    if not isinstance(name, str) or not name:
        raise UserError(f"{type(task).__name__} needs a class attribute name = 'my_family'.")
    config = task.export_config()
    from pptrain_core.plugins import get_registry

    if name not in get_registry().tasks or name in _CUSTOM:
        built = task

        def factory(values: dict[str, Any]) -> Task:
            return built if values == config else type(built)(values)

        if name not in get_registry().tasks:
            register_task(name, factory, description=inspect.getdoc(type(task)) or "")
    spec = get_registry().task(name)
    seq = _setting(task.config, "sequence_count")
    ev = _setting(task.config, "eval_sequence_count")
    return LegacyTask(
        spec=spec,
        preset=None,
        config=CustomConfig(values=config),
        sequence_count=seq if isinstance(seq, int) and seq > 0 else None,
        eval_sequence_count=ev if isinstance(ev, int) and ev >= 0 else None,
        max_length=None,  # the family applies its own max_length by redrawing (see the module docstring)
    )


__all__ = [
    "DatasetBundle",
    "ExecutedSymbolicTask",
    "PrePreTrainer",
    "PrePreTrainingRun",
    "RunConfig",
    "SymbolicTask",
    "SymbolicTaskFamily",
    "Task",
    "TaskPreset",
    "TokenSequenceTask",
    "TokenizerSpec",
    "create_task",
    "register_task",
    "registered_presets",
    "registered_tasks",
]
