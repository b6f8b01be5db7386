"""pptrain-hf: model adapters for pptrain.

* ``hf_causal_lm`` (:class:`HFCausalLMAdapter`, :class:`HFModelConfig`): any causal LM
  that ``transformers`` knows, from a config alone or a local ``save_pretrained`` directory.
* ``torch_module`` (:class:`TorchModuleAdapter`, :class:`TorchModuleConfig`): any plain
  ``torch.nn.Module`` from a factory function.

Importing this package is light: the config classes need neither torch nor transformers,
and the adapter classes are imported on first use.
"""

from __future__ import annotations

from pptrain_core.lazy import lazy_getattr
from pptrain_hf.configs import HFModelConfig, TorchModuleConfig

__version__ = "0.1.0"

_LAZY = {
    "HFCausalLMAdapter": "pptrain_hf.hf",
    "TorchModuleAdapter": "pptrain_hf.torch_module",
    "UnknownParameterWarning": "pptrain_hf.common",
}

__all__ = ["__version__", "HFModelConfig", "TorchModuleConfig", *_LAZY]


__getattr__ = lazy_getattr(globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
