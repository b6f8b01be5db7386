"""Throughput of `simpler_tasks` next to pptrain 0.3.0's `simpler_tasks` family, same process.

Tokens per second of generated examples, single process, per preset. Ours: sequential
reads of a :class:`~pptrain_core.data.VirtualDataset` (blocks of 32 examples, the way a
DataLoader worker reads). pptrain 0.3.0: its own per-example sampler
(``_sample_bounded_example``, what its ``build_datasets`` loops over), with every 0.3.0
preset run; a preset that raises is recorded as a row with the error.

pptrain 0.3.0's import name ``pptrain`` clashes with our meta-package, so install it
into its own directory first:

    pip install --no-deps --target /tmp/pptrain030 pptrain==0.3.0
    python benchmarks/bench_simpler_tasks.py [--seconds 1.0] [--old /tmp/pptrain030]

Prints a markdown table (paste it into docs/tasks/simpler-tasks.md with machine, date
and command). Nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone

from pptrain_core.config import structure
from pptrain_core.data import VirtualDataset
from pptrain_simpler_tasks.specs import SIMPLER_TASKS, SimplerTasksConfig

#: our preset -> the pptrain 0.3.0 preset generating the same task (its sizes differ)
OLD_MATCH = {
    "paper_copy": "paper_copy_1m",
    "paper_set": "paper_set_1m",
    "paper_first_char": "paper_first_token_100k",
    "paper_last_char": "paper_last_token_100k",
    "paper_unary_core": "paper_unary_core_1m",
    "paper_binary": "paper_binary_1m",
    "smoke": "smoke",
}


def ours(preset_name: str, seconds: float) -> float:
    cfg = structure(dict(SIMPLER_TASKS.preset(preset_name).values), SimplerTasksConfig)
    task = SIMPLER_TASKS.build(cfg)
    ds = VirtualDataset(task, seed=0, split="train", length=10**12)
    tokens, i = 0, 0
    t0 = time.perf_counter()
    while True:
        for _ in range(64):
            tokens += len(ds[i])
            i += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return tokens / dt


def old_rates(path: str, seconds: float) -> dict[str, str]:
    """tokens/s (formatted) or 'crash: ...' for every pptrain 0.3.0 simpler_tasks preset."""
    sys.path.insert(0, path)
    import numpy as np
    from pptrain.tasks.simpler_tasks.config import SIMPLER_TASKS_PRESETS
    from pptrain.tasks.simpler_tasks.config import SimplerTasksConfig as OldConfig
    from pptrain.tasks.simpler_tasks.task import SimplerTasksTaskFamily

    out: dict[str, str] = {}
    for preset in SIMPLER_TASKS_PRESETS:
        try:
            family = SimplerTasksTaskFamily(OldConfig(**preset.config))
            spec = family.tokenizer_spec()
            rng = np.random.default_rng(0)
            tokens = 0
            t0 = time.perf_counter()
            while True:
                for _ in range(16):
                    toks, _meta = family._sample_bounded_example(rng, spec)
                    tokens += len(toks) - 1  # 0.3.0 trains on tokens[:-1]
                dt = time.perf_counter() - t0
                if dt >= seconds:
                    break
            out[preset.name] = f"{tokens / dt:,.0f}"
        except Exception as exc:  # record, never stop the run
            out[preset.name] = f"crash: {type(exc).__name__}: {str(exc)[:80]}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per preset and library")
    ap.add_argument("--old", default="/tmp/pptrain030", help="directory holding pptrain 0.3.0")
    args = ap.parse_args()

    old = old_rates(args.old, args.seconds) if os.path.isdir(os.path.join(args.old, "pptrain")) else {}
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; single process.")
    print(
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Command: `python benchmarks/bench_simpler_tasks.py "
        f"--seconds {args.seconds}`.\n"
    )
    print("| preset (ours) | ours tokens/s | pptrain 0.3.0 preset | 0.3.0 tokens/s | speed-up |")
    print("|---|---:|---|---:|---:|")
    used = set()
    for preset in SIMPLER_TASKS.presets:
        rate = ours(preset.name, args.seconds)
        match = OLD_MATCH.get(preset.name)
        if match is None and f"{preset.name}_100k" in old:
            match = f"{preset.name}_100k"
        old_rate = old.get(match, "") if match else ""
        speed = ""
        if old_rate and not old_rate.startswith("crash"):
            speed = f"{rate / float(old_rate.replace(',', '')):.1f}x"
        used.add(match)
        print(f"| {preset.name} | {rate:,.0f} | {match or '-'} | {old_rate or '-'} | {speed or '-'} |")
    for name, rate in old.items():
        if name not in used:
            print(f"| - | - | {name} | {rate} | - |")


if __name__ == "__main__":
    main()
