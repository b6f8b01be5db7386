"""Training paths with every plugin installed: label alignment per family, fit -> transfer, torchrun."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from pptrain_core.data import example_at  # noqa: E402
from pptrain_core.plugins import Registry  # noqa: E402
from pptrain_core.tasks import resolve  # noqa: E402
from pptrain_core.training.collate import Collator, PackedDataset  # noqa: E402
from pptrain_core.training.job import build_adapter  # noqa: E402

torch.set_num_threads(1)
REGISTRY = Registry.load(environ={})
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _tiny_gpt2(positions: int):
    return build_adapter(
        "hf_causal_lm",
        {"model_type": "gpt2", "overrides": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": positions}},
        registry=REGISTRY,
    )


def _check_alignment(model, batch):
    out = model(**batch)
    keep = batch["labels"][:, 1:] != -100
    assert keep.any()
    manual = torch.nn.functional.cross_entropy(out.logits[:, :-1][keep], batch["input_ids"][:, 1:][keep])
    assert torch.allclose(out.loss, manual, atol=1e-5), (out.loss, manual)
    # every target equals the next input token: labels are the tokens themselves, unshifted
    labels = batch["labels"]
    assert torch.equal(labels[labels != -100], batch["input_ids"][labels != -100])


@pytest.mark.parametrize("task", sorted(REGISTRY.tasks))
def test_every_family_trains_on_token_t_plus_1_at_position_t(task):
    """Padded and packed batches of each family: the model's loss is CE(logits[t], token[t+1])."""
    resolved = resolve(task, registry=REGISTRY)
    built = resolved.build()
    examples = [example_at(built, 0, "train", i) for i in range(2)]
    longest = max(len(e) for e in examples)
    window = longest + 32  # a whole example (with its loss-carrying answer) plus part of the next
    model = _tiny_gpt2(window).build(built.vocab.size, seed=0)
    _check_alignment(model, Collator(built.vocab.pad_id)(examples))
    packed = PackedDataset(built, seed=0, split="train", length=2, seq_len=window)
    _check_alignment(model, Collator(built.vocab.pad_id)([packed[0], packed[1]]))


DYCK = "{name: dyck, preset: smoke}"
LIME = "{name: lime, preset: paper_mixed_1m}"
JOB = """
task: {task}
model:
  adapter: hf_causal_lm
  params:
    model_type: gpt2
    overrides: {{n_layer: 2, n_head: 2, n_embd: 32, n_positions: 64, resid_pdrop: 0.0, embd_pdrop: 0.0, attn_pdrop: 0.0}}
run:
  output_dir: {out}
  max_steps: 6
  batch_size: {batch}
  collation: pack
  seq_len: 32
  eval_examples: 8
  logging_steps: 2
  lr: 0.001
  progress: false
"""


def _cli(*args, cwd=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "pptrain_core", *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=timeout
    )


def test_fit_then_transfer_through_the_cli(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(out=tmp_path / "run", batch=4, task=DYCK))
    fit = _cli("fit", str(job), "--json")
    assert fit.returncode == 0, fit.stderr[-3000:]
    summary = json.loads(fit.stdout)
    assert summary["steps"] == 6 and Path(summary["bundle"]).is_dir()
    bundle = summary["bundle"]

    dry = _cli("transfer", bundle, "--vocab-size", "300", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr[-3000:]
    report = json.loads(dry.stdout)["report"]
    assert report["dry_run"] is True
    assert not (tmp_path / "target").exists()

    out = tmp_path / "target"
    real = _cli("transfer", bundle, "--vocab-size", "300", "--out", str(out))
    assert real.returncode == 0, real.stderr[-3000:]
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    target = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    assert target.get_input_embeddings().weight.shape[0] == 300
    source = load_file(str(Path(bundle) / "model.safetensors"))
    state = target.state_dict()
    for name, tensor in source.items():
        if ".attn." in name or ".mlp." in name:
            assert torch.equal(state[name], tensor), name  # the body came across
    assert not torch.equal(state["transformer.wte.weight"][:9], source["transformer.wte.weight"][:9])
    recorded = json.loads((out / "transfer.json").read_text())
    assert recorded["policy"] == "reinit_embeddings" and recorded["vocab_size"] == 300

    bad = _cli("transfer", str(tmp_path / "nope"), "--vocab-size", "10", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr


@pytest.mark.parametrize("task", [DYCK, LIME])
def test_torchrun_two_processes_match_one_process_with_twice_the_batch(tmp_path, task):
    """Under torchrun each rank reads disjoint examples: 2 x 4 per step equals 1 x 8 per step, in index
    order (dyck:smoke, one example at a time) and in lane order (lime, blocks of 64 examples)."""
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    if not Path(torchrun).exists():
        pytest.skip("torchrun is not installed")
    single = tmp_path / "single.yaml"
    single.write_text(JOB.format(out=tmp_path / "single", batch=8, task=task))
    double = tmp_path / "double.yaml"
    double.write_text(JOB.format(out=tmp_path / "double", batch=4, task=task))
    one = _cli("fit", str(single), "--json")
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(
        [
            torchrun,
            "--nproc_per_node=2",
            f"--master_port={29533 if task == DYCK else 29537}",
            "-m",
            "pptrain_core",
            "fit",
            str(double),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=900,
    )
    assert two.returncode == 0, two.stderr[-4000:]
    run = json.loads((tmp_path / "double" / "run.json").read_text())
    assert run["world_size"] == 2
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "single" / "bundle" / "model.safetensors"))
    b = load_file(str(tmp_path / "double" / "bundle" / "model.safetensors"))
    for name in a:
        assert torch.allclose(a[name], b[name], atol=2e-5), name
    s1 = json.loads((tmp_path / "single" / "summary.json").read_text())
    s2 = json.loads((tmp_path / "double" / "summary.json").read_text())
    assert s1["steps"] == s2["steps"] == 6
