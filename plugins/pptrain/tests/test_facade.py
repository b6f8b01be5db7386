"""pptrain 0.3.0's published API through the facade: the quick start and transfer snippet verbatim
(a local model directory in place of the hub name), its names, presets and adapters."""

from __future__ import annotations

import json
import warnings

import pytest

torch = pytest.importorskip("torch")

from pptrain._compat import reset_notes  # noqa: E402

from pptrain_core.errors import UserError  # noqa: E402

torch.set_num_threads(1)

TINY_VOCAB = 300


@pytest.fixture(autouse=True)
def _fresh_notes():
    reset_notes()
    yield


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A tiny GPT-2 saved with save_pretrained: the stand-in for 'sshleifer/tiny-gpt2'."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=2, n_head=2, n_embd=16, n_positions=256, vocab_size=TINY_VOCAB, bos_token_id=0, eos_token_id=0
    )
    path = tmp_path_factory.mktemp("models") / "tiny-gpt2"
    GPT2LMHeadModel(config).save_pretrained(path)
    return str(path)


def test_every_published_name_imports_from_its_module_path():
    import pptrain
    import pptrain.integrations
    import pptrain.transfer

    for name in (
        "create_task TaskPreset PrePreTrainer PrePreTrainingRun ReinitializeEmbeddingTransferPolicy "
        "SkipParametersTransferPolicy registered_tasks registered_presets RunConfig TransferBundle TransferReport"
    ).split():
        assert name in pptrain.__all__ and getattr(pptrain, name) is not None, name
    for name in (
        "CallableAdapterConfig CallableCausalLMAdapter CausalLMAdapter HFCausalLMAdapter HFModelConfig "
        "VocabSizeCausalLMAdapter"
    ).split():
        assert getattr(pptrain.integrations, name) is not None, name
    for name in ("ReinitializeEmbeddingTransferPolicy", "SkipParametersTransferPolicy", "TransferBundle"):
        assert getattr(pptrain.transfer, name) is getattr(pptrain, name)
    from pptrain.core import SymbolicTaskFamily, Task, register_task  # noqa: F401


