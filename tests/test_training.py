"""Collation, label alignment, the trainer, bundles and resume, on a tiny GPT-2 and the toy task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from pptrain_core import hookimpl  # noqa: E402
from pptrain_core.bundle import FORMAT_VERSION, canonical_digest, load_bundle, write_json_atomic  # noqa: E402
from pptrain_core.data import example_at  # noqa: E402
from pptrain_core.errors import ConfigError, UserError  # noqa: E402
from pptrain_core.models import ParameterInfo  # noqa: E402
from pptrain_core.specs import ModelAdapterSpec  # noqa: E402
from pptrain_core.tasks import create_task  # noqa: E402
from pptrain_core.testing.toy import ToyPlugin  # noqa: E402
from pptrain_core.training import PrePreTrainer, RunConfig  # noqa: E402
from pptrain_core.training.collate import Collator, PackedDataset  # noqa: E402
from pptrain_core.training.job import resolve_job  # noqa: E402

torch.set_num_threads(1)

ADAPTER_SOURCE = '''
import attrs
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from pptrain_core.models import ParameterInfo


@attrs.frozen
class TinyConfig:
    n_embd: int = 32


class TinyGPT2:
    """A two-layer GPT-2 adapter for the core's tests (the real adapters live in pptrain-hf)."""

    name = "tiny_gpt2"

    def __init__(self, config=TinyConfig()):
        self.config = config

    def build(self, vocab_size, *, seed=None):
        with torch.random.fork_rng():
            torch.manual_seed(0 if seed is None else seed)
            cfg = GPT2Config(vocab_size=vocab_size, n_layer=2, n_head=2, n_embd=self.config.n_embd,
                             n_positions=256, bos_token_id=None, eos_token_id=None)
            return GPT2LMHeadModel(cfg)

    def parameters_info(self, model):
        out = []
        for name, p in model.named_parameters():
            role = ("token_embedding" if "wte" in name else "position_embedding" if "wpe" in name
                    else "attention" if ".attn." in name else "mlp" if ".mlp." in name else "norm")
            out.append(ParameterInfo(name, role, tuple(p.shape)))
        return out

    def model_config(self, model):
        return {"hf_config": model.config.to_dict()}

    def save(self, model, directory):
        model.save_pretrained(directory)

    def load(self, directory):
        return GPT2LMHeadModel.from_pretrained(directory, local_files_only=True)
