"""Entry-point module: registers the two model adapters. Imports neither torch nor transformers."""

from pptrain_core import ModelAdapterSpec, hookimpl
from pptrain_hf.configs import HFModelConfig, TorchModuleConfig

HF_CAUSAL_LM = ModelAdapterSpec(
    name="hf_causal_lm",
    summary="any transformers causal LM (gpt2, llama, gpt_neox, ...) from a config or a local directory",
    config_cls=HFModelConfig,
    factory="pptrain_hf.hf:HFCausalLMAdapter",
)

TORCH_MODULE = ModelAdapterSpec(
    name="torch_module",
    summary="a plain torch.nn.Module from a factory function, roles from name patterns",
    config_cls=TorchModuleConfig,
    factory="pptrain_hf.torch_module:TorchModuleAdapter",
)


@hookimpl
def register_model_adapters(register):
    register(HF_CAUSAL_LM)
    register(TORCH_MODULE)
