"""One prepared benchmark for an accelerator: does the data path keep the device busy?

Prints one JSON object with

- ``training``: for NCA and Dyck, ``pptrain fit``'s own path (``PrePreTrainer``) training a
  GPT-2-small-sized model (12 layers, d 768, 12 heads, 1,024 positions) in bf16 on cuda (fp32
  on a CPU, where bf16 is emulated), with DataLoader workers: steady-state training tokens/s
  (from the run's logged steps, the first logging interval left out), the share of the run spent
  waiting for batches (``data_wait_share``), and peak memory;
- ``data``: tokens/s of the training input pipeline alone (``PrePreTrainer.data_loader()``:
  dataset, read order, collator and workers of ``fit``) at several worker counts;
- ``nca_generation``: NCA generation with the rollouts on the device (``device: cuda``, in the
  training process) next to CPU generation in DataLoader workers;
- ``machine``: device name, torch version, CPU count.

``--quick`` shrinks everything (a tiny model, tiny presets, a few steps) so the whole script runs in
well under a minute on a CPU; the tests run it that way. On an accelerator the full run takes a few
minutes. ``--device cuda`` without a GPU is refused in one sentence (exit 2).

    python benchmarks/device.py --device cuda --json            # on the accelerator
    python benchmarks/device.py --device cpu --quick --json     # here, and in the tests
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scaling import _run_config, loader_rate, steady_rate  # noqa: E402

GPT2_SMALL = {"n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024}
GPT2_TINY = {"n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 1024}

FULL = {
    "presets": {"nca": "nca:paper_web_text", "dyck": "dyck:paper_k64"},
    "model": GPT2_SMALL,
    "batch": 16,
    "steps": 40,
    "logging_steps": 5,
    "train_workers": 4,
    "workers": [0, 1, 2, 4, 8],
    "seconds": 4.0,
    "warm": 32,
}
QUICK = {
    "presets": {"nca": "nca:smoke", "dyck": "dyck:small_k8"},
    "model": GPT2_TINY,
    "batch": 2,
    "steps": 6,
    "logging_steps": 2,
    "train_workers": 1,
    "workers": [0, 1],
    "seconds": 0.3,
    "warm": 2,
}


def _peak_memory(device: str) -> dict:
    import torch

    if device.startswith("cuda"):
        return {"peak_gpu_bytes": int(torch.cuda.max_memory_allocated()), "kind": "torch.cuda.max_memory_allocated"}
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"peak_rss_bytes": int(kib) * 1024, "kind": "ru_maxrss of this process so far"}


def training(preset: str, cfg: dict, device: str) -> dict:
    import torch

    from pptrain_core.tasks import create_task
    from pptrain_core.training import PrePreTrainer
    from pptrain_core.training.job import build_adapter

    on_gpu = device.startswith("cuda")
    precision = "bf16" if on_gpu else "fp32"
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    adapter = build_adapter("hf_causal_lm", {"model_type": "gpt2", "overrides": cfg["model"]})
    with tempfile.TemporaryDirectory() as tmp:
        run = _run_config(
            preset,
            tmp,
            workers=cfg["train_workers"],
            seed=0,
            steps=cfg["steps"],
            batch=cfg["batch"],
            logging_steps=cfg["logging_steps"],
            precision=precision,
            lr=3e-4,
        )
        summary = PrePreTrainer(create_task(preset), adapter, run).fit().summary
        steady = steady_rate(Path(tmp) / "metrics.jsonl")
    return {
        "preset": preset,
        "model": cfg["model"],
        "precision": precision,
        "batch_sequences": cfg["batch"],
        "steps": summary["steps"],
        "dataloader_workers": cfg["train_workers"],
        "tokens_per_s_steady": round(steady, 1) if steady else None,
        "tokens_per_s_whole_run": summary["tokens_per_s"],
        "data_wait_share": summary["data_wait_share"],
        "data_wait_s": summary["data_wait_s"],
        "wall_time_s": summary["wall_time_s"],
        "memory": _peak_memory(device),
    }


def data(preset: str, cfg: dict) -> dict:
    return {
        str(w): round(loader_rate(preset, w, cfg["seconds"], 0, warm=cfg["warm"], batch=cfg["batch"]), 1)
        for w in cfg["workers"]
    }


def nca_generation(preset: str, cfg: dict, device: str) -> dict:
    most = max(cfg["workers"])
    on_device = loader_rate(preset, 0, cfg["seconds"], 0, params={"device": device}, warm=cfg["warm"])
    cpu_workers = loader_rate(preset, most, cfg["seconds"], 0, params={"device": "cpu"}, warm=cfg["warm"])
    return {
        "preset": preset,
        "device_in_training_process_tokens_per_s": round(on_device, 1),
        "device": device,
        "cpu_workers": most,
        "cpu_workers_tokens_per_s": round(cpu_workers, 1),
        "device_over_cpu_workers": round(on_device / cpu_workers, 3) if cpu_workers else None,
    }


def machine(device: str) -> dict:
    import torch

    return {
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or "cpu",
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    ap.add_argument("--quick", action="store_true", help="tiny model and presets, a few steps (under a minute on CPU)")
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    ap.add_argument("--out", help="also write the JSON object to this file")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.device != "cpu" and not args.device.startswith("cuda"):
        print(f"device.py: --device {args.device!r} is not supported; use cpu or cuda", file=sys.stderr)
        return 2
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("device.py: --device cuda was asked for but torch sees no GPU; use --device cpu", file=sys.stderr)
        return 2
    if args.device == "cpu":
        torch.set_num_threads(1)
    cfg = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    say = (lambda *_: None) if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    result: dict = {"machine": machine(args.device), "quick": args.quick, "training": {}, "data": {}}
    for family, preset in cfg["presets"].items():
        say(f"training on {preset} ...")
        result["training"][family] = training(preset, cfg, args.device)
        say(f"data path of {preset} ...")
        result["data"][family] = {"preset": preset, "tokens_per_s_by_workers": data(preset, cfg)}
    say("NCA generation on the device vs CPU workers ...")
    result["nca_generation"] = nca_generation(cfg["presets"]["nca"], cfg, args.device)
    result["elapsed_s"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(result, indent=2)
    if args.out:
        tmp = Path(args.out).with_name(f".{Path(args.out).name}.tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, args.out)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
