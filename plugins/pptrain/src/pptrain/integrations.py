"""Model adapters: ``from pptrain.integrations import HFCausalLMAdapter, HFModelConfig``."""

from pptrain_hf import HFCausalLMAdapter, HFModelConfig, TorchModuleAdapter, TorchModuleConfig

__all__ = ["HFCausalLMAdapter", "HFModelConfig", "TorchModuleAdapter", "TorchModuleConfig"]
