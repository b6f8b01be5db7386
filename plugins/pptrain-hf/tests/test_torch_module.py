"""The torch_module adapter: a plain nn.Module factory meets the same contract."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from torch import nn

from pptrain_core.config import structure
from pptrain_core.errors import ConfigError, UserError
from pptrain_core.models import roles_of, unknown_parameters
from pptrain_core.testing.adapters import AdapterCase, parametrize_with_adapter_checks
from pptrain_hf import TorchModuleAdapter, TorchModuleConfig, UnknownParameterWarning
from pptrain_hf.examples import tiny_transformer_lm
from pptrain_hf.torch_module import CausalLM, causal_lm_loss


def adapter(**fields) -> TorchModuleAdapter:
    return TorchModuleAdapter(TorchModuleConfig(**fields))


@parametrize_with_adapter_checks(
    [
        AdapterCase(adapter(), vocab_size=37, id="torch_module:tiny_transformer"),
        AdapterCase(adapter(kwargs={"tie": True, "n_layers": 1}), vocab_size=23, id="torch_module:tied"),
        AdapterCase(
            adapter(factory="pptrain_hf.examples:tiny_gru_lm"), vocab_size=19, id="torch_module:gru", allow_unknown=True
        ),
    ]
)
def test_conformance(check):
    check()


def test_roles_come_from_the_factory_patterns():
    a = adapter()
    r = roles_of(a, a.build(40, seed=0))
    assert r["net.tok.weight"] == "token_embedding"
    assert r["net.pos.weight"] == "position_embedding"
    assert r["net.blocks.1.attn.qkv.weight"] == "attention"
    assert r["net.blocks.0.mlp.2.bias"] == "mlp"
    assert r["net.blocks.0.norm2.weight"] == "norm"
    assert r["net.head.weight"] == "head"
    assert None not in r.values()


def test_config_patterns_win_in_order_and_unmatched_is_unknown():
    a = adapter(
        role_patterns={r"^tok\.": "token_embedding", r"^(tok|pos)\.": "position_embedding", r"attn": "attention"}
    )
    model = a.build(40, seed=0)
    with pytest.warns(UnknownParameterWarning):
        infos = a.parameters_info(model)
    r = {p.name: p.role for p in infos}
    assert r["net.tok.weight"] == "token_embedding"  # first match wins
    assert r["net.pos.weight"] == "position_embedding"
    assert "net.head.weight" in unknown_parameters(infos)
    assert {p.layer for p in infos if p.name.startswith("net.blocks.1.")} == {1}


def test_tied_weights_are_listed_once():
    a = adapter(kwargs={"tie": True})
    model = a.build(40, seed=0)
    assert model.net.head.weight is model.net.tok.weight
    r = roles_of(a, model)
    assert "net.head.weight" not in r and r["net.tok.weight"] == "token_embedding"


def test_loss_is_the_shifted_cross_entropy_with_ignored_positions():
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[1, 2, 3, 4, 5], [-100, 6, 0, -100, -100]])
    pairs = [(0, 0, 2), (0, 1, 3), (0, 2, 4), (0, 3, 5), (1, 0, 6), (1, 1, 0)]
    manual = torch.stack([-torch.log_softmax(logits[b, t], -1)[y] for b, t, y in pairs]).mean()
    assert torch.allclose(causal_lm_loss(logits, labels), manual)


def test_the_wrapper_passes_the_attention_mask_when_the_module_takes_it():
    class MaskReader(nn.Module):
        def __init__(self):
            super().__init__()
            self.out = nn.Embedding(19, 19)
            self.seen = None

        def forward(self, input_ids, attention_mask=None):
            self.seen = attention_mask
            return {"logits": self.out(input_ids)}

    model = CausalLM(MaskReader(), 19)
    mask = torch.ones(1, 4, dtype=torch.long)
    out = model(torch.zeros(1, 4, dtype=torch.long), attention_mask=mask)
    assert model.net.seen is mask
    assert out.logits.shape == (1, 4, 19) and "loss" not in out
    assert set(model(torch.zeros(1, 4, dtype=torch.long), labels=torch.zeros(1, 4, dtype=torch.long))) == {
        "loss",
        "logits",
    }


def test_a_recurrent_model_reports_its_mixer_as_unknown():
    a = adapter(factory="pptrain_hf.examples:tiny_gru_lm")
    with pytest.warns(UnknownParameterWarning, match="net.rnn.weight_ih_l0"):
        infos = a.parameters_info(a.build(19, seed=0))
    assert {n.split(".")[1] for n in unknown_parameters(infos)} == {"rnn"}


def test_a_module_returning_something_else_is_refused():
    class Bad(nn.Module):
        def forward(self, input_ids):
            return (input_ids,)

    with pytest.raises(TypeError, match="return the logits tensor"):
        CausalLM(Bad(), 3)(torch.zeros(1, 2, dtype=torch.long))


def test_factory_may_be_given_as_a_function_but_must_be_importable():
    assert TorchModuleConfig(factory=tiny_transformer_lm).factory == "pptrain_hf.examples:tiny_transformer_lm"
    with pytest.raises(ValueError, match="not importable by name"):
        TorchModuleConfig(factory=lambda vocab_size: nn.Linear(1, 1))


def test_factory_must_return_a_module():
    with pytest.raises(TypeError, match="not a torch.nn.Module"):
        adapter(factory="builtins:str").build(4)


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"factory": "no_colon"}, "$.model.params.factory", "package.module:function"),
        ({"kwargs": {"d_model": (1, 2)}}, "$.model.params.kwargs.d_model", "JSON value"),
        ({"role_patterns": {"(": "mlp"}}, "$.model.params.role_patterns.(", "not a regular expression"),
        ({"role_patterns": {"x": "attn"}}, "$.model.params.role_patterns.x", "did you mean 'attention'"),
    ],
)
def test_config_errors_name_the_field(data, path, message):
    with pytest.raises(ConfigError) as info:
        structure(data, TorchModuleConfig, "$.model.params")
    assert info.value.path == path
    assert message in info.value.message


def test_save_load_round_trip_uses_the_recorded_kwargs(tmp_path):
    a = adapter(kwargs={"d_model": 16, "n_heads": 4})
    model = a.build(30, seed=2)
    a.save(model, str(tmp_path))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved == {
        "adapter": "torch_module",
        "factory": "pptrain_hf.examples:tiny_transformer_lm",
        "kwargs": {"d_model": 16, "n_heads": 4},
        "vocab_size": 30,
        "role_patterns": tiny_transformer_lm.role_patterns,
    }
    loaded = adapter().load(str(tmp_path))  # the directory decides the shape, not the adapter's kwargs
    assert not loaded.training
    assert loaded.net.tok.weight.shape == (30, 16)
    assert torch.equal(loaded.net.tok.weight, model.net.tok.weight)


def test_load_never_calls_a_factory_the_adapter_was_not_given(tmp_path):
    a = adapter()
    a.save(a.build(30, seed=2), str(tmp_path))
    other = adapter(factory="pptrain_hf.examples:tiny_gru_lm")
    with pytest.raises(UserError, match="configure that factory"):
        other.load(str(tmp_path))
    with pytest.raises(UserError, match="no readable config.json"):
        a.load(str(tmp_path / "missing"))


def test_tied_save_load(tmp_path):
    a = adapter(kwargs={"tie": True})
    model = a.build(30, seed=2)
    a.save(model, str(tmp_path))
    loaded = a.load(str(tmp_path))
    assert loaded.net.head.weight is loaded.net.tok.weight
    assert torch.equal(loaded.net.head.weight, model.net.head.weight)


def test_no_warning_without_unknowns():
    a = adapter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a.parameters_info(a.build(40, seed=0))