def test_published_quick_start_and_transfer_snippet(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # ---- 0.3.0 README, Quick Start (model path aside)
        from pptrain import PrePreTrainer, RunConfig, create_task
        from pptrain.integrations import HFCausalLMAdapter, HFModelConfig

        trainer = PrePreTrainer(
            task=create_task(
                "simpler_tasks",
                {"preset": "paper_binary_1m", "sequence_count": 256, "eval_sequence_count": 64, "max_length": 128},
            ),
            model_adapter=HFCausalLMAdapter(
                HFModelConfig(model_name_or_path=tiny_dir, config_overrides={"n_positions": 128})
            ),
            run_config=RunConfig(
                output_dir="runs/smoke",
                max_steps=20,
                per_device_train_batch_size=8,
                per_device_eval_batch_size=8,
                logging_steps=5,
                save_steps=20,
                eval_steps=20,
            ),
        )
        bundle = trainer.fit().load_transfer_bundle()
        # ---- 0.3.0 README, Transfer
        from pptrain.transfer import ReinitializeEmbeddingTransferPolicy

        target_model = trainer.model_adapter.load_downstream_model()
        report = ReinitializeEmbeddingTransferPolicy().apply_bundle(bundle, target_model)
        print(report.loaded_parameter_count)

    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert any("create_task('simpler_tasks:paper_binary')" in m for m in messages), messages
    assert any("sequence_count=256" in m for m in messages)
    assert any("RunConfig(seq_len=128)" in m for m in messages)
    assert any("batch_size=" in m and "lr=" in m for m in messages)

    run_dir = tmp_path / "runs" / "smoke"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 20 and summary["eval_loss"] is not None
    job = json.loads((run_dir / "job.json").read_text())
    assert job["task"]["ref"] == "simpler_tasks:paper_binary"
    assert job["run"]["batch_size"] == 8 and job["run"]["eval_examples"] == 64 and job["run"]["seq_len"] == 128
    assert job["run"]["schedule"] == "linear" and job["run"]["data_seed"] == 42
    assert (run_dir / "checkpoints" / "checkpoint-20").is_dir()
    assert bundle.task_name == "simpler_tasks" and bundle.run_dir.resolve() == run_dir and bundle.transfer_policy_name
    assert json.loads((bundle.model_dir / "config.json").read_text())["n_positions"] == 128

    # the downstream model keeps its own vocabulary and gets the pre-pretrained body
    assert target_model.get_input_embeddings().weight.shape[0] == TINY_VOCAB
    state = bundle.load_state_dict()
    assert report.loaded_parameter_count == report.counts["copied"] > 0
    assert torch.equal(target_model.transformer.h[0].attn.c_attn.weight, state["transformer.h.0.attn.c_attn.weight"])
    assert "transformer.wte.weight" in report.missing_parameters
    # positions of another length (256 downstream, 128 pre-pretrained) stay fresh, as in 0.3.0
    assert report.row("transformer.wpe.weight").action == "reinitialised"


def test_sequence_count_is_the_dataset_length():
    from pptrain import create_task

    from pptrain_core.data import VirtualDataset

    with pytest.warns(DeprecationWarning):
        task = create_task("dyck", {"preset": "smoke", "sequence_count": 5, "eval_sequence_count": 3})
    data = VirtualDataset(task.build(), seed=1, split="train", length=12)
    assert data[5] == data[0] and data[11] == data[1] and data[1] != data[0]
    evals = VirtualDataset(task.build(), seed=1, split="eval", length=6)
    assert evals[5] != evals[0]  # the eval split is read once: eval_sequence_count is its length


def test_run_config_maps_0_3_arguments_and_epochs():
    from pptrain import RunConfig, create_task

    with pytest.warns(DeprecationWarning):
        task = create_task("dyck", {"preset": "paper_k8", "sequence_count": 100, "eval_sequence_count": 7})
    assert task.ref == "dyck:paper_k64" and task.config.k == 8 and task.legacy_preset == "paper_k8"
    with pytest.warns(DeprecationWarning, match="2 epoch"):
        core = RunConfig(
            output_dir="x", per_device_train_batch_size=8, gradient_accumulation_steps=2, num_train_epochs=2, bf16=True
        ).to_core(task, world_size=1)
    assert core.max_steps == 13 and core.batch_size == 8 and core.grad_accum == 2  # ceil(200 / 16)
    assert core.eval_examples == 7 and core.precision == "bf16" and core.model_seed == 42
    modern = RunConfig(output_dir="x", max_steps=3, batch_size=2, lr=1e-3).to_core(task)
    assert (modern.max_steps, modern.batch_size, modern.lr) == (3, 2, 1e-3)
    for bad, match in (
        ({"gradient_checkpointing": True}, "gradient_checkpointing"),
        ({"report_to": ("wandb",)}, "report_to"),
        ({"batchsize": 2}, "batchsize"),
        ({"per_device_train_batch_size": 2, "batch_size": 2}, "not both"),
    ):
        with pytest.raises(UserError, match=match):
            RunConfig(output_dir="x", **bad)
    with pytest.raises(UserError, match="max_steps"):
        RunConfig(output_dir="x").to_core(create_task("dyck:smoke"))


# every preset name pptrain 0.3.0 registered
LEGACY_NAMES = {
    "dyck": "paper_k8 paper_k16 paper_k32 paper_k64 smoke",
    "lime": "paper_benchmark_100k paper_benchmark_1m paper_mixed_5m smoke "
    + " ".join(f"paper_individual_{s}_{m}" for s in ("100k", "1m") for m in ("induct", "deduct", "abduct")),
    "nca": "paper_code paper_web_text smoke",
    "procedural": "smoke "
    + " ".join(
        f"paper_{p}_len{n}" for p in ("delete", "identity", "reverse", "set", "sort", "union") for n in (16, 32, 64)
    ),
    "simpler_tasks": "paper_binary_1m paper_copy_1m paper_identity_1m paper_set_1m paper_set_ops_1m "
    "paper_unary_core_100k paper_unary_core_1m smoke "
    + " ".join(
        f"paper_{t}_100k"
        for t in (
            "copy count deduplicate delete duplicate filter first_token get_index identity intersect last_token "
            "length replace replace_many reverse search set set_1_minus_2 set_2_minus_1 sort union"
        ).split()
    ),
    "summarization": "smoke paper_ourtasks_subset_100k paper_nonsense_copy_ops_100k paper_nonsense_keyword_100k "
    "paper_step_tasks_100k paper_masked_document_100k paper_next_sentence_100k paper_sentence_reordering_100k "
    + " ".join(
        f"paper_{t}_100k"
        for t in (
            "copy_bulleted copy_first_sentence copy_keyword_multiple_in_order copy_keyword_multiple_shuffled "
            "copy_keyword_multiple_sorted copy_keyword_sentence copy_last_sentence copy_quoted truncate_sentence"
        ).split()
    ),
}


@pytest.mark.parametrize("family", sorted(LEGACY_NAMES))
def test_every_0_3_preset_maps_to_ours_or_is_refused_in_one_sentence(family):
    from pptrain import create_task
    from pptrain.legacy_presets import LEGACY_PRESETS, Refused

    names = set(LEGACY_NAMES[family].split())
    assert set(LEGACY_PRESETS[family]) >= names
    for name in sorted(names):
        mapped = LEGACY_PRESETS[family][name]
        if isinstance(mapped, Refused):
            with pytest.raises(UserError, match=f"preset '{name}' is refused") as err:
                create_task(family, {"preset": name})
            assert str(err.value).count(". ") == 0 and "use" in str(err.value)
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            task = create_task(family, {"preset": name})
        assert task.ref == mapped.target and task.legacy_preset == name
        assert task.sequence_count == mapped.sequence_count
        assert any(mapped.target in str(w.message) and "differs" in str(w.message) for w in caught)


def test_registered_presets_and_tasks_list_ours():
    from pptrain import TaskPreset, registered_presets, registered_tasks

    nca = registered_presets("nca")
    assert all(isinstance(p, TaskPreset) for p in nca)
    assert {"paper_web_text", "paper_code", "paper_math", "smoke"} <= {p.name for p in nca}
    assert [p.name for p in nca] == sorted(p.name for p in nca)
    tasks = {t.name: t for t in registered_tasks()}
    assert {"dyck", "nca", "procedural", "simpler_tasks", "lime", "summarization"} <= set(tasks)
    assert tasks["dyck"].presets == registered_presets("dyck")
    with pytest.raises(UserError, match="unknown task"):
        registered_presets("nope")


def _tiny_gpt2(vocab_size: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=64, vocab_size=vocab_size))


