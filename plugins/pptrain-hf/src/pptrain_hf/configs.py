"""The adapters' config classes: attrs, strict, and light (no torch, no transformers at import).

Validation that needs transformers (is ``model_type`` known? is every override a key of
that config?) imports it inside the validator, so only a config that names a model type
pays for it, and discovery (``pptrain plugins``) never does.
"""

from __future__ import annotations

import functools
import importlib
import math
import re
from collections.abc import Mapping
from typing import Any

import attrs

from pptrain_core.config import FieldValueError
from pptrain_core.errors import closest, did_you_mean
from pptrain_core.models import ROLES

#: Keys an override may not set: the task decides the vocabulary, ``model_type`` picks the class.
RESERVED_OVERRIDES = {
    "vocab_size": "the vocabulary size follows the task; remove it",
    "model_type": "set model_type as its own field, not as an override",
}

_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
#: Factories this plugin ships and vouches for: a bundle may name them without the user's say-so.
OWN_FACTORIES = frozenset({"pptrain_hf.examples:tiny_transformer_lm", "pptrain_hf.examples:tiny_gru_lm"})


def is_hub_kernel(attn_implementation: str | None) -> bool:
    """Whether transformers would fetch this attention implementation (code) from the Hub.

    transformers reads ``org/repo[@revision][:name]`` as a Hub kernel; any ``/`` or ``:``
    counts here, which is a little wider than its pattern and never narrower.
    """
    return attn_implementation is not None and ("/" in attn_implementation or ":" in attn_implementation)


def json_problem(value: Any) -> str | None:
    """Why ``value`` is not plain JSON data (``None`` when it is).

    Plain JSON data: strings, finite numbers, booleans, null, and lists and string-keyed
    mappings of those. Anything else would not survive a config file or ``bundle.json``.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a finite number"
    if isinstance(value, list):
        for i, item in enumerate(value):
            problem = json_problem(item)
            if problem:
                return f"item {i}: {problem}"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"mapping key {key!r} is not a string"
            problem = json_problem(item)
            if problem:
                return f"{key}: {problem}"
        return None
    return (
        f"expected a JSON value (string, number, boolean, null, list or mapping), got {type(value).__name__} {value!r}"
    )


def _check_json_mapping(instance: Any, attribute: attrs.Attribute, value: Mapping[str, Any]) -> None:
    for key, item in value.items():
        problem = json_problem(item)
        if problem:
            raise FieldValueError(f"{attribute.name}.{key}", problem)


# --------------------------------------------------------------------------- transformers look-ups


@functools.lru_cache(maxsize=1)
def _known_model_types() -> tuple[frozenset[str], frozenset[str]]:
    """(every config ``model_type`` transformers knows, those with an ``AutoModelForCausalLM`` class)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return frozenset(CONFIG_MAPPING_NAMES), frozenset(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)


def model_type_problem(model_type: str) -> str | None:
    """Why ``model_type`` cannot be built as a causal LM (``None`` when it can)."""
    known, causal = _known_model_types()
    if model_type in causal:
        return None
    if model_type in known:
        near = closest(model_type, causal)
        hint = " or ".join(f"'{c}'" for c in near) if near else "'gpt2', 'llama' or 'gpt_neox'"
        return f"{model_type!r} has no causal LM class in transformers (AutoModelForCausalLM); try {hint}"
    return f"unknown model type {model_type!r}{did_you_mean(model_type, known)}"


