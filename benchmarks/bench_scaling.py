"""Scaling on CPU: generation tokens/s vs DataLoader worker processes, and a 2-process
``torchrun`` training run vs 1 process (gloo backend).

Generation: ours only (pptrain 0.3.0 materialises its lists in the main process before
training, so it has no worker-parallel generation to compare), a ``VirtualDataset`` read
through ``torch.utils.data.DataLoader`` with 0, 1, 2 and 4 workers, batches of 8 examples
collated by our pad collator, timed for ``--seconds`` from the first batch (worker start-up
excluded), interleaved over worker counts, medians.

Training: ``pptrain fit`` on a tiny GPT-2 (2 layers, d 64, 2 heads) on ``dyck:small_k8``
(256 tokens), batch 8 per process, one torch thread per process, once as one process and
once as ``torchrun --nproc_per_node 2`` (gloo); tokens/s from the run summary (the
Trainer's loop time), total and per process.

    python benchmarks/bench_scaling.py [--seconds 3] [--repeats 3] [--steps 150] [--doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import add_doc_arg, fmt_rate, header, interleave, median, write_section

PRESETS = ("dyck:paper_k64", "simpler_tasks:paper_all18", "lime:paper_mixed_1m")
WORKERS = (0, 1, 2, 4)


def loader_rate(preset: str, workers: int, seconds: float, seed: int) -> float:
    import torch

    from pptrain_core.data import VirtualDataset, mean_length
    from pptrain_core.tasks import create_task
    from pptrain_core.training.collate import Collator, PackedDataset

    built = create_task(preset).build()
    if mean_length(built, 1, "train", 16) < 256:  # short examples packed into 256-token windows, as in training
        ds = PackedDataset(built, seed=seed, split="train", length=10**8, seq_len=256)
    else:
        ds = VirtualDataset(built, seed=seed, split="train", length=10**8)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=workers, collate_fn=Collator(built.vocab.pad_id))
    it = iter(loader)
    next(it)
    tokens = 0
    t0 = time.perf_counter()
    for batch in it:
        tokens += int(batch["attention_mask"].sum())
        dt = time.perf_counter() - t0
        if dt >= seconds:
            break
    del it, loader
    return tokens / dt


JOB = """task: {{name: dyck, preset: small_k8}}
model:
  adapter: hf_causal_lm
  params:
    model_type: gpt2
    overrides: {{n_layer: 2, n_head: 2, n_embd: 64, n_positions: 256}}
run:
  output_dir: {out}
  max_steps: {steps}
  batch_size: 8
  lr: 0.001
  schedule: constant
  logging_steps: {steps}
  eval_examples: 0
  export_bundle: false
  progress: false
