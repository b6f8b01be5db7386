"""The hf_causal_lm adapter: conformance on GPT-2, Llama and GPT-NeoX, roles, special ids,
seeding, local directories."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from torch import nn

from pptrain_core.errors import UserError
from pptrain_core.models import ROLES, roles_of, unknown_parameters
from pptrain_core.testing.adapters import AdapterCase, parametrize_with_adapter_checks
from pptrain_hf import HFCausalLMAdapter, HFModelConfig, UnknownParameterWarning

GPT2 = {"n_layer": 2, "n_embd": 32, "n_head": 2, "n_positions": 64}
LLAMA = {
    "num_hidden_layers": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 64,
}
GPT_NEOX = {
    "num_hidden_layers": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 2,
    "max_position_embeddings": 64,
}
OPT = {
    "num_hidden_layers": 2,
    "hidden_size": 32,
    "ffn_dim": 64,
    "num_attention_heads": 2,
    "word_embed_proj_dim": 32,
    "max_position_embeddings": 64,
}
TINY = {"gpt2": GPT2, "llama": LLAMA, "gpt_neox": GPT_NEOX}


def adapter(model_type: str = "gpt2", **fields) -> HFCausalLMAdapter:
    return HFCausalLMAdapter(HFModelConfig(model_type=model_type, overrides=dict(TINY.get(model_type, {})), **fields))


def roles(model_type: str, vocab_size: int = 40) -> dict[str, str | None]:
    a = adapter(model_type)
    return roles_of(a, a.build(vocab_size, seed=0))


# --------------------------------------------------------------------------- conformance


@parametrize_with_adapter_checks(
    [
        AdapterCase(adapter("gpt2"), vocab_size=37),
        AdapterCase(adapter("llama"), vocab_size=41),
        AdapterCase(adapter("gpt_neox"), vocab_size=29),
    ]
)
def test_conformance(check):
    check()


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize("model_type", ["gpt2", "llama", "gpt_neox"])
def test_no_unknown_roles_and_every_role_seen(model_type):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownParameterWarning)
        r = roles(model_type)
    assert None not in r.values()
    expected = set(ROLES) - {"position_embedding"} if model_type != "gpt2" else set(ROLES) - {"head"}
    assert set(r.values()) == expected


def test_gpt2_roles_by_name():
    r = roles("gpt2")
    assert r["transformer.wte.weight"] == "token_embedding"
    assert r["transformer.wpe.weight"] == "position_embedding"
    assert r["transformer.h.0.attn.c_attn.weight"] == "attention"
    assert r["transformer.h.1.attn.c_proj.bias"] == "attention"
    assert r["transformer.h.0.mlp.c_fc.weight"] == "mlp"
    assert r["transformer.h.0.ln_1.weight"] == "norm"
    assert r["transformer.ln_f.weight"] == "norm"
    # GPT-2 ties lm_head to wte: one parameter, listed once, as the token embedding
    assert "lm_head.weight" not in r


def test_llama_roles_by_name():
    r = roles("llama")
    assert r["model.embed_tokens.weight"] == "token_embedding"
    assert r["model.layers.1.mlp.gate_proj.weight"] == "mlp"
    assert r["model.layers.0.mlp.down_proj.weight"] == "mlp"
    assert r["model.layers.0.self_attn.k_proj.weight"] == "attention"
    assert r["model.layers.0.input_layernorm.weight"] == "norm"
    assert r["model.norm.weight"] == "norm"
    assert r["lm_head.weight"] == "head"


def test_neox_roles_by_name():
    r = roles("gpt_neox")
    assert r["gpt_neox.embed_in.weight"] == "token_embedding"
    assert r["gpt_neox.layers.0.attention.query_key_value.weight"] == "attention"
    assert r["gpt_neox.layers.1.mlp.dense_4h_to_h.bias"] == "mlp"
    assert r["gpt_neox.final_layer_norm.bias"] == "norm"
    assert r["lm_head.weight"] == "head"


def test_layers_are_read_from_names():
    a = adapter("llama")
    infos = {p.name: p for p in a.parameters_info(a.build(40, seed=0))}
    assert infos["model.layers.1.self_attn.q_proj.weight"].layer == 1
    assert infos["model.layers.0.mlp.up_proj.weight"].layer == 0
    assert infos["model.embed_tokens.weight"].layer is None


def test_tied_llama_lists_the_shared_weight_once_as_token_embedding():
    a = HFCausalLMAdapter(HFModelConfig("llama", {**LLAMA, "tie_word_embeddings": True}))
    model = a.build(40, seed=0)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    r = roles_of(a, model)
    assert "head" not in r.values()
    assert list(r.values()).count("token_embedding") == 1


def test_an_extra_parameter_is_reported_not_guessed():
    a = adapter("gpt2")
    model = a.build(40, seed=0)
    model.transformer.h[0].register_parameter("gate", nn.Parameter(torch.ones(1)))
    model.transformer.register_module("token_type", nn.Embedding(2, 32))
    with pytest.warns(UnknownParameterWarning, match="2 parameter") as caught:
        infos = a.parameters_info(model)
    assert unknown_parameters(infos) == ["transformer.h.0.gate", "transformer.token_type.weight"]
    assert "transformer.h.0.gate" in str(caught[0].message)
    # a parameter inside a recognised module still gets that module's role
    model.transformer.h[0].mlp.register_parameter("scale", nn.Parameter(torch.ones(1)))
    with pytest.warns(UnknownParameterWarning):
        assert roles_of(a, model)["transformer.h.0.mlp.scale"] == "mlp"


def test_role_patterns_resolve_what_the_structure_cannot():
    """OPT keeps its MLP as fc1/fc2 directly on the decoder layer: unknown by structure."""
    plain = HFCausalLMAdapter(HFModelConfig("opt", OPT))
    model = plain.build(40, seed=0)
    with pytest.warns(UnknownParameterWarning):
        unknown = unknown_parameters(plain.parameters_info(model))
    assert unknown and all(".fc1." in n or ".fc2." in n for n in unknown)
    fixed = HFCausalLMAdapter(HFModelConfig("opt", OPT, role_patterns={r"\.fc[12]\.": "mlp"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownParameterWarning)
        r = roles_of(fixed, model)
    assert r["model.decoder.layers.0.fc1.weight"] == "mlp"
    assert r["model.decoder.embed_positions.weight"] == "position_embedding"


def test_model_prefix_does_not_leak_into_roles():
    """A model family named ...Moe must not make each of its modules an MLP."""
    from pptrain_hf.roles import model_prefix, module_role

    class GraniteMoeHybridForCausalLM(nn.Module):
        pass

    class GraniteMoeHybridMambaLayer(nn.Module):
        pass

    class GraniteMoeHybridAttention(nn.Module):
        pass

    prefix = model_prefix(GraniteMoeHybridForCausalLM())
    assert prefix == "GraniteMoeHybrid"
    assert module_role(GraniteMoeHybridMambaLayer(), (), prefix) is None
    assert module_role(GraniteMoeHybridAttention(), (), prefix) == "attention"
    assert module_role(nn.LayerNorm(4), (), prefix) == "norm"


# --------------------------------------------------------------------------- vocabulary and special ids


def test_vocabulary_follows_the_task_and_out_of_range_ids_are_dropped():
    model = adapter("gpt2").build(40, seed=0)
    assert model.config.vocab_size == 40
    assert model.get_input_embeddings().weight.shape == (40, 32)
    # GPT-2's 50256 does not exist in a 40-id vocabulary
    assert model.config.bos_token_id is None and model.config.eos_token_id is None
    assert model.generation_config.eos_token_id is None
    llama = adapter("llama").build(40, seed=0)
    assert (llama.config.bos_token_id, llama.config.eos_token_id) == (1, 2)  # inside: kept


def test_out_of_vocab_ids_filters_lists():
    from pptrain_hf.hf import out_of_vocab_ids

    class Cfg:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    fixed = out_of_vocab_ids(Cfg(eos_token_id=[3, 99, 5], bos_token_id=99, pad_token_id=0, hidden=99), 10)
    assert fixed == {"eos_token_id": [3, 5], "bos_token_id": None}
    assert out_of_vocab_ids(Cfg(eos_token_id=[99, 4]), 10) == {"eos_token_id": 4}


def test_bad_vocab_size():
    with pytest.raises(ValueError, match="positive integer"):
        adapter("gpt2").build(0)


def test_overrides_reach_the_config():
    model = adapter("gpt2").build(40, seed=0)
    assert (model.config.n_layer, model.config.n_embd, model.config.n_positions) == (2, 32, 64)
    assert model.config._attn_implementation == "eager"


# --------------------------------------------------------------------------- seeding


def test_seeded_build_leaves_the_global_rng_alone_and_unseeded_build_uses_it():
    a = adapter("gpt2")
    torch.manual_seed(3)
    before = torch.get_rng_state()
    a.build(40, seed=1)
    assert torch.equal(before, torch.get_rng_state())
    torch.manual_seed(3)
    first = a.build(40).state_dict()
    torch.manual_seed(3)
    second = a.build(40).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


# --------------------------------------------------------------------------- config, save, load


def test_model_config_is_json_and_names_the_adapter():
    a = adapter("llama")
    config = a.model_config(a.build(40, seed=0))
    assert config["adapter"] == "hf_causal_lm" and config["model_type"] == "llama"
    assert config["hf_config"]["vocab_size"] == 40
    assert config["hf_config"]["num_hidden_layers"] == 2
    assert json.loads(json.dumps(config)) == config


def test_save_writes_safetensors_only(tmp_path):
    a = adapter("gpt2")
    a.save(a.build(40, seed=0), str(tmp_path))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "model.safetensors" in names and "config.json" in names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]


def test_load_needs_a_local_directory(tmp_path):
    with pytest.raises(UserError, match="holds no config.json"):
        adapter("gpt2").load(str(tmp_path))


# --------------------------------------------------------------------------- local pretrained directories


@pytest.fixture
def saved_llama(tmp_path):
    a = adapter("llama")
    model = a.build(50, seed=7)
    directory = tmp_path / "llama"
    model.save_pretrained(str(directory))
    return directory, model


def test_pretrained_dir_gives_the_architecture_not_the_weights(saved_llama):
    directory, saved = saved_llama
    a = HFCausalLMAdapter(HFModelConfig(pretrained_dir=str(directory)))
    model = a.build(40, seed=1)
    assert model.config.model_type == "llama"
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2
    assert model.config.vocab_size == 40
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(model.state_dict()[q], saved.state_dict()[q])


def test_pretrained_dir_with_overrides(saved_llama):
    directory, _ = saved_llama
    a = HFCausalLMAdapter(HFModelConfig(pretrained_dir=str(directory), overrides={"num_hidden_layers": 1}))
    assert a.build(40, seed=1).config.num_hidden_layers == 1
    typo = HFCausalLMAdapter(HFModelConfig(pretrained_dir=str(directory), overrides={"num_hidden_layer": 1}))
    with pytest.raises(UserError, match="did you mean 'num_hidden_layers'"):
        typo.build(40)


def test_pretrained_dir_with_weights_same_vocabulary(saved_llama):
    directory, saved = saved_llama
    a = HFCausalLMAdapter(HFModelConfig(pretrained_dir=str(directory), load_weights=True))
    model = a.build(50, seed=1)
    expected = saved.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("vocab_size", [30, 64])
def test_pretrained_dir_with_weights_resizes_the_vocabulary(saved_llama, vocab_size):
    directory, saved = saved_llama
    a = HFCausalLMAdapter(HFModelConfig(pretrained_dir=str(directory), load_weights=True))
    model = a.build(vocab_size, seed=1)
    assert model.get_input_embeddings().weight.shape[0] == vocab_size
    assert model.get_output_embeddings().weight.shape[0] == vocab_size
    assert model.config.vocab_size == vocab_size
    kept = min(vocab_size, 50)
    emb = "model.embed_tokens.weight"
    assert torch.equal(model.state_dict()[emb][:kept], saved.state_dict()[emb][:kept])
    q = "model.layers.1.self_attn.q_proj.weight"
    assert torch.equal(model.state_dict()[q], saved.state_dict()[q])
    # the resized model still keeps the contract
    x = torch.randint(0, vocab_size, (1, 6))
    assert model(input_ids=x, labels=x).logits.shape == (1, 6, vocab_size)
    # ... and new rows are reproducible under the seed
    again = a.build(vocab_size, seed=1)
    assert torch.equal(again.state_dict()[emb], model.state_dict()[emb])


def test_pretrained_dir_problems(saved_llama, tmp_path):
    directory, _ = saved_llama
    with pytest.raises(UserError, match="holds a 'llama' model"):
        HFCausalLMAdapter(HFModelConfig("gpt2", pretrained_dir=str(directory))).build(40)
    with pytest.raises(UserError, match="holds no config.json"):
        HFCausalLMAdapter(HFModelConfig(pretrained_dir=str(tmp_path / "missing"))).build(40)


def test_a_multimodal_type_that_ignores_the_vocabulary_is_refused(monkeypatch):
    """A model keeping its vocabulary in a sub-config would silently train the wrong table."""
    from pptrain_hf import hf

    a = adapter("gpt2")
    real = hf.config_for
    monkeypatch.setattr(hf, "config_for", lambda t, s, v: real(t, s, v + 1))
    with pytest.raises(UserError, match="41 rows for a vocabulary of 40"):
        a.build(40)
