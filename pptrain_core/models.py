"""The model-adapter contract: build a causal LM, and say what every parameter is.

A model adapter (registered through ``register_model_adapters``; its spec's factory is
called as ``factory(config)``) returns an object with the methods of
:class:`ModelAdapter`. Transfer policies never look at parameter names: they act on the
*role* the adapter gives each parameter, so one policy serves every architecture.

This module imports no torch at module level; only type hints mention it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: Every role a parameter can have. ``None`` (unknown) is reported, never guessed.
ROLES: tuple[str, ...] = ("token_embedding", "position_embedding", "attention", "mlp", "norm", "head")

_LAYER = re.compile(r"(?:^|\.)(?:layers?|h|blocks?)\.(\d+)\.")


def layer_index(name: str) -> int | None:
    """The transformer block a parameter belongs to (``transformer.h.3.attn.c_attn.weight`` -> 3)."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


@attrs.frozen
class ParameterInfo:
    """One parameter as an adapter sees it."""

    name: str
    role: str | None
    shape: tuple[int, ...]
    layer: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.role is not None and self.role not in ROLES:
            raise ValueError(f"parameter {self.name}: unknown role {self.role!r}; roles are {', '.join(ROLES)}")


@runtime_checkable
class ModelAdapter(Protocol):
    """What the trainer, the bundle writer and the transfer policies need from an adapter."""

    name: str
    """The registered adapter name (``hf_causal_lm``, ``torch_module``, ...)."""

    def build(self, vocab_size: int, *, seed: int | None = None) -> torch.nn.Module:
        """A freshly initialised causal LM for a vocabulary of ``vocab_size`` ids.

        The module's ``forward(input_ids, attention_mask=None, labels=None)`` returns an
        object or dict with ``loss`` (when labels are given; labels are *unshifted*, -100
        ignored) and ``logits``. With ``seed`` the initialisation is reproducible.
        """
        ...

    def parameters_info(self, model: torch.nn.Module) -> list[ParameterInfo]:
        """Every parameter of ``model`` (tied parameters once), with its role and layer."""
        ...

    def model_config(self, model: torch.nn.Module) -> dict[str, Any]:
        """A JSON-ready description from which :meth:`load` can rebuild the architecture."""
        ...

    def save(self, model: torch.nn.Module, directory: str) -> None:
        """Write the model's config and safetensors weights into an existing directory."""
        ...

    def load(self, directory: str) -> torch.nn.Module:
        """Rebuild a model saved by :meth:`save` (local files only)."""
        ...


def roles_of(adapter: ModelAdapter, model: Any) -> dict[str, str | None]:
    """Parameter name -> role, for reports and policies."""
    return {p.name: p.role for p in adapter.parameters_info(model)}


def unknown_parameters(infos: list[ParameterInfo]) -> list[str]:
    """Names of parameters the adapter could not classify."""
    return [p.name for p in infos if p.role is None]


def summarize_roles(infos: list[ParameterInfo]) -> Mapping[str, int]:
    """Number of parameter *elements* per role (``unknown`` for unclassified)."""
    out: dict[str, int] = {}
    for p in infos:
        n = 1
        for d in p.shape:
            n *= d
        key = p.role or "unknown"
        out[key] = out.get(key, 0) + n
    return out
