"""Time to first training step and training tokens/s: our PrePreTrainer, pptrain 0.3.0's
PrePreTrainer and a hand-written PyTorch loop, on the same tiny GPT-2 and batch shape.

Every measurement is a fresh process (``--child``), so time to first step is honest: from
just before the parent starts the process to the end of the first optimizer step (imports,
task and dataset construction, model creation, Trainer set-up included). Step times come
from a global ``torch.optim`` step post-hook, identical for the three loops, and tokens/s is
measured from the end of step 1 to the end of the last step (steady state). One torch
thread everywhere (``torch.set_num_threads(1)``, ``OMP_NUM_THREADS=1``).

Model: GPT-2 (``transformers``), 2 layers, d 64, 2 heads, 256 positions, default dropout;
batch 8, AdamW lr 1e-3, fp32, CPU. Data: ours ``dyck:small_k8`` (k=8, 256 tokens per
example); pptrain 0.3.0 its ``dyck`` with k=8 and 127 pairs (255 input tokens per example,
the closest it gets to 256: its ``max_length`` rule cuts at 2*127+1); the hand loop reads
our dataset through our collator. 0.3.0's HF adapter needs ``from_pretrained``, so it gets
a local folder holding the same ``GPT2Config`` (no network).

    python benchmarks/bench_training.py [--steps 100] [--repeats 3] [--ref-path /tmp/pptrain030] \
        [--doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _common import DEFAULT_REF, add_doc_arg, header, import_ref, interleave, median, write_section

BATCH, LR, SEQ = 8, 1e-3, 256
GPT2 = {"n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": SEQ}


def _hook() -> list[float]:
    from torch.optim.optimizer import register_optimizer_step_post_hook

    stamps: list[float] = []
    register_optimizer_step_post_hook(lambda *_a, **_k: stamps.append(time.time()))
    return stamps


def child_ours(steps: int) -> dict:
    import torch

    torch.set_num_threads(1)
    stamps = _hook()
    from pptrain_core.tasks import create_task
    from pptrain_core.training import PrePreTrainer, RunConfig
    from pptrain_core.training.job import build_adapter

    with tempfile.TemporaryDirectory() as tmp:
        run = RunConfig(
            output_dir=tmp,
            max_steps=steps,
            batch_size=BATCH,
            lr=LR,
            schedule="constant",
            max_grad_norm=1.0,
            eval_examples=0,
            progress=False,
            export_bundle=False,
            logging_steps=steps,
        )
        adapter = build_adapter("hf_causal_lm", {"model_type": "gpt2", "overrides": GPT2})
        summary = PrePreTrainer(create_task("dyck:small_k8"), adapter, run).fit().summary
    return {"stamps": stamps, "tokens_per_step": summary["tokens_seen"] / summary["steps"]}


def child_ref(steps: int, ref_path: str) -> dict:
    import torch

    torch.set_num_threads(1)
    stamps = _hook()
    import_ref(ref_path)
    from pptrain.core.config import RunConfig
    from pptrain.core.registry import create_task
    from pptrain.core.runner import PrePreTrainer
    from pptrain.integrations import HFCausalLMAdapter, HFModelConfig
    from transformers import GPT2Config

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.path.join(tmp, "gpt2-config")
        GPT2Config(**GPT2).save_pretrained(model_dir)
        task = create_task(
            "dyck",
            {
                "num_bracket_types": 8,
                "min_pairs": 127,
                "max_pairs": 127,
                "max_depth": 16,
                "max_length": SEQ,
                "sequence_count": steps * BATCH,
                "eval_sequence_count": BATCH,
            },
        )
        run = RunConfig(
            output_dir=os.path.join(tmp, "run"),
            per_device_train_batch_size=BATCH,
            learning_rate=LR,
            max_steps=steps,
            logging_steps=steps,
            save_steps=10**9,
            eval_steps=10**9,
        )
        trainer = PrePreTrainer(HFCausalLMAdapter(HFModelConfig(model_name_or_path=model_dir)), run, task)
        trainer.fit()
    ds = task.build_datasets(seed=run.seed).train_dataset
    tokens = sum(len(s) for s in ds.sequences)
    return {"stamps": stamps, "tokens_per_step": tokens / steps}


def child_hand(steps: int) -> dict:
    import torch

    torch.set_num_threads(1)
    stamps = _hook()
    from transformers import GPT2Config, GPT2LMHeadModel

    from pptrain_core.data import VirtualDataset
    from pptrain_core.tasks import create_task
    from pptrain_core.training.collate import Collator

    built = create_task("dyck:small_k8").build()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=built.vocab.size, **GPT2))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    ds = VirtualDataset(built, seed=0, split="train", length=steps * BATCH)
    loader = torch.utils.data.DataLoader(ds, batch_size=BATCH, collate_fn=Collator(built.vocab.pad_id))
    tokens = 0
    for batch in loader:
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    return {"stamps": stamps, "tokens_per_step": tokens / steps}


def measure(kind: str, args) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--steps", str(args.steps)]
    cmd += ["--ref-path", args.ref_path]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {args.timeout:.0f} s"}
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"error": f"crash: {(lines[-1] if lines else str(proc.returncode))[:150]}"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    stamps = out["stamps"]
    if len(stamps) < 2:
        return {"error": f"only {len(stamps)} optimizer step(s) seen"}
    return {
        "first_step_s": stamps[0] - t0,
        "tokens_per_s": (len(stamps) - 1) * out["tokens_per_step"] / (stamps[-1] - stamps[0]),
        "steps": len(stamps),
        "tokens_per_step": out["tokens_per_step"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--ref-path", default=DEFAULT_REF)
    ap.add_argument("--child", choices=("ours", "ref", "hand"), help=argparse.SUPPRESS)
    add_doc_arg(ap)
    args = ap.parse_args()

    if args.child:
        fn = {"ours": child_ours, "hand": child_hand}.get(args.child)
        out = fn(args.steps) if fn else child_ref(args.steps, args.ref_path)
        sys.stdout.write("\n" + json.dumps(out) + "\n")
        return

    kinds = [
        ("ours", "our `PrePreTrainer` (transformers.Trainer)"),
        ("ref", "pptrain 0.3.0 `PrePreTrainer` (transformers.Trainer)"),
        ("hand", "hand-written PyTorch loop (our dataset and collator)"),
    ]
    results: dict[str, list[dict]] = {k: [] for k, _ in kinds}

    def runner(kind: str):
        def fn() -> float | None:
            r = measure(kind, args)
            results[kind].append(r)
            print(f"  {kind}: {r}", flush=True)
            return r.get("tokens_per_s")

        return fn

    interleave([runner(k) for k, _ in kinds], args.repeats)

    def summary(kind: str) -> dict:
        ok = [r for r in results[kind] if "error" not in r]
        if not ok:
            return {"error": results[kind][-1]["error"]}
        return {
            "tps": median([r["tokens_per_s"] for r in ok]),
            "first": median([r["first_step_s"] for r in ok]),
            "tokens_per_step": ok[0]["tokens_per_step"],
            "runs": f"{len(ok)}/{len(results[kind])}",
        }

    s = {k: summary(k) for k, _ in kinds}
    rows = [
        "| loop | tokens / step | time to first step (s) | tokens / s | vs hand-written | vs pptrain 0.3.0 | runs ok |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, label in kinds:
        r = s[kind]
        if "error" in r:
            rows.append(f"| {label} | - | {r['error']} | - | - | - | 0/{len(results[kind])} |")
            continue
        vs_hand = f"{r['tps'] / s['hand']['tps']:.2f}" if "error" not in s["hand"] else "-"
        vs_ref = f"{r['tps'] / s['ref']['tps']:.2f}" if "error" not in s["ref"] else "-"
        rows.append(
            f"| {label} | {r['tokens_per_step']:.0f} | {r['first']:.2f} | {r['tps']:,.0f} | {vs_hand} | {vs_ref} "
            f"| {r['runs']} |"
        )
    body = header(args.ref_path, notes="one torch thread per process (`torch.set_num_threads(1)`, OMP_NUM_THREADS=1)")
    body += [
        "",
        f"GPT-2 (transformers), 2 layers, d 64, 2 heads, {SEQ} positions; batch {BATCH}, AdamW lr {LR:g}, fp32, CPU; "
        f"{args.steps} optimizer steps per run; median of {args.repeats} interleaved runs, each a fresh process. "
        "Time to first step: from just before the process is started to the end of its first optimizer step "
        "(Python start-up, imports, dataset and model construction included; 0.3.0 generates its whole training "
        "set before step 1). Tokens/s: non-padding input tokens from the end of step 1 to the end of the last "
        "step, timed by a global `torch.optim` step hook, the same for all three. Data: ours `dyck:small_k8` "
        "(256 tokens); 0.3.0 its `dyck` at k=8 with 127 pairs (255 tokens, its closest shape); hand-written: "
        "our dataset and collator, no Trainer.",
        "",
        *rows,
    ]
    write_section(args.doc, "training", body)
    if not args.doc:
        print("\n".join(body))


if __name__ == "__main__":
    main()