def override_problems(hf_config: Any, overrides: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for each override the HF config class does not have.

    HF configs store unknown keyword arguments silently, so a typo (``n_layers`` for
    GPT-2's ``n_layer``) would otherwise build the default architecture without a word.
    """
    out = []
    valid = set(vars(hf_config)) | set(getattr(hf_config, "attribute_map", {}))
    valid = {k for k in valid if not k.startswith("_")}
    for key in overrides:
        if key in RESERVED_OVERRIDES:
            out.append((key, RESERVED_OVERRIDES[key]))
        elif not hasattr(hf_config, key):
            out.append((key, f"is not a setting of the {hf_config.model_type!r} config{did_you_mean(key, valid)}"))
    return out


@functools.lru_cache(maxsize=64)
def _default_hf_config(model_type: str) -> Any:
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type)


def _check_role_patterns(instance: Any, attribute: attrs.Attribute, value: Mapping[str, str]) -> None:
    for pattern, role in value.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise FieldValueError(f"{attribute.name}.{pattern}", f"is not a regular expression: {exc}") from None
        if role not in ROLES:
            raise FieldValueError(
                f"{attribute.name}.{pattern}", f"unknown role {role!r}{did_you_mean(str(role), ROLES)}"
            )


# --------------------------------------------------------------------------- HF causal LM


@attrs.frozen
class HFModelConfig:
    """A ``transformers`` causal LM, built from a config alone or from a local directory.

    ``model_type`` is any key of transformers' ``CONFIG_MAPPING`` that has an
    ``AutoModelForCausalLM`` class (``gpt2``, ``llama``, ``gpt_neox``, ...); left out it is
    ``gpt2``, or the type saved in ``pretrained_dir``. ``overrides`` are that config's own
    keys (``n_layer``, ``hidden_size``, ``num_hidden_layers``, ...) with plain JSON values.
    ``vocab_size`` is never set here: it follows the task.
    """

    model_type: str | None = None
    overrides: dict[str, Any] = attrs.field(factory=dict, validator=_check_json_mapping)
    pretrained_dir: str | None = None
    """A local ``save_pretrained`` directory: its config (and, with ``load_weights``, its weights)."""
    load_weights: bool = False
    attn_implementation: str = "eager"
    """``eager`` is deterministic on CPU; ``sdpa`` or ``flash_attention_2`` are faster on GPUs."""
    role_patterns: dict[str, str] = attrs.field(factory=dict, validator=_check_role_patterns)
    """Regular expression -> role, tried in order on full parameter names before the structural rules."""

    def __attrs_post_init__(self) -> None:
        if self.model_type is not None:
            if not self.model_type:
                raise FieldValueError("model_type", "must not be empty; leave it out for gpt2")
            problem = model_type_problem(self.model_type)
            if problem:
                raise FieldValueError("model_type", problem)
        if self.load_weights and self.pretrained_dir is None:
            raise FieldValueError("load_weights", "needs pretrained_dir, the directory to load the weights from")
        if self.pretrained_dir is not None and not self.pretrained_dir:
            raise FieldValueError("pretrained_dir", "must not be empty; leave it out to build from model_type")
        if not self.attn_implementation:
            raise FieldValueError("attn_implementation", "must not be empty (eager, sdpa, flash_attention_2, ...)")
        reserved = [k for k in self.overrides if k in RESERVED_OVERRIDES]
        if reserved:
            raise FieldValueError(f"overrides.{reserved[0]}", RESERVED_OVERRIDES[reserved[0]])
        if self.overrides and self.pretrained_dir is None:
            # the directory's config is checked when the model is built (it may not exist yet)
            problems = override_problems(_default_hf_config(self.model_type or "gpt2"), self.overrides)
            if problems:
                key, message = problems[0]
                raise FieldValueError(f"overrides.{key}", message)

    @property
    def resolved_model_type(self) -> str:
        """The model type to build when there is no ``pretrained_dir``."""
        return self.model_type or "gpt2"

    # ------------------------------------------------------------------ read from a bundle

    def code_references(self) -> dict[str, str]:
        """Settings that would make transformers fetch and run code: a hub kernel as ``attn_implementation``.

        A bundle records this config; :meth:`pptrain_core.bundle.Bundle.adapter` refuses
        one that names code unless the caller vouches for it.
        """
        if is_hub_kernel(self.attn_implementation):
            return {"attn_implementation": self.attn_implementation}
        return {}

    def for_bundle(self, directory: str) -> HFModelConfig:
        """This config as read from a bundle: the architecture comes from the bundle's own ``config.json``.

        A recorded ``pretrained_dir`` is a path on the writer's machine, outside the
        bundle; it is replaced by the bundle directory, and no weights are loaded from it.
        """
        return attrs.evolve(self, pretrained_dir=str(directory), load_weights=False)


# --------------------------------------------------------------------------- plain torch modules


def _check_factory(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not _FACTORY.match(value):
        raise FieldValueError(
            attribute.name,
            f"{value!r} must name an importable function as 'package.module:function'",
        )


def _factory_name(value: Any) -> Any:
    """Accept a module-level function as well as its ``"module:function"`` name."""
    if isinstance(value, str) or not callable(value):
        return value
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", "")
    if not module or "<" in qualname:
        raise FieldValueError(
            "factory", f"{value!r} is not importable by name; save and load rebuild the model by 'module:function'"
        )
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if obj is not value:
        raise FieldValueError("factory", f"{value!r} is not reachable as {module}:{qualname}")
    return f"{module}:{qualname}"


@attrs.frozen
class TorchModuleConfig:
    """A plain ``torch.nn.Module`` from a factory function ``factory(vocab_size, **kwargs)``.

    ``role_patterns`` maps regular expressions to roles, tried in order against each
    parameter name as your module names it (``re.search``; the first match wins; no match
    leaves the parameter unknown). ``kwargs`` are plain JSON values.
    """

    factory: str = attrs.field(
        default="pptrain_hf.examples:tiny_transformer_lm", converter=_factory_name, validator=_check_factory
    )
    kwargs: dict[str, Any] = attrs.field(factory=dict, validator=_check_json_mapping)
    role_patterns: dict[str, str] = attrs.field(factory=dict, validator=_check_role_patterns)

    def code_references(self) -> dict[str, str]:
        """The factory, unless it is one this plugin ships (:data:`OWN_FACTORIES`): a bundle must not pick code."""
        return {} if self.factory in OWN_FACTORIES else {"factory": self.factory}
