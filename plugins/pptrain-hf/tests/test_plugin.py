"""The entry point: light imports, registration, config validation with paths."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from pptrain_core.config import structure, unstructure
from pptrain_core.errors import ConfigError
from pptrain_core.specs import resolve_factory
from pptrain_hf import HFModelConfig, TorchModuleConfig


def test_importing_the_package_and_the_entry_point_imports_no_torch():
    code = (
        "import sys\n"
        "import pptrain_hf, pptrain_hf.plugin, pptrain_hf.configs\n"
        "pptrain_hf.plugin.register_model_adapters(register=lambda spec: None)\n"
        "pptrain_hf.HFModelConfig(); pptrain_hf.TorchModuleConfig()\n"
        "heavy = [m for m in ('torch', 'transformers', 'safetensors') if m in sys.modules]\n"
        "print(','.join(heavy)); sys.exit(1 if heavy else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


def test_the_entry_point_registers_both_adapters(pptrain_registry_factory):
    import pptrain_hf.plugin

    reg = pptrain_registry_factory({"pptrain-hf": pptrain_hf.plugin})
    assert {"hf_causal_lm", "torch_module"} <= set(reg.model_adapters)
    spec = reg.model_adapters["hf_causal_lm"]
    config = structure({"model_type": "gpt2", "overrides": {"n_layer": 1}}, spec.config_cls, "$.model.params")
    adapter = resolve_factory(spec.factory)(config)
    assert adapter.name == "hf_causal_lm" and adapter.config is config
    spec = reg.model_adapters["torch_module"]
    adapter = resolve_factory(spec.factory)(structure({}, spec.config_cls))
    assert adapter.name == "torch_module"


def test_the_installed_entry_point_loads(pptrain_registry_factory):
    reg = pptrain_registry_factory(entry_points=True)
    assert reg.owner("register_model_adapters", "hf_causal_lm").distribution == "pptrain-hf"


def test_lazy_names():
    import pptrain_hf

    assert {"HFCausalLMAdapter", "HFModelConfig", "TorchModuleAdapter", "TorchModuleConfig"} <= set(dir(pptrain_hf))
    with pytest.raises(AttributeError):
        pptrain_hf.NoSuchThing  # noqa: B018


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"model_type": "lama"}, "$.model.params.model_type", "did you mean 'llama'"),
        ({"model_type": "gpt_neo_x"}, "$.model.params.model_type", "'gpt_neox'"),
        ({"model_type": "t5"}, "$.model.params.model_type", "no causal LM class"),
        ({"model_type": ""}, "$.model.params.model_type", "must not be empty"),
        ({"model_type": 2}, "$.model.params.model_type", "expected a string"),
        ({"overrides": {"n_layer": {1, 2}}}, "$.model.params.overrides.n_layer", "JSON value"),
        ({"overrides": {"n_layer": object()}}, "$.model.params.overrides.n_layer", "JSON value"),
        ({"overrides": {"initializer_range": math.nan}}, "$.model.params.overrides.initializer_range", "finite"),
        ({"overrides": {"rope_scaling": {"a": [1, (2,)]}}}, "$.model.params.overrides.rope_scaling", "a: item 1"),
        ({"overrides": {"n_layers": 2}}, "$.model.params.overrides.n_layers", "did you mean 'n_layer'"),
        ({"overrides": {"vocab_size": 10}}, "$.model.params.overrides.vocab_size", "follows the task"),
        ({"model_type": "llama", "overrides": {"n_layer": 2}}, "$.model.params.overrides.n_layer", "'llama' config"),
        ({"load_weights": True}, "$.model.params.load_weights", "needs pretrained_dir"),
        ({"role_patterns": {"fc": "feedforward"}}, "$.model.params.role_patterns.fc", "unknown role"),
        ({"n_layer": 2}, "$.model.params.n_layer", "unknown key"),
    ],
)
def test_hf_config_errors_name_the_field(data, path, message):
    with pytest.raises(ConfigError) as info:
        structure(data, HFModelConfig, "$.model.params")
    assert info.value.path == path
    assert message in info.value.message


def test_valid_hf_configs_round_trip_through_json():
    import json

    for data in (
        {},
        {"model_type": "llama", "overrides": {"num_hidden_layers": 2, "rope_scaling": None, "hidden_act": "silu"}},
        {"pretrained_dir": "/somewhere", "load_weights": True, "attn_implementation": "sdpa"},
        {"model_type": "opt", "role_patterns": {r"\.fc[12]\.": "mlp"}},
    ):
        config = structure(data, HFModelConfig, "$.model.params")
        again = structure(json.loads(json.dumps(unstructure(config))), HFModelConfig)
        assert again == config


def test_the_default_configs_need_no_transformers():
    assert HFModelConfig().resolved_model_type == "gpt2"
    assert TorchModuleConfig().factory == "pptrain_hf.examples:tiny_transformer_lm"
