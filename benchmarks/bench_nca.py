"""Throughput of the NCA generator (pptrain-nca) next to pptrain 0.3.0's, in one run.

Tokens per second for ``paper_web_text`` (band 0.5-1.0) and ``paper_code`` (0.3-0.4),
*including rule filtering*: every measured sequence needs its own freshly searched rule
(pool size = number of sequences, as in the first epoch of a paper run, where 16,000
sequences use 16,000 new rules). Also reported: our steady state (rules already in the
pool, i.e. epochs 2..10) and two ways of using worker processes.

pptrain 0.3.0 is imported from a separate directory (it shares the import name
``pptrain``)::

    pip install --no-deps --target /tmp/pptrain030 pptrain==0.3.0
    python benchmarks/bench_nca.py --ref-path /tmp/pptrain030 --out bench_nca.md

Its settings: the same preset numbers (grid 12, 10 states, patch 2, temperature 1e-4,
burn-in 10, 10-frame probe, the same band), ``rule_count = sequence_count = N``,
generated with its own ``NCATask._generate_examples_for_split`` (which draws the rule
pool, then one rollout per sequence, in numpy, one simulation at a time).

``--device cuda`` runs ours on a GPU (the config's ``device`` field; 0.3.0 stays on the
CPU); ``--network symmetric`` times the 10-channel network. ``--compare-devices N`` only
prints, as JSON, :func:`pptrain_nca.rollout.compare_devices` for each preset (``N`` rules
and ``N`` examples, ``--device`` against the CPU) and exits: the float-arithmetic check
to run on a GPU machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date

import attrs
import torch
from _common import add_doc_arg, tee_section

from pptrain_core.config import structure
from pptrain_core.data import VirtualDataset
from pptrain_nca.rollout import compare_devices
from pptrain_nca.specs import NCA, NCAConfig

PRESETS = ("paper_web_text", "paper_code")


def _list(batch):
    return batch


#: ``device`` and ``network`` of our config (set from the command line).
OURS = {"device": "cpu", "network": "official"}


def ours(preset: str, n: int, *, workers: int = 0, mode: str = "single", seed: int = 0) -> float:
    """Tokens/s of ours for ``n`` sequences with ``n`` fresh rules (``mode``: how work is spread)."""
    cfg = structure(dict(NCA.preset(preset).values), NCAConfig)
    cfg = attrs.evolve(cfg, num_rules=n, sims_per_epoch=n, probe_workers=workers if mode == "probe_pool" else 0, **OURS)
    task = NCA.build(cfg)
    ds = VirtualDataset(task, seed=seed, split="train", length=n)
    t0 = time.perf_counter()
    if mode == "probe_pool":
        task.prefetch_rules(seed, "train")
        tokens = sum(len(ds[i]) for i in range(n))
    elif mode == "dataloader":
        loader = torch.utils.data.DataLoader(
            ds, batch_size=cfg.block_size, shuffle=False, num_workers=workers, collate_fn=_list
        )
        tokens = sum(len(ex) for batch in loader for ex in batch)
    elif mode == "steady":
        task.prefetch_rules(seed, "train")
        t0 = time.perf_counter()
        tokens = sum(len(ds[i]) for i in range(n))
    else:
        tokens = sum(len(ds[i]) for i in range(n))
    return tokens / (time.perf_counter() - t0)


def reference(preset: str, n: int, ref_path: str, seed: int = 0) -> tuple[float, dict]:
    """Tokens/s of pptrain 0.3.0's NCA task generating ``n`` sequences with ``n`` rules."""
    sys.path.insert(0, ref_path)
    try:
        from pptrain.tasks.nca.config import NCAConfig as RefConfig
        from pptrain.tasks.nca.generator import required_frame_count
        from pptrain.tasks.nca.task import NCATask as RefTask
    finally:
        sys.path.remove(ref_path)
    lower, upper = NCA.preset(preset).values["band_lower"], NCA.preset(preset).values["band_upper"]
    settings = dict(
        grid_size=12,
        num_states=10,
        patch_size=2,
        temperature=1e-4,
        init_rollout_steps=10,
        complexity_probe_frames=10,
        max_length=1024,
        complexity_min=lower,
        complexity_max=upper,
        sequence_count=n,
        rule_count=n,
    )
    task = RefTask(RefConfig(**settings))
    spec = task.tokenizer_spec()
    frames = required_frame_count(max_length=1024, grid_size=12, patch_size=2)
    t0 = time.perf_counter()
    inputs, _, _ = task._generate_examples_for_split(
        spec=spec,
        seed=seed,
        split="train",
        epoch_index=0,
        sequence_count=n,
        rule_count=n,
        frame_count=frames,
        frame_token_length=38,
    )
    dt = time.perf_counter() - t0
    return sum(len(x) for x in inputs) / dt, settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1024, help="sequences for ours (each with a fresh rule)")
    ap.add_argument("--n-ref", type=int, default=32, help="sequences for pptrain 0.3.0")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved 0.3.0 / ours repeats (median)")
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--ref-path", default="/tmp/pptrain030")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for the single-process rows")
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    ap.add_argument("--device", default="cpu", help="our config's device: cpu, cuda, cuda:N or auto")
    ap.add_argument("--network", default="official", choices=("official", "symmetric"))
    ap.add_argument("--compare-devices", type=int, default=0, metavar="N", help="print compare_devices and exit")
    add_doc_arg(ap)
    args = ap.parse_args()
    OURS.update(device=args.device, network=args.network)
    if args.compare_devices:
        torch.set_num_threads(args.threads)
        for preset in PRESETS:
            cfg = attrs.evolve(structure(dict(NCA.preset(preset).values), NCAConfig), network=args.network)
            n = args.compare_devices
            print(json.dumps({"preset": preset, **compare_devices(cfg, device=args.device, rules=n, examples=n)}))
        return
    with tee_section(args.doc, "nca", args.ref_path, __doc__):
        _main(args)


