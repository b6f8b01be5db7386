"""Benchmarks: data-generation throughput of every installed task and preset (ours), single
process and through a DataLoader with workers. Run through ``nox -s bench``.

Writes its section of ``docs/benchmarks.md`` (machine, versions, command, table) and fills
each family page's block between ``<!-- bench:TASK -->`` and ``<!-- /bench:TASK -->``
(``--no-family-pages`` to skip). CLI start-up and training moved to ``bench_cli.py`` and
``bench_training.py``; the comparisons with pptrain 0.3.0 are the other ``bench_*.py``.
Timings are medians of several runs; nothing here is a test.

    python benchmarks/bench.py [--repeats 5] [--seconds 1.0] [--tasks dyck,shuffle_dyck]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import _common

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("pptrain-core", "pptrain-dyck", "numpy", "typer", "pluggy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def generation(task_filter: set[str] | None, seconds: float, repeats: int) -> list[dict[str, object]]:
    """Tokens/s for every task and preset, single process, through the real dataset path."""
    from pptrain_core.data import VirtualDataset
    from pptrain_core.plugins import get_registry
    from pptrain_core.tasks import resolve

    reg = get_registry()
    rows = []
    for name in sorted(reg.tasks):
        if task_filter and name not in task_filter:
            continue
        spec = reg.tasks[name]
        for preset in spec.presets:
            resolved = resolve(f"{name}:{preset.name}", registry=reg)
            task = resolved.build()
            rates = []
            example_tokens = 0
            for rep in range(repeats):
                ds = VirtualDataset(task, seed=rep, split="train", length=10**12)
                # one block outside the clock (first-call costs), then whole blocks: a family
                # with big blocks (NCA: 128 rollouts and their rule searches) is timed on at
                # least two of them, never on a cut block
                block = max(1, int(getattr(task, "block_size", 1)))
                ds[0]
                n_tokens = n_examples = 0
                t0 = time.perf_counter()
                while True:
                    ex = ds[block + n_examples]
                    n_tokens += len(ex)
                    n_examples += 1
                    elapsed = time.perf_counter() - t0
                    if elapsed >= seconds and n_examples >= max(8, 2 * block) and n_examples % block == 0:
                        break
                rates.append(n_tokens / elapsed)
                example_tokens = n_tokens / n_examples
            rows.append(
                {
                    "task": name,
                    "preset": preset.name,
                    "tokens_per_s": statistics.median(rates),
                    "tokens_per_example": example_tokens,
                    "examples_per_s": statistics.median(rates) / max(example_tokens, 1),
                }
            )
            print(f"  {name}:{preset.name}: {statistics.median(rates):,.0f} tokens/s", flush=True)
    return rows


def generation_workers(task_filter: set[str] | None, seconds: float, workers: int) -> list[dict[str, object]]:
    """Tokens/s through a DataLoader with worker processes (batches of 8, pad collation), ``seconds`` each."""
    import torch

    from pptrain_core.data import VirtualDataset, mean_length
    from pptrain_core.plugins import get_registry
    from pptrain_core.tasks import resolve
    from pptrain_core.training.collate import Collator, PackedDataset

    reg = get_registry()
    rows = []
    for name in sorted(reg.tasks):
        if task_filter and name not in task_filter:
            continue
        for preset in reg.tasks[name].presets:
            built = resolve(f"{name}:{preset.name}", registry=reg).build()
            mean_len = mean_length(built, 1, "train", 16)
            # Short examples are packed into 256-token windows, as training on them would be;
            # long ones are padded batches of whole examples.
            if mean_len < 256:
                ds = PackedDataset(built, seed=0, split="train", length=10**8, seq_len=256)
            else:
                ds = VirtualDataset(built, seed=0, split="train", length=10**8)
            loader = torch.utils.data.DataLoader(
                ds, batch_size=8, num_workers=workers, collate_fn=Collator(built.vocab.pad_id)
            )
            it = iter(loader)
            next(it)  # worker start-up is not generation
            tokens = 0
            t0 = time.perf_counter()
            for b in it:
                tokens += int(b["attention_mask"].sum())
                dt = time.perf_counter() - t0
                if dt >= seconds:
                    break
            del it, loader
            rows.append({"task": name, "preset": preset.name, "workers": workers, "tokens_per_s": tokens / dt})
    return rows


def _fmt_rate(x: float) -> str:
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"


def generation_table(rows: list[dict[str, object]]) -> str:
    lines = ["| task:preset | tokens / example | examples / s | tokens / s |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| `{r['task']}:{r['preset']}` | {r['tokens_per_example']:.0f} | {r['examples_per_s']:,.0f} | "
            f"{_fmt_rate(r['tokens_per_s'])} |"
        )
    return "\n".join(lines)


def fill_family_pages(rows: list[dict[str, object]], header: str) -> None:
    by_task: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        by_task.setdefault(str(r["task"]), []).append(r)
    for page in (DOCS / "tasks").glob("*.md"):
        text = page.read_text(encoding="utf-8")
        changed = text
        for task, task_rows in by_task.items():
            block = f"<!-- bench:{task} -->\n{header}\n\n{generation_table(task_rows)}\n<!-- /bench:{task} -->"
            pattern = re.compile(rf"<!-- bench:{re.escape(task)} -->.*?(<!-- /bench:{re.escape(task)} -->|$)", re.S)
            if f"<!-- bench:{task} -->" in changed:
                if f"<!-- /bench:{task} -->" in changed:
                    changed = pattern.sub(lambda _m, b=block: b, changed, count=1)
                else:
                    changed = changed.replace(f"<!-- bench:{task} -->", block, 1)
        if changed != text:
            _atomic_write(page, changed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0, help="time per generation measurement")
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: all installed)")
    ap.add_argument("--json", action="store_true", help="print the raw results as JSON too")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers for the generation-with-workers table")
    ap.add_argument("--worker-seconds", type=float, default=1.0, help="consumption time per preset with workers")
    ap.add_argument(
        "--family-pages", action=argparse.BooleanOptionalAction, default=True, help="fill the family pages' blocks"
    )
    ap.add_argument("--doc", default=str(DOCS / "benchmarks.md"), help="markdown file whose section to write")
    args = ap.parse_args()

    info = machine()
    print("generation ...", flush=True)
    task_filter = set(filter(None, args.tasks.split(","))) or None
    gen = generation(task_filter, args.seconds, args.repeats)
    print("generation with workers ...", flush=True)
    gen_workers = generation_workers(task_filter, args.worker_seconds, args.workers)

    cmd = "python benchmarks/bench.py" + (f" {' '.join(sys.argv[1:])}" if sys.argv[1:] else "")
    header = (
        f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores), Python {info['python']}, "
        f"single process, median of {args.repeats} runs of {args.seconds:g} s; `{cmd}` (`nox -s bench`)."
    )
    workers = {(r["task"], r["preset"]): r["tokens_per_s"] for r in gen_workers}
    lines = [
        "| task:preset | tokens / example | examples / s | tokens / s, 1 process "
        f"| tokens / s, DataLoader {args.workers} workers |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in gen:
        w = workers.get((r["task"], r["preset"]))
        lines.append(
            f"| `{r['task']}:{r['preset']}` | {r['tokens_per_example']:.0f} | {r['examples_per_s']:,.0f} | "
            f"{_fmt_rate(r['tokens_per_s'])} | {_fmt_rate(w) if w else '-'} |"
        )
    slowest = min(gen_workers, key=lambda r: r["tokens_per_s"], default=None)
    body = _common.header(None) + [
        "",
        "Every installed task and preset (ours; the 0.3.0 pairs are in the family sections below). Single "
        "process: examples read in index order through `VirtualDataset` (the path training uses), so "
        f"block-generating families pay one block per block; median of {args.repeats} runs of {args.seconds:g} s. "
        f"DataLoader: {args.workers} worker processes, batches of 8 sequences (examples shorter than 256 tokens "
        "packed into 256-token windows, as one would train on them, longer ones padded), "
        f"{args.worker_seconds:g} s of consumption from the first batch (worker start-up excluded), one run.",
        "",
        *lines,
    ]
    if slowest:
        body += [
            "",
            f"Slowest preset with workers: `{slowest['task']}:{slowest['preset']}`, "
            f"{_fmt_rate(slowest['tokens_per_s'])} tokens/s.",
        ]
    _common.write_section(args.doc, "generation", body)
    if args.family_pages:
        fill_family_pages(gen, header)
    if args.json:
        print(json.dumps({"machine": info, "generation": gen, "generation_workers": gen_workers}, indent=2))


if __name__ == "__main__":
    main()