"""


def fit_rate(nproc: int, steps: int, timeout: float, port: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.yaml"
        out = Path(tmp) / "run"
        job.write_text(JOB.format(out=out, steps=steps))
        if nproc == 1:
            cmd = [sys.executable, "-m", "pptrain_core", "fit", str(job), "--json"]
        else:
            torchrun = str(Path(sys.executable).with_name("torchrun"))
            cmd = [torchrun, f"--nproc_per_node={nproc}", f"--master_port={port}", "-m", "pptrain_core"]
            cmd += ["fit", str(job), "--json"]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timeout after {timeout:.0f} s"}
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            return {"error": f"crash: {(lines[-1] if lines else proc.returncode)}"[:150]}
        summary = json.loads((out / "summary.json").read_text())
    world = int(summary.get("world_size", nproc))
    return {
        "world": world,
        "tokens": summary["tokens_seen"],
        "tps": summary["tokens_seen"] / summary["wall_time_s"],
        "process_wall_s": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="consumption time per DataLoader measurement")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=150, help="optimizer steps per training run")
    ap.add_argument("--train-repeats", type=int, default=2)
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--timeout", type=float, default=400.0)
    add_doc_arg(ap)
    args = ap.parse_args()
    import warnings

    import torch

    warnings.filterwarnings("ignore", message="This DataLoader will create")  # 4 workers on 2 cores, on purpose
    torch.set_num_threads(1)
    cores = os.cpu_count() or 1

    gen_rows = [
        "| task:preset | " + " | ".join(f"{w} workers" for w in WORKERS) + " | best / 0 workers |",
        "|---|" + "---:|" * (len(WORKERS) + 1),
    ]
    for preset in [p for p in args.presets.split(",") if p]:
        seeds = iter(range(10_000))
        rates = interleave(
            [lambda w=w, p=preset, s=seeds: loader_rate(p, w, args.seconds, next(s)) for w in WORKERS], args.repeats
        )
        meds = [median(r) for r in rates]
        best = max(m for m in meds if m is not None)
        gen_rows.append(f"| `{preset}` | " + " | ".join(fmt_rate(m) for m in meds) + f" | {best / meds[0]:.2f}x |")
        print(gen_rows[-1], flush=True)

    fits: dict[int, list[dict]] = {1: [], 2: []}
    port = iter(range(29611, 29700))

    def fit(n: int):
        def fn() -> float | None:
            r = fit_rate(n, args.steps, args.timeout, next(port))
            fits[n].append(r)
            print(f"  fit x{n}: {r}", flush=True)
            return r.get("tps")

        return fn

    interleave([fit(1), fit(2)], args.train_repeats)
    train_rows = [
        "| processes | tokens / s, total | tokens / s per process | total vs 1 process | whole command (s) | runs ok |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    base = None
    for n in (1, 2):
        ok = [r for r in fits[n] if "error" not in r]
        if not ok:
            train_rows.append(f"| {n} | {fits[n][-1]['error']} | - | - | - | 0/{len(fits[n])} |")
            continue
        tps = median([r["tps"] for r in ok])
        base = base or tps
        wall = median([r["process_wall_s"] for r in ok])
        train_rows.append(
            f"| {n} | {tps:,.0f} | {tps / n:,.0f} | {tps / base:.2f}x | {wall:.1f} | {len(ok)}/{len(fits[n])} |"
        )
    body = header(None, notes="one torch thread per process (`torch.set_num_threads(1)`, OMP_NUM_THREADS=1)")
    body += [
        "",
        f"This machine has {cores} cores, shared with whatever else runs on it (see the load average): with "
        f"more worker processes than free cores the workers only take turns, so the figures flatten at "
        f"{cores} and beyond, and a 2-process run can at best double the total if both cores are free. "
        "Run it on a bigger machine to see the curve continue.",
        "",
        "### Generation through a DataLoader (ours)",
        "",
        f"Tokens/s, batches of 8 sequences (examples shorter than 256 tokens packed into 256-token windows, longer "
        f"ones padded), {args.seconds:g} s of consumption per measurement "
        f"after the first batch (worker start-up excluded), median of {args.repeats} runs interleaved over "
        "worker counts. pptrain 0.3.0 generates its whole list in the main process before training "
        "(`build_datasets`), so it has no row here: its single-process rate is in the family sections above.",
        "",
        *gen_rows,
        "",
        "### Training: `torchrun --nproc_per_node 2` vs 1 process (CPU, gloo)",
        "",
        f"`pptrain fit` (ours), GPT-2 2 layers d 64 2 heads on `dyck:small_k8` (256 tokens), batch 8 per process, "
        f"{args.steps} steps, AdamW lr 1e-3 constant, fp32; tokens/s = tokens seen over all ranks / the "
        f"Trainer's loop time from the run summary; median of {args.train_repeats} interleaved runs. "
        "`whole command` includes start-up (and torchrun's rendezvous).",
        "",
        *train_rows,
    ]
    write_section(args.doc, "scaling", body)
    if not args.doc:
        print("\n".join(body))


if __name__ == "__main__":
    main()