def _main(args) -> None:
    torch.set_num_threads(args.threads)

    rows = []
    for preset in PRESETS:
        # 0.3.0 then ours, alternately, each repeat on fresh seeds (so fresh rules), so load
        # drift on a shared machine hits both columns alike; the ratio is per repeat
        refs, singles = [], []
        for rep in range(args.repeats):
            ref, settings = reference(preset, args.n_ref, args.ref_path, seed=100 + rep)
            refs.append(ref)
            singles.append(ours(preset, args.n, seed=100 + rep))
        ratios = sorted(s / r for s, r in zip(singles, refs, strict=True))
        steady = ours(preset, args.n, mode="steady")
        pool = ours(preset, args.n, workers=args.workers, mode="probe_pool")
        loader = ours(preset, args.n, workers=args.workers, mode="dataloader")
        med = statistics.median
        rows.append((preset, med(refs), med(singles), med(ratios), ratios, steady, pool, loader))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{args.threads} torch thread(s); {date.today().isoformat()}; load average {load:.1f} at the end.",
        f"Command: `python benchmarks/bench_nca.py --n {args.n} --n-ref {args.n_ref} --repeats {args.repeats} "
        f"--workers {args.workers} --device {args.device} --network {args.network}`.",
        f"Every sequence needs a freshly filtered rule (pool = sequences); ours: {args.n} sequences, "
        f"pptrain 0.3.0: {args.n_ref} sequences, {args.repeats} interleaved repeats on fresh seeds (medians).",
        "",
        "| preset | pptrain 0.3.0 tok/s | ours, 1 process | ratio (median) | ratios per repeat "
        f"| ours, rules cached (epochs 2+) | ours, probe pool ({args.workers} procs) "
        f"| ours, DataLoader ({args.workers} workers) |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for preset, ref, single, ratio, ratios, steady, pool, loader in rows:
        each = ", ".join(f"{r:.1f}x" for r in ratios)
        lines.append(
            f"| `{preset}` | {ref:,.0f} | {single:,.0f} | {ratio:.1f}x | {each} | {steady:,.0f} "
            f"| {pool:,.0f} | {loader:,.0f} |"
        )
    lines.append("")
    lines.append(
        "pptrain 0.3.0 settings: "
        + ", ".join(f"{k}={v}" for k, v in settings.items() if k not in ("complexity_min", "complexity_max"))
        + "; band per preset; numpy, one simulation at a time."
    )
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
