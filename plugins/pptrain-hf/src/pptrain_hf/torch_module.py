"""``TorchModuleAdapter``: any plain ``torch.nn.Module`` from a factory function.

It proves the adapter contract is not tied to ``transformers``: the user's factory
``fn(vocab_size, **kwargs)`` returns a module whose forward maps ``input_ids`` to logits;
the adapter wraps it in :class:`CausalLM`, which adds the loss (labels unshifted, -100
ignored) exactly as Hugging Face causal LMs compute it. Roles come from ordered regular
expressions over the module's own parameter names.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model
from torch import nn
from torch.nn import functional as F

from pptrain_core.errors import UserError
from pptrain_core.models import ParameterInfo, layer_index
from pptrain_core.specs import resolve_factory
from pptrain_hf.common import check_vocab_size, report_unknown, seeded
from pptrain_hf.configs import TorchModuleConfig, json_problem

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
PREFIX = "net."


class LMOutput(dict):
    """``{"loss": ..., "logits": ...}`` that also reads as attributes (``out.loss``), like HF outputs."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of position ``t``'s logits against ``labels[t + 1]``, ignoring -100.

    Labels are *unshifted* (``labels == input_ids`` where there is loss), as pptrain's
    collator gives them and as Hugging Face causal LMs expect.
    """
    vocab = logits.shape[-1]
    return F.cross_entropy(
        logits[:, :-1, :].float().reshape(-1, vocab),
        labels[:, 1:].reshape(-1).to(logits.device),
        ignore_index=-100,
    )


class CausalLM(nn.Module):
    """Gives a logits-returning module the causal-LM forward pptrain trains with.

    The user's module is ``self.net``, so its parameters are named ``net.<its name>``.
    ``attention_mask`` is passed on only if the module's forward accepts it (pptrain pads
    on the right, so a causal model never attends from a real token to a pad).
    """

    def __init__(self, net: nn.Module, vocab_size: int, factory: str = "", kwargs: Mapping[str, Any] | None = None):
        super().__init__()
        self.net = net
        self.vocab_size = vocab_size
        self.factory = factory
        self.factory_kwargs = dict(kwargs or {})
        self._takes_mask = "attention_mask" in inspect.signature(net.forward).parameters

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> LMOutput:
        out = self.net(input_ids, attention_mask=attention_mask) if self._takes_mask else self.net(input_ids)
        logits = _logits_of(out)
        if labels is None:
            return LMOutput(logits=logits)
        return LMOutput(loss=causal_lm_loss(logits, labels), logits=logits)


class TorchModuleAdapter:
    """The ``torch_module`` model adapter (see :class:`~pptrain_hf.configs.TorchModuleConfig`)."""

    name = "torch_module"

    def __init__(self, config: TorchModuleConfig | None = None):
        self.config = config if config is not None else TorchModuleConfig()

    def __repr__(self) -> str:
        return f"TorchModuleAdapter({self.config!r})"

    def role_patterns(self) -> dict[str, str]:
        """The config's patterns, or else those the factory declares as ``fn.role_patterns``."""
        if self.config.role_patterns:
            return dict(self.config.role_patterns)
        return dict(getattr(resolve_factory(self.config.factory), "role_patterns", {}) or {})

    def build(self, vocab_size: int, *, seed: int | None = None) -> CausalLM:
        """``factory(vocab_size, **kwargs)``, wrapped in :class:`CausalLM`."""
        return self._build(self.config.factory, dict(self.config.kwargs), vocab_size, seed)

    def _build(self, factory: str, kwargs: dict[str, Any], vocab_size: int, seed: int | None) -> CausalLM:
        check_vocab_size(vocab_size)
        fn = resolve_factory(factory)
        with seeded(seed):
            net = fn(vocab_size, **kwargs)
        if not isinstance(net, nn.Module):
            raise TypeError(f"factory {factory!r} returned {type(net).__name__}, not a torch.nn.Module")
        return CausalLM(net, vocab_size, factory, kwargs)

    def parameters_info(self, model: nn.Module) -> list[ParameterInfo]:
        """Roles from the ordered patterns (first match wins, no match: unknown), matched inside ``net``."""
        patterns = [(re.compile(p), role) for p, role in self.role_patterns().items()]
        infos = []
        for name, param in model.named_parameters():
            local = name[len(PREFIX) :] if name.startswith(PREFIX) else name
            role = next((r for rx, r in patterns if rx.search(local)), None)
            infos.append(ParameterInfo(name=name, role=role, shape=tuple(param.shape), layer=layer_index(name)))
        report_unknown(self.name, infos)
        return infos

    def model_config(self, model: nn.Module) -> dict[str, Any]:
        """The factory, its kwargs, the vocabulary size and the role patterns: enough to rebuild."""
        if not isinstance(model, CausalLM):
            raise TypeError(
                f"expected a model built by the {self.name} adapter (a CausalLM), got {type(model).__name__}"
            )
        return {
            "adapter": self.name,
            "factory": model.factory,
            "kwargs": dict(model.factory_kwargs),
            "vocab_size": int(model.vocab_size),
            "role_patterns": self.role_patterns(),
        }

    def save(self, model: nn.Module, directory: str) -> None:
        """``model.safetensors`` (tied tensors once) and ``config.json``."""
        path = Path(directory)
        save_model(model, str(path / WEIGHTS_FILE), metadata={"format": "pt"})
        (path / CONFIG_FILE).write_text(json.dumps(self.model_config(model), indent=2) + "\n", encoding="utf-8")

    def load(self, directory: str) -> CausalLM:
        """Rebuild through the factory recorded in ``config.json``, then load the weights (eval mode).

        The recorded factory must be this adapter's: a directory never decides by itself
        which code gets imported and called.
        """
        path = Path(directory)
        try:
            saved = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"model directory {directory!r} has no readable {CONFIG_FILE}: {exc}.") from None
        if not isinstance(saved, dict) or saved.get("adapter") != self.name or not (path / WEIGHTS_FILE).is_file():
            raise UserError(f"model directory {directory!r} was not written by the {self.name} adapter.")
        if saved.get("factory") != self.config.factory:
            raise UserError(
                f"model directory {directory!r} was built by {str(saved.get('factory'))[:80]!r}, but this adapter's "
                f"factory is {self.config.factory!r}; configure that factory to load it."
            )
        kwargs, vocab_size = saved.get("kwargs", {}), saved.get("vocab_size")
        if not isinstance(kwargs, dict) or json_problem(kwargs):
            raise UserError(f"model directory {directory!r}: kwargs in {CONFIG_FILE} must be a mapping of JSON values.")
        if type(vocab_size) is not int or vocab_size < 1:
            raise UserError(f"model directory {directory!r}: vocab_size in {CONFIG_FILE} must be a positive integer.")
        try:
            model = self._build(saved["factory"], dict(kwargs), vocab_size, seed=0)
        except TypeError as exc:  # kwargs the factory does not take
            raise UserError(f"model directory {directory!r}: the factory refused its kwargs ({exc}).") from None
        try:
            load_model(model, str(path / WEIGHTS_FILE), strict=True)
        except Exception as exc:  # SafetensorError, RuntimeError: missing keys or other shapes
            text = " ".join(str(exc).split())[:160]
            raise UserError(f"model directory {directory!r}: {WEIGHTS_FILE} does not fit the model ({text}).") from None
        return model.eval()


def _logits_of(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping) and "logits" in out:
        return out["logits"]
    if isinstance(getattr(out, "logits", None), torch.Tensor):
        return out.logits
    raise TypeError(f"the module's forward returned {type(out).__name__}; return the logits tensor (B, T, vocab)")
