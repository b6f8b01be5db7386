"""The familiar import path re-exports the real objects, and the quick start runs as documented."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_names_are_the_real_objects():
    import pptrain
    import pptrain.integrations
    import pptrain.transfer

    import pptrain_hf
    from pptrain_core.bundle import load_bundle
    from pptrain_core.tasks import create_task
    from pptrain_core.training.trainer import PrePreTrainer
    from pptrain_core.transfer import policies

    assert pptrain.PrePreTrainer is PrePreTrainer
    assert pptrain.create_task is create_task and pptrain.load_bundle is load_bundle
    assert pptrain.integrations.HFCausalLMAdapter is pptrain_hf.HFCausalLMAdapter
    assert pptrain.transfer.ReinitializeEmbeddingTransferPolicy is policies.ReinitializeEmbeddingTransferPolicy


def test_quick_start(tmp_path):
    torch.set_num_threads(1)
    from pptrain import PrePreTrainer, RunConfig, create_task
    from pptrain.integrations import HFCausalLMAdapter, HFModelConfig
    from pptrain.transfer import ReinitializeEmbeddingTransferPolicy

    tiny = {"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64}
    adapter = HFCausalLMAdapter(HFModelConfig(model_type="gpt2", overrides=tiny))
    run = RunConfig(output_dir=str(tmp_path / "run"), max_steps=3, batch_size=2, progress=False, eval_examples=0)
    bundle = PrePreTrainer(create_task("dyck:smoke"), adapter, run).fit().load_transfer_bundle()
    target = HFCausalLMAdapter(HFModelConfig(model_type="gpt2", overrides=tiny)).build(500)
    before = target.transformer.h[0].attn.c_attn.weight.detach().clone()
    report = ReinitializeEmbeddingTransferPolicy().apply_bundle(bundle, target)
    actions = {row.action for row in report.rows}
    assert "copied" in actions and "reinitialised" in actions
    after = target.transformer.h[0].attn.c_attn.weight
    assert not torch.equal(before, after)
    assert torch.equal(after, bundle.load_state_dict()["transformer.h.0.attn.c_attn.weight"])


def test_meta_distribution_depends_on_every_in_repo_plugin():
    from importlib.metadata import requires
    from pathlib import Path

    from packaging.requirements import Requirement

    plugins = Path(__file__).resolve().parents[2]
    in_repo = {p.name for p in plugins.glob("pptrain-*") if (p / "pyproject.toml").exists()}
    declared = {Requirement(r).name for r in requires("pptrain") or []}
    assert in_repo, "no plugins found next to the meta-distribution"
    assert in_repo <= declared, f"pip install pptrain would miss {sorted(in_repo - declared)}"
