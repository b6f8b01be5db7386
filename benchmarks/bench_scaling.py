"""Scaling on CPU: tokens/s of the training input pipeline vs DataLoader worker processes, the
share of training time spent waiting for data, and a 2-process ``torchrun`` training run vs 1
process (gloo backend).

Generation: ours only (pptrain 0.3.0 materialises its lists in the main process before
training, so it has no worker-parallel generation to compare). The batches come from
``PrePreTrainer.data_loader()``: the dataset, read order, collator and DataLoader settings of
``pptrain fit`` itself, with 0, 1, 2, 4, 8 and 16 workers, batches of 8 sequences, timed for
``--seconds`` after the first 32 batches (worker start-up and the first blocks excluded), after an
untimed warm-up read, interleaved over worker counts,
medians.

Data wait: ``pptrain fit`` of a tiny GPT-2 (2 layers, d 64, 2 heads) for ``--wait-steps`` steps;
the run summary's ``data_wait_share`` is the time the training loop spent fetching batches over
its whole time.

Training: ``pptrain fit`` on a tiny GPT-2 (2 layers, d 64, 2 heads) on ``dyck:small_k8``
(256 tokens), batch 8 per process, one torch thread per process, once as one process and
once as ``torchrun --nproc_per_node 2`` (gloo); tokens/s from the run summary (the
Trainer's loop time), total and per process.

    python benchmarks/bench_scaling.py [--seconds 3] [--repeats 3] [--steps 150] [--wait-steps 60]
        [--workers 0,1,2,4,8,16] [--doc docs/benchmarks.md]
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

from pptrain_core.training.order import LANES

PRESETS = (
    "dyck:paper_k64",
    "nca:paper_web_text",
    "lime:paper_mixed_1m",
    "simpler_tasks:paper_all18",
    "procedural",
    "summarization",
)
WORKERS = (0, 1, 2, 4, 8, 16)
WAIT_WORKERS = (0, 2)
TINY = {"model_type": "gpt2", "overrides": {"n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 1024}}


def _run_config(
    preset: str, out: str, *, workers: int, seed: int, steps: int, batch: int = 8, params: dict | None = None, **run
):
    """Batches of ``batch`` sequences; examples shorter than 256 tokens packed into 256-token windows, as
    training on them would be, longer ones padded (cut at 1,024)."""
    from pptrain_core.data import mean_length
    from pptrain_core.tasks import create_task
    from pptrain_core.training import RunConfig

    short = mean_length(create_task(preset, **(params or {})).build(), seed, "train", 16) < 256
    settings = dict(
        output_dir=out,
        max_steps=steps,
        batch_size=batch,
        collation="pack" if short else "pad",
        seq_len=256 if short else 1024,
        dataloader_workers=workers,
        data_seed=seed,
        eval_examples=0,
        logging_steps=steps,
        lr=1e-3,
        schedule="constant",
        progress=False,
        export_bundle=False,
    )
    return RunConfig(**{**settings, **run})


def loader_rate(
    preset: str,
    workers: int,
    seconds: float,
    seed: int,
    *,
    params: dict | None = None,
    warm: int = 2 * LANES,
    batch: int = 8,
) -> float:
    """Tokens/s of the batches ``PrePreTrainer.data_loader`` yields: the dataset, order, collator and
    workers of ``pptrain fit``, without the model; timed after ``warm`` batches (worker start-up and
    the lanes' first blocks are not the steady state). ``params`` override the task's settings."""
    from pptrain_core.tasks import create_task
    from pptrain_core.training import PrePreTrainer
    from pptrain_core.training.job import build_adapter

    with tempfile.TemporaryDirectory() as tmp:
        run = _run_config(preset, tmp, workers=workers, seed=seed, steps=10**6, batch=batch, params=params)
        task = create_task(preset, **(params or {}))
        loader = PrePreTrainer(task, build_adapter("hf_causal_lm", TINY), run).data_loader()
        it = iter(loader)
        for _ in range(max(1, warm)):
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


def steady_rate(metrics: Path) -> float | None:
    """Tokens/s between the first and the last logged training step (start-up left out)."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "loss" in r and "tokens" in r and "time_s" in r]
    if len(rows) < 2 or rows[-1]["time_s"] <= rows[0]["time_s"]:
        return None
    return (rows[-1]["tokens"] - rows[0]["tokens"]) / (rows[-1]["time_s"] - rows[0]["time_s"])


def data_wait(preset: str, workers: int, steps: int, seed: int) -> dict:
    """A real ``fit`` of the tiny GPT-2: steady tokens/s and the share of its time spent waiting for batches."""
    from pptrain_core.tasks import create_task
    from pptrain_core.training import PrePreTrainer
    from pptrain_core.training.job import build_adapter

    with tempfile.TemporaryDirectory() as tmp:
        run = _run_config(preset, tmp, workers=workers, seed=seed, steps=steps, logging_steps=max(1, steps // 10))
        summary = PrePreTrainer(create_task(preset), build_adapter("hf_causal_lm", TINY), run).fit().summary
        steady = steady_rate(Path(tmp) / "metrics.jsonl")
    return {"tps": steady or summary["tokens_per_s"], "wait": summary["data_wait_share"]}


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
    ap.add_argument("--workers", default=",".join(map(str, WORKERS)), help="worker counts for the pipeline table")
    ap.add_argument("--wait-steps", type=int, default=60, help="optimizer steps per data-wait run (0: skip)")
    ap.add_argument("--skip-torchrun", action="store_true", help="leave out the torchrun table")
    ap.add_argument("--timeout", type=float, default=400.0)
    ap.add_argument("--json", action="store_true", help="also print the raw figures as JSON")
    add_doc_arg(ap)
    args = ap.parse_args()
    import warnings

    import torch

    warnings.filterwarnings("ignore", message="This DataLoader will create")  # 4 workers on 2 cores, on purpose
    torch.set_num_threads(1)
    cores = os.cpu_count() or 1

    workers = [int(w) for w in args.workers.split(",") if w]
    presets = [p for p in args.presets.split(",") if p]
    gen_rows = [
        "| task:preset | " + " | ".join(f"{w} workers" for w in workers) + " | best / 0 workers |",
        "|---|" + "---:|" * (len(workers) + 1),
    ]
    raw: dict = {"pipeline": {}, "data_wait": {}}
    for preset in presets:
        loader_rate(preset, 0, 0.2, 9_999)  # one-off set-up (word lists, rule tables) before any timing
        seeds = iter(range(10_000))
        rates = interleave(
            [lambda w=w, p=preset, s=seeds: loader_rate(p, w, args.seconds, next(s)) for w in workers], args.repeats
        )
        meds = [median(r) for r in rates]
        raw["pipeline"][preset] = dict(zip(workers, meds, strict=True))
        best = max(m for m in meds if m is not None)
        gen_rows.append(f"| `{preset}` | " + " | ".join(fmt_rate(m) for m in meds) + f" | {best / meds[0]:.2f}x |")
        print(gen_rows[-1], flush=True)

    wait_rows = [
        "| task:preset | " + " | ".join(f"{w} workers: tokens / s | {w} workers: waiting" for w in WAIT_WORKERS) + " |",
        "|---|" + "---:|" * (2 * len(WAIT_WORKERS)),
    ]
    if args.wait_steps:
        data_wait(presets[0], 0, 3, 0)  # the first fit in a process pays one-off set-up costs
        for preset in presets:
            cells = []
            for w in WAIT_WORKERS:
                r = data_wait(preset, w, args.wait_steps, 0)
                raw["data_wait"].setdefault(preset, {})[w] = r
                cells += [f"{r['tps']:,.0f}", f"{100 * r['wait']:.1f} %"]
            wait_rows.append(f"| `{preset}` | " + " | ".join(cells) + " |")
            print(wait_rows[-1], flush=True)

    fits: dict[int, list[dict]] = {1: [], 2: []}
    port = iter(range(29611, 29700))

    def fit(n: int):
        def fn() -> float | None:
            r = fit_rate(n, args.steps, args.timeout, next(port))
            fits[n].append(r)
            print(f"  fit x{n}: {r}", flush=True)
            return r.get("tps")

        return fn

    if not args.skip_torchrun:
        interleave([fit(1), fit(2)], args.train_repeats)
    train_rows = [
        "| processes | tokens / s, total | tokens / s per process | total vs 1 process | whole command (s) | runs ok |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    base = None
    for n in (1, 2):
        ok = [r for r in fits[n] if "error" not in r]
        if not fits[n]:
            train_rows.append(f"| {n} | not run (`--skip-torchrun`) | - | - | - | - |")
            continue
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
        "### The training input pipeline vs DataLoader workers (ours)",
        "",
        "Tokens/s of the batches `PrePreTrainer.data_loader()` yields: the dataset, read order (lane order "
        "for block-generating families), collator and DataLoader settings of `pptrain fit` itself, without "
        f"the model. Batches of 8 sequences (examples shorter than 256 tokens packed into 256-token windows, "
        f"longer ones padded and cut at 1,024), {args.seconds:g} s of consumption per measurement after the "
        f"first {2 * LANES} batches (worker start-up and the lanes' first blocks excluded), after an untimed "
        f"warm-up read in the same process, median of {args.repeats} runs interleaved over worker counts. "
        "pptrain 0.3.0 generates its whole list in the main process before training (`build_datasets`), so it "
        "has no row here: its single-process rate is in the family sections above.",
        "",
        *gen_rows,
        "",
        "### Share of training time spent waiting for data",
        "",
        f"`pptrain fit` of a tiny GPT-2 (2 layers, d 64, 2 heads, fp32, one thread) for {args.wait_steps} steps, "
        "same batches as above, after one untimed warm-up run in the same process; tokens / s between the first "
        "and the last logged step; `waiting` is the run summary's `data_wait_share`: the time the training loop "
        "spent fetching its next batches over the run's whole time. With workers the batches are made while "
        "the model trains, so on free cores the wait drops; on this machine the workers take the model's core.",
        "",
        *(wait_rows if args.wait_steps else ["Not measured (`--wait-steps 0`)."]),
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
    if args.json:
        print(json.dumps(raw, indent=2))
    write_section(args.doc, "scaling", body)
    if not args.doc:
        print("\n".join(body))


if __name__ == "__main__":
    main()
