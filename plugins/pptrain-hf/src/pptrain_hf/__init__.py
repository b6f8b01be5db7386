"""pptrain-hf: model adapters for pptrain.

* ``hf_causal_lm`` (:class:`HFCausalLMAdapter`, :class:`HFModelConfig`): any causal LM
  that ``transformers`` knows, from a config alone or a local ``save_pretrained`` directory.
* ``torch_module`` (:class:`TorchModuleAdapter`, :class:`TorchModuleConfig`): any plain
  ``torch.nn.Module`` from a factory function.

Importing this package is light: the config classes need neither torch nor transformers,
and the adapter classes are imported on first use.
"""

from __future__ import annotations

from typing import Any

from pptrain_hf.configs import HFModelConfig, TorchModuleConfig

__version__ = "0.1.0"

_LAZY = {
    "HFCausalLMAdapter": "pptrain_hf.hf",
    "TorchModuleAdapter": "pptrain_hf.torch_module",
    "UnknownParameterWarning": "pptrain_hf.common",
}

__all__ = ["__version__", "HFModelConfig", "TorchModuleConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pptrain_hf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
