"""The small frozen objects plugins register through the hooks.

Specs are cheap to import: they carry names, summaries, citations, config classes and
presets, and name their heavy code by a *lazy factory*, either a ``"module:attr"``
string or a callable that imports inside. Discovery (``pptrain list-tasks``) therefore
never imports torch or a family's generator code.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

Factory = str | Callable[..., Any]


def _check_name(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not _NAME.match(value):
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} {value!r} must be lower-case letters, "
            "digits and underscores, starting with a letter"
        )


def _check_config_cls(instance: Any, attribute: attrs.Attribute, value: type) -> None:
    if not attrs.has(value):
        raise TypeError(f"{type(instance).__name__}.config_cls must be an attrs class, got {value!r}")


def _check_factory(instance: Any, attribute: attrs.Attribute, value: Factory) -> None:
    if isinstance(value, str):
        if value.count(":") != 1 or not all(value.split(":")):
            raise ValueError(f"factory {value!r} must look like 'package.module:attribute'")
    elif not callable(value):
        raise TypeError(f"factory must be a 'module:attr' string or a callable, got {value!r}")


def resolve_factory(factory: Factory) -> Callable[..., Any]:
    """Import and return the object a lazy factory names."""
    if callable(factory):
        return factory
    module_name, _, attr_path = factory.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


@attrs.frozen
class Source:
    """Where a preset's numbers come from."""

    paper: str = ""
    """Citation of the paper, e.g. ``"Jiang et al. 2026, arXiv 2601.21725"``."""
    repo: str = ""
    """Official repository and the commit read, e.g. ``"zlshinnick/procedural-pretraining@5356d9e"``."""
    note: str = ""


Status = Literal["verified", "approximate", "ours"]
STATUSES: tuple[str, ...] = ("verified", "approximate", "ours")


@attrs.frozen
class Provenance:
    """How much one preset value can be trusted.

    ``verified``: read in the official code or paper; ``approximate``: close to the paper
    but not identical (documented why); ``ours``: our own choice, not from the paper.
    """

    status: Status = attrs.field(validator=attrs.validators.in_(STATUSES))
    note: str = ""


@attrs.frozen
class Preset:
    """A named overlay of config values, with the provenance of each value."""

    name: str = attrs.field(validator=_check_name)
    summary: str
    values: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)
    provenance: Mapping[str, Provenance] = attrs.field(factory=dict, converter=dict)
    source: Source = attrs.field(factory=Source)

    def __attrs_post_init__(self) -> None:
        missing = sorted(set(self.values) - set(self.provenance))
        if missing:
            raise ValueError(f"preset {self.name!r} gives no provenance for {', '.join(missing)}")

    def status(self) -> str:
        """The weakest provenance of its values: one word for listings."""
        order = {s: i for i, s in enumerate(STATUSES)}
        if not self.provenance:
            return "ours"
        return max((p.status for p in self.provenance.values()), key=order.__getitem__)


@attrs.frozen
class TaskSpec:
    """A task family: what it generates, how it is configured, and how to build it.

    ``factory(config)`` returns a :class:`pptrain_core.data.Task`.
    """

    name: str = attrs.field(validator=_check_name)
    summary: str
    config_cls: type = attrs.field(validator=_check_config_cls)
    factory: Factory = attrs.field(validator=_check_factory)
    citation: str = ""
    presets: tuple[Preset, ...] = attrs.field(default=(), converter=tuple)
    default_preset: str | None = None

    def __attrs_post_init__(self) -> None:
        names = [p.name for p in self.presets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"task {self.name!r} defines preset {dupes[0]!r} twice")
        if self.default_preset is not None and self.default_preset not in names:
            raise ValueError(f"task {self.name!r}: default preset {self.default_preset!r} is not defined")
        fields = {f.name for f in attrs.fields(self.config_cls)}
        for p in self.presets:
            unknown = sorted(set(p.values) - fields)
            if unknown:
                raise ValueError(f"task {self.name!r}, preset {p.name!r}: unknown field {unknown[0]!r}")

    def preset(self, name: str) -> Preset:
        for p in self.presets:
            if p.name == name:
                return p
        raise KeyError(name)

    def build(self, config: Any) -> Any:
        """Import the family's code and build the task for a resolved config."""
        return resolve_factory(self.factory)(config)


@attrs.frozen
class TokenizerProviderSpec:
    """A way to turn a task vocabulary into a real tokenizer (e.g. an HF fast tokenizer).

    ``factory(vocab: TokenizerSpec, config)`` returns the tokenizer.
    """

    name: str = attrs.field(validator=_check_name)
    summary: str
    config_cls: type = attrs.field(validator=_check_config_cls)
    factory: Factory = attrs.field(validator=_check_factory)


@attrs.frozen
class ModelAdapterSpec:
    """A model builder that also classifies every parameter by role.

    ``factory(config)`` returns an adapter object (see the trainer documentation).
    """

    name: str = attrs.field(validator=_check_name)
    summary: str
    config_cls: type = attrs.field(validator=_check_config_cls)
    factory: Factory = attrs.field(validator=_check_factory)


@attrs.frozen
class TransferPolicySpec:
    """What a transfer copies, re-initialises or freezes, written against parameter roles.

    ``factory(config)`` returns a policy object.
    """

    name: str = attrs.field(validator=_check_name)
    summary: str
    config_cls: type = attrs.field(validator=_check_config_cls)
    factory: Factory = attrs.field(validator=_check_factory)
    citation: str = ""


MetricKind = Literal["model", "pair", "run"]


@attrs.frozen
class MetricSpec:
    """An analytics metric or probe.

    ``kind`` says what it reads: one ``model``, a ``pair`` of models, or a finished ``run``.
    ``factory(config)`` returns the metric object.
    """

    name: str = attrs.field(validator=_check_name)
    summary: str
    kind: MetricKind = attrs.field(validator=attrs.validators.in_(("model", "pair", "run")))
    config_cls: type = attrs.field(validator=_check_config_cls)
    factory: Factory = attrs.field(validator=_check_factory)
    citation: str = ""


#: hook name -> (spec class, registry attribute, human word)
KINDS: dict[str, tuple[type, str]] = {
    "register_tasks": (TaskSpec, "task"),
    "register_tokenizers": (TokenizerProviderSpec, "tokenizer"),
    "register_model_adapters": (ModelAdapterSpec, "model adapter"),
    "register_transfer_policies": (TransferPolicySpec, "transfer policy"),
    "register_metrics": (MetricSpec, "metric"),
}