@pytest.mark.parametrize("kind", ["vocab_size", "callable"])
def test_callable_adapters_train_and_transfer(kind, tmp_path):
    from pptrain import PrePreTrainer, ReinitializeEmbeddingTransferPolicy, RunConfig, create_task
    from pptrain.integrations import CallableCausalLMAdapter, VocabSizeCausalLMAdapter

    if kind == "vocab_size":
        adapter = VocabSizeCausalLMAdapter(
            create_prepretrain_model=_tiny_gpt2, load_downstream_model=lambda: _tiny_gpt2(77)
        )
    else:
        adapter = CallableCausalLMAdapter(
            create_prepretrain_model=lambda spec: _tiny_gpt2(spec.vocab_size),
            load_downstream_model=lambda: _tiny_gpt2(77),
        )
    run = RunConfig(output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=2, progress=False)
    trainer = PrePreTrainer(adapter, run, create_task("dyck:smoke"))  # 0.3.0's positional order
    result = trainer.fit()
    assert result.metrics["steps"] == 2
    bundle = result.load_transfer_bundle()
    assert bundle.meta["adapter"]["name"] == "hf_causal_lm"  # rebuilt from data, never by calling the lambda
    target = trainer.model_adapter.load_downstream_model()
    report = ReinitializeEmbeddingTransferPolicy().apply_bundle(bundle, target)
    assert target.get_input_embeddings().weight.shape[0] == 77
    assert report.row("transformer.wpe.weight").action == "copied"  # 0.3.0 copied matching positions
    assert torch.equal(target.transformer.wpe.weight, bundle.load_state_dict()["transformer.wpe.weight"])
    assert report.row("transformer.wte.weight").action == "reinitialised"


def test_callable_adapter_with_a_plain_module_is_refused(tmp_path):
    from pptrain import PrePreTrainer, RunConfig, create_task
    from pptrain.integrations import VocabSizeCausalLMAdapter

    adapter = VocabSizeCausalLMAdapter(
        create_prepretrain_model=lambda v: torch.nn.Embedding(v, 4), load_downstream_model=lambda: None
    )
    run = RunConfig(output_dir=str(tmp_path / "run"), max_steps=1, progress=False)
    with pytest.raises(UserError, match="not a transformers model.*TorchModuleAdapter"):
        PrePreTrainer(task=create_task("dyck:smoke"), model_adapter=adapter, run_config=run).fit()


def test_hub_names_and_remote_code_are_refused_in_one_sentence():
    from pptrain.integrations import HFCausalLMAdapter, HFModelConfig

    with pytest.raises(UserError, match="never downloads"):
        HFCausalLMAdapter(HFModelConfig(model_name_or_path="sshleifer/tiny-gpt2")).core()
    with pytest.raises(UserError, match="trust_remote_code"):
        HFModelConfig(model_name_or_path="x", trust_remote_code=True)


