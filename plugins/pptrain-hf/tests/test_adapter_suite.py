"""The adapter conformance suite (pptrain_core.testing.adapters) catches what it promises to."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from pptrain_core.testing.adapters import AdapterCase, adapter_checks
from pptrain_hf import TorchModuleAdapter, TorchModuleConfig
from pptrain_hf.torch_module import CausalLM, LMOutput


def run(adapter, check: str, vocab_size: int = 13, **case):
    (found,) = [c for c in adapter_checks([AdapterCase(adapter, vocab_size, **case)]) if c.name == check]
    found()


class PreShiftedLM(CausalLM):
    """Scores position t against labels[t]: right only if the collator had shifted the labels."""

    def forward(self, input_ids, attention_mask=None, labels=None):
        logits = self.net(input_ids)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return LMOutput(loss=loss, logits=logits)


class PreShiftedAdapter(TorchModuleAdapter):
    def build(self, vocab_size, *, seed=None):
        model = super().build(vocab_size, seed=seed)
        return PreShiftedLM(model.net, vocab_size, model.factory, model.factory_kwargs)


class GlobalRNGAdapter(TorchModuleAdapter):
    def build(self, vocab_size, *, seed=None):
        if seed is not None:
            torch.manual_seed(seed)  # seeds, but leaves the caller's RNG moved
        return super().build(vocab_size)


class DoubleListingAdapter(TorchModuleAdapter):
    def parameters_info(self, model):
        infos = super().parameters_info(model)
        return infos + infos[:1]


def test_the_example_adapter_passes_every_check():
    for check in adapter_checks([(TorchModuleAdapter(), 13)]):
        check()


def test_pre_shifted_labels_are_caught():
    with pytest.raises(AssertionError, match="expects pre-shifted labels"):
        run(PreShiftedAdapter(), "unshifted_labels")


def test_a_build_that_moves_the_global_rng_is_caught():
    with pytest.raises(AssertionError, match="changed the global torch RNG"):
        run(GlobalRNGAdapter(), "seed_determinism")


def test_listing_a_parameter_twice_is_caught():
    with pytest.raises(AssertionError, match="more than once"):
        run(DoubleListingAdapter(), "parameter_roles")


def test_unknown_roles_fail_unless_allowed():
    gru = TorchModuleAdapter(TorchModuleConfig(factory="pptrain_hf.examples:tiny_gru_lm"))
    with pytest.raises(AssertionError, match="have no role"):
        run(gru, "parameter_roles")
    run(gru, "parameter_roles", allow_unknown=True)


def test_token_rows_must_match_the_vocabulary():
    wrong = TorchModuleAdapter(TorchModuleConfig(role_patterns={r"^pos\.": "token_embedding", r".": "mlp"}))
    with pytest.raises(AssertionError, match="rows for 13 ids"):
        run(wrong, "parameter_roles")


def test_case_ids():
    checks = adapter_checks([(TorchModuleAdapter(), 13), AdapterCase(TorchModuleAdapter(), 5, id="mine")])
    assert checks[0].id == "torch_module-protocol"
    assert checks[-1].id == "mine-model_config_json"