'''


@pytest.fixture(scope="module")
def adapter_module(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapter")
    (root / "tiny_gpt2_adapter.py").write_text(ADAPTER_SOURCE)
    sys.path.insert(0, str(root))
    import tiny_gpt2_adapter

    yield tiny_gpt2_adapter, root
    sys.path.remove(str(root))


@pytest.fixture
def registry(pptrain_registry_factory, adapter_module):
    mod, _ = adapter_module

    class AdapterPlugin:
        @hookimpl
        def register_model_adapters(self, register):
            register(
                ModelAdapterSpec(
                    name="tiny_gpt2",
                    summary="test adapter",
                    config_cls=mod.TinyConfig,
                    factory="tiny_gpt2_adapter:TinyGPT2",
                )
            )

    return pptrain_registry_factory({"toy": ToyPlugin(), "adapter": AdapterPlugin()})


# --------------------------------------------------------------------------- collation


def test_collator_pads_and_never_shifts_labels(registry):
    task = create_task("toy_copy:tiny", registry=registry).build()
    examples = [example_at(task, 0, "train", i) for i in range(3)]
    examples.append(attrs.evolve(examples[0], tokens=examples[0].tokens[:5], loss_mask=examples[0].loss_mask[:5]))
    batch = Collator(task.vocab.pad_id)(examples)
    ids, attn, labels = batch["input_ids"].numpy(), batch["attention_mask"].numpy(), batch["labels"].numpy()
    for b, ex in enumerate(examples):
        n = len(ex)
        assert ids[b, :n].tolist() == ex.tokens.tolist()
        assert attn[b, :n].all() and not attn[b, n:].any()
        expected = [t if m else -100 for t, m in zip(ex.tokens.tolist(), ex.loss_mask.tolist(), strict=True)]
        assert labels[b, :n].tolist() == expected  # label t is token t, not t+1
        assert (labels[b, n:] == -100).all() and (ids[b, n:] == task.vocab.pad_id).all()
    truncated = Collator(task.vocab.pad_id, max_len=4)(examples)
    assert truncated["input_ids"].shape[1] == 4


def test_packed_windows_are_pure_and_keep_masks(registry):
    task = create_task("toy_copy:tiny", registry=registry).build()  # 8-token examples ending in <eos>
    ds = PackedDataset(task, seed=1, split="train", length=10, seq_len=20)
    assert ds.stride == 5  # ceil(1.5 * 20 / 8) + 1: a short index range per window
    w = ds[3]
    assert len(w) == 20 and w == PackedDataset(task, seed=1, split="train", length=99, seq_len=20)[3]
    first = 3 * ds.stride
    parts = [example_at(task, 1, "train", first + k) for k in range(3)]
    want_tokens = np.concatenate([p.tokens for p in parts])[:20]
    want_mask = np.concatenate([p.loss_mask for p in parts])[:20]
    assert w.tokens.tolist() == want_tokens.tolist()  # toy examples end in <eos>: nothing inserted
    assert w.loss_mask.tolist() == want_mask.tolist()
    assert ds[3] != ds[4]


def test_packing_inserts_the_end_token_between_examples_without_loss():
    from pptrain_core.data import Example, Task, TokenizerSpec

    class NoEos(Task):
        def __init__(self):
            self.vocab = TokenizerSpec(size=5, names=list("abcde"), eos_id=4)

        def generate(self, rng, *, seed, split, index):
            return Example([0, 1, 2], [0, 1, 1])

    w = PackedDataset(NoEos(), seed=0, split="train", length=1, seq_len=8)[0]
    assert w.tokens.tolist() == [0, 1, 2, 4, 0, 1, 2, 4]
    assert w.loss_mask.tolist() == [0, 1, 1, 0, 0, 1, 1, 0]
    short = PackedDataset(NoEos(), seed=0, split="train", length=1, seq_len=12, stride=2)[0]
    assert short.tokens.tolist() == [0, 1, 2, 4, 0, 1, 2]  # the range ran out: a shorter window, padded later


def test_hf_loss_predicts_token_t_plus_1_at_position_t(registry, adapter_module):
    """The model's own loss on our labels equals cross-entropy of logits[t] against tokens[t+1]."""
    mod, _ = adapter_module
    task = create_task("toy_copy:wide", registry=registry).build()
    batch = Collator(task.vocab.pad_id)([example_at(task, 0, "train", i) for i in range(4)])
    model = mod.TinyGPT2().build(task.vocab.size, seed=0)
    out = model(**batch)
    logits = out.logits[:, :-1]
    targets = batch["input_ids"][:, 1:]
    keep = batch["labels"][:, 1:] != -100
    manual = torch.nn.functional.cross_entropy(logits[keep], targets[keep])
    assert torch.allclose(out.loss, manual, atol=1e-5)
    keep2 = batch["labels"][:, 2:] != -100  # what pre-shifted labels would train: logits[t] vs tokens[t+2]
    double = torch.nn.functional.cross_entropy(out.logits[:, :-2][keep2], batch["input_ids"][:, 2:][keep2])
    assert not torch.allclose(out.loss, double, atol=1e-3)


# --------------------------------------------------------------------------- fit and bundles


def _fit(registry, adapter_module, out: Path, **run):
    mod, _ = adapter_module
    task = create_task("toy_copy:wide", registry=registry)
    settings = {"batch_size": 4, "logging_steps": 2, "eval_examples": 8, "progress": False, **run}
    cfg = RunConfig(output_dir=str(out), **settings)
    return PrePreTrainer(task, mod.TinyGPT2(), cfg, registry=registry).fit()


def test_fit_writes_a_complete_run_directory_and_bundle(registry, adapter_module, tmp_path):
    result = _fit(registry, adapter_module, tmp_path / "run", max_steps=6)
    run = result.run_dir
    for name in ("job.json", "run.json", "metrics.jsonl", "loss_curve.png", "summary.json", "bundle/bundle.json"):
        assert (run / name).is_file(), name
    assert (run / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    losses = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in r for r in losses) and any("eval_loss" in r for r in losses)
    assert result.summary["steps"] == 6
    prov = json.loads((run / "run.json").read_text())
    assert prov["seeds"] == {"data_seed": 0, "model_seed": 0} and "pptrain-core" in prov["versions"]
    assert prov["task"]["task"] == "toy_copy"
    bundle = result.load_transfer_bundle(registry=registry)
    assert bundle.meta["format_version"] == FORMAT_VERSION
    assert bundle.meta["task"]["ref"] == "toy_copy:wide"
    assert {p.role for p in bundle.parameters} >= {"token_embedding", "attention", "mlp"}
    model = bundle.load_model(registry=registry)
    state = bundle.load_state_dict()
    for name, tensor in model.state_dict().items():
        if name in state:
            assert torch.equal(tensor, state[name])
    tok = bundle.tokenizer()
    ex = example_at(create_task("toy_copy:wide", registry=registry).build(), 0, "train", 0)
    assert tok.decode(ex.tokens.tolist()) == create_task("toy_copy:wide", registry=registry).build().render(ex)


def test_token_budget_is_converted_to_steps(registry, adapter_module, tmp_path):
    # toy_copy:wide examples have 8 + 1 + 8 + 1 = 18 tokens; 4 per step -> 72 tokens per step
    result = _fit(registry, adapter_module, tmp_path / "run", max_tokens=72 * 3, eval_examples=0)
    assert result.summary["steps"] == 3
    assert result.summary["tokens_seen"] == 72 * 3


def test_bundle_validation_errors_are_one_sentence(registry, adapter_module, tmp_path):
    result = _fit(registry, adapter_module, tmp_path / "run", max_steps=1, export_bundle=True, eval_examples=0)
    good = result.bundle_dir

    def broken(tag, change):
        import shutil

        d = tmp_path / tag
        shutil.copytree(good, d)
        change(d)
        with pytest.raises(UserError) as info:
            load_bundle(d, registry=registry)
        assert "\n" not in str(info.value)
        return str(info.value)

    assert "does not match its recorded sha256" in broken(
        "hash", lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-1] + b"\0")
    )
    assert "missing its weight file" in broken("missing", lambda d: (d / "model.safetensors").unlink())

    def future(d):
        meta = json.loads((d / "bundle.json").read_text())
        meta["format_version"] = 99
        write_json_atomic(d / "bundle.json", meta)

    assert "format version 99" in broken("version", future)

    def other_task(d):
        meta = json.loads((d / "bundle.json").read_text())
        meta["task"]["name"] = "nca"
        meta["versions"]["task_plugin"] = "pptrain-nca"
        meta["meta_sha256"] = canonical_digest(meta)  # as a writer with that task would have
        write_json_atomic(d / "bundle.json", meta)

    assert "task 'nca', which is not installed; install pptrain-nca" in broken("task", other_task)
    assert "no bundle.json" in broken("nometa", lambda d: (d / "bundle.json").unlink())


def test_a_crash_while_writing_leaves_no_bundle(registry, adapter_module, tmp_path, monkeypatch):
    from pptrain_core import bundle as bundle_mod

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bundle_mod, "sha256_file", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        _fit(registry, adapter_module, tmp_path / "run", max_steps=1, eval_examples=0)
    leftovers = [p.name for p in (tmp_path / "run").iterdir()]
    assert "bundle" not in leftovers and not [n for n in leftovers if n.startswith(".bundle")]


def test_resume_after_a_kill_gives_the_same_weights(adapter_module, tmp_path):
    """A run killed mid-way and resumed ends bit-identical to an uninterrupted run."""
    _, root = adapter_module
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent("""
        import os, sys
        import torch
        torch.set_num_threads(1)
        from transformers import TrainerCallback
        from pptrain_core.plugins import Registry, Candidate
        from pptrain_core.specs import ModelAdapterSpec
        from pptrain_core.testing.toy import ToyPlugin
        from pptrain_core.tasks import create_task
        from pptrain_core.training import PrePreTrainer, RunConfig
        import tiny_gpt2_adapter as mod

        class Kill(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                if os.environ.get("KILL_AT") and state.global_step == int(os.environ["KILL_AT"]):
                    os._exit(3)

        reg = Registry.load([Candidate(name="toy", load=ToyPlugin, distribution="toy")], environ={})
        task = create_task("toy_copy:wide", registry=reg)
        cfg = RunConfig(output_dir=sys.argv[1], max_steps=8, batch_size=4, save_steps=3, collation="pack",
                        seq_len=32, eval_examples=0, progress=False, export_bundle=False, lr=1e-3)
        trainer = PrePreTrainer(task, mod.TinyGPT2(), cfg, callbacks=[Kill()], registry=reg)
        trainer.fit()
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in trainer.trainer.model.state_dict().items()
                   if "lm_head" not in k}, sys.argv[1] + "/final.safetensors")
    """)
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}

    def run(out, kill=None):
        e = dict(env, KILL_AT=str(kill)) if kill else env
        return subprocess.run(
            [sys.executable, str(script), str(out)], env=e, capture_output=True, text=True, timeout=600
        )

    full = run(tmp_path / "full")
    assert full.returncode == 0, full.stderr[-2000:]
    killed = run(tmp_path / "resumed", kill=5)
    assert killed.returncode == 3, killed.stderr[-2000:]
    assert (tmp_path / "resumed" / "checkpoints" / "checkpoint-3").is_dir()
    assert not (tmp_path / "resumed" / "final.safetensors").exists()
    resumed = run(tmp_path / "resumed")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "full" / "final.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "final.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    summary = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-3") and summary["steps"] == 8


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "run, path, fragment",
    [
        ({"max_steps": 1, "max_tokens": 5}, "$.run.max_tokens", "exactly one"),
        ({}, "$.run.max_steps", "exactly one"),
        ({"max_steps": 1, "collation": "pack"}, "$.run.seq_len", "window length"),
        ({"max_steps": 1, "lr": "1e-3"}, "$.run.lr", "expected a number"),
        ({"max_steps": 1, "schedule": "cosin"}, "$.run.schedule", "cosin"),
        ({"max_steps": 1, "min_lr_ratio": 0.1, "schedule": "constant"}, "$.run.min_lr_ratio", "cosine"),
        ({"max_steps": 1, "batchsize": 3}, "$.run.batchsize", "did you mean 'batch_size'"),
    ],
)
def test_job_errors_name_the_path(registry, run, path, fragment):
    job = {"task": {"name": "toy_copy"}, "model": {"adapter": "tiny_gpt2"}, "run": run}
    with pytest.raises(ConfigError) as info:
        resolve_job(job, registry=registry)
    assert info.value.path == path and fragment in info.value.message


def test_job_resolves_task_adapter_and_run(registry):
    job = {
        "task": {"name": "toy_copy", "preset": "wide", "params": {"length": 3}},
        "model": {"adapter": "tiny_gpt2", "params": {"n_embd": 16}},
        "run": {"max_steps": 2},
    }
    task, adapter, run = resolve_job(job, registry=registry)
    assert task.ref == "toy_copy:wide" and task.config.length == 3 and task.config.symbols == 50
    assert adapter.config.n_embd == 16 and run.max_steps == 2
    with pytest.raises(UserError, match="unknown model adapter 'tiny_gpt'"):
        resolve_job({**job, "model": {"adapter": "tiny_gpt"}}, registry=registry)
    with pytest.raises(ConfigError) as info:
        resolve_job({**job, "model": {"adapter": "tiny_gpt2", "params": {"n_embd": "x"}}}, registry=registry)
    assert info.value.path == "$.model.params.n_embd"


def test_parameter_info_rejects_unknown_roles():
    with pytest.raises(ValueError, match="unknown role"):
        ParameterInfo("w", "bias_magic", (3,))


# --------------------------------------------------------------------------- curriculum


def test_curriculum_grows_the_setting_after_each_mastered_evaluation(registry, adapter_module, tmp_path):
    from pptrain_core.training.config import CurriculumConfig

    grow = CurriculumConfig(field="length", start=1, step=1, target=3, threshold=0.0)  # always "mastered"
    result = _fit(registry, adapter_module, tmp_path / "grow", max_steps=6, eval_steps=2, curriculum=grow)
    cur = result.summary["curriculum"]
    assert [h["value"] for h in cur["history"]] == [1, 2, 3]
    assert [h["step"] for h in cur["history"][1:]] == [2, 4]
    assert 0.0 <= result.summary["eval_accuracy"] <= 1.0
    logged = [json.loads(x) for x in (tmp_path / "grow" / "curriculum.jsonl").read_text().splitlines()]
    assert [x["value"] for x in logged] == [2, 3]

    never = CurriculumConfig(field="length", start=2, step=2, threshold=1.0)  # an untrained model never masters
    result = _fit(registry, adapter_module, tmp_path / "stay", max_steps=4, eval_steps=2, curriculum=never)
    assert result.summary["curriculum"]["final"] == 2


def test_curriculum_stage_is_checkpointed_and_validated(registry, tmp_path):
    from pptrain_core.training.config import CurriculumConfig
    from pptrain_core.training.curriculum import CurriculumStage, StagedDataset

    task = create_task("toy_copy:wide", registry=registry)
    stage = CurriculumStage(task, CurriculumConfig(field="length", start=2, step=3))
    assert stage.target == 8 and stage.value == 2
    ds = StagedDataset(stage, seed=0, split="train", length=10)
    assert len(ds[0]) == 2 * 2 + 2
    assert stage.advance(0.995, step=7) and stage.value == 5 and len(ds[0]) == 2 * 5 + 2
    stage.save(tmp_path)
    again = CurriculumStage(task, CurriculumConfig(field="length", start=2, step=3))
    again.restore(tmp_path)
    assert again.value == 5 and again.history[-1]["step"] == 7
    assert stage.advance(1.0, 9) and stage.value == 8 and not stage.advance(1.0, 11)  # capped at the target
    with pytest.raises(ConfigError) as info:
        CurriculumStage(task, CurriculumConfig(field="lenght"))
    assert info.value.path == "$.run.curriculum.field" and "did you mean 'length'" in info.value.message
    with pytest.raises(ConfigError) as info:
        resolve_job(
            {
                "task": {"name": "toy_copy"},
                "model": {"adapter": "tiny_gpt2"},
                "run": {"max_steps": 2, "curriculum": {"start": 2}},
            },
            registry=registry,
        )
    assert info.value.path == "$.run.curriculum" and "eval_steps" in info.value.message