def test_skip_parameters_policy_and_state_dicts():
    from pptrain import SkipParametersTransferPolicy

    source, target = _tiny_gpt2(20), _tiny_gpt2(20)
    state = source.state_dict()
    policy = SkipParametersTransferPolicy(
        skip_parameter_names=("transformer.wpe.weight",), skip_parameter_prefixes=("transformer.h.0.mlp.",)
    )
    report = policy.apply_state_dict(state, target)
    assert torch.equal(target.transformer.wte.weight, source.transformer.wte.weight)  # embeddings copied, as in 0.3.0
    assert not torch.equal(target.transformer.wpe.weight, source.transformer.wpe.weight)
    assert not torch.equal(target.transformer.h[0].mlp.c_fc.weight, source.transformer.h[0].mlp.c_fc.weight)
    assert "transformer.wpe.weight" in report.skipped_parameters
    assert "transformer.h.0.mlp.c_fc.weight" in report.missing_parameters
    with pytest.raises(UserError, match="FullTransfer"):
        SkipParametersTransferPolicy()


@pytest.fixture
def keep_registry(monkeypatch):
    """register_task replaces the process-wide registry; put the original back afterwards."""
    from pptrain_core import plugins

    monkeypatch.setattr(plugins, "_REGISTRY", plugins.get_registry())


def test_custom_symbolic_family_trains_with_the_loss_where_it_says(tmp_path, keep_registry):
    from dataclasses import dataclass

    import numpy as np
    from pptrain import PrePreTrainer, RunConfig
    from pptrain.core import ExecutedSymbolicTask, SymbolicTask, SymbolicTaskFamily, TokenizerSpec

    from pptrain_core.data import VirtualDataset

    @dataclass
    class CopyConfig:
        sequence_count: int = 16
        eval_sequence_count: int = 4
        max_length: int = 32

    class CopyFamily(SymbolicTaskFamily):
        name = "legacy_copy"

        def tokenizer_spec(self):
            return TokenizerSpec(vocab_size=12, pad_token_id=0, bos_token_id=1, eos_token_id=2)

        def sample_task(self, rng):
            return SymbolicTask("copy", list(rng.integers(3, 12, size=int(rng.integers(2, 6)))))

        def execute_task(self, task):
            return ExecutedSymbolicTask("copy", (task.payload, task.payload))

        def serialize_task(self, executed, spec):
            prompt, answer = executed.payload
            return [1, *prompt], [*answer, 2]

    family = CopyFamily(CopyConfig())
    run = RunConfig(output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=4, progress=False)
    trainer = PrePreTrainer(task=family, model_adapter=_vocab_adapter(), run_config=run)
    example = VirtualDataset(trainer.task.build(), seed=0, split="train", length=1)[0]
    n = (len(example) - 2) // 2
    assert example.loss_mask.tolist() == [0] * (n + 1) + [1] * (n + 1)  # the answer and the end only
    result = trainer.fit()
    assert result.metrics["steps"] == 2 and result.load_transfer_bundle().task_name == "legacy_copy"
    assert np.all(
        VirtualDataset(trainer.task.build(), seed=0, split="train", length=32)[16].tokens
        == VirtualDataset(trainer.task.build(), seed=0, split="train", length=32)[0].tokens
    )


def _vocab_adapter():
    from pptrain.integrations import VocabSizeCausalLMAdapter

    return VocabSizeCausalLMAdapter(create_prepretrain_model=_tiny_gpt2, load_downstream_model=lambda: _tiny_gpt2(30))


def test_low_level_task_with_pre_shifted_labels_is_refused(tmp_path, keep_registry):
    from pptrain import PrePreTrainer, RunConfig
    from pptrain.core import DatasetBundle, Task, TokenizerSpec

    class Shifted(Task):
        name = "legacy_shifted"

        def tokenizer_spec(self):
            return TokenizerSpec(vocab_size=10)

        def build_datasets(self, seed=None):
            ids = [3, 4, 5, 6]
            return DatasetBundle(train_dataset=[{"input_ids": ids, "labels": ids[1:] + [-100]}] * 4)

    trainer = PrePreTrainer(
        task=Shifted({}), model_adapter=_vocab_adapter(), run_config=RunConfig(output_dir=str(tmp_path), max_steps=1)
    )
    with pytest.raises(UserError, match="shifted"):
        trainer.fit()


def test_meta_distribution_depends_on_every_in_repo_plugin():
    from importlib.metadata import requires
    from pathlib import Path

    from packaging.requirements import Requirement

    plugins = Path(__file__).resolve().parents[2]
    in_repo = {p.name for p in plugins.glob("pptrain-*") if (p / "pyproject.toml").exists()}
    declared = {Requirement(r).name for r in requires("pptrain") or []}
    assert in_repo, "no plugins found next to the meta-distribution"
    assert in_repo <= declared, f"pip install pptrain would miss {sorted(in_repo - declared)}"
