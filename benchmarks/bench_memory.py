"""Peak memory as the dataset grows: ours (virtual datasets) next to pptrain 0.3.0 (lists).

Every point runs in a fresh Python process that imports the library, builds the task,
records ``ru_maxrss`` (the baseline), then builds a training set of N examples and reads
it, and records ``ru_maxrss`` again (the peak resident set of the whole process, in MiB:
Python objects, numpy and torch buffers alike). Ours: ``VirtualDataset`` of length N,
examples read in index order (evenly spaced over the N indices beyond ``--max-reads``,
since nothing is stored and any index costs the same). pptrain 0.3.0: its
``build_datasets`` with ``sequence_count = N`` (what its trainer calls before the first
step), then every training item read through ``__getitem__``. A point that runs past
``--timeout`` seconds or fails is a row with the reason.

    python benchmarks/bench_memory.py [--sizes 1000,10000,100000] [--ours-sizes ...,1000000] \
        [--timeout 150] [--ref-path /tmp/pptrain030] [--doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from _common import DEFAULT_REF, add_doc_arg, header, import_ref, write_section

#: family -> (our task:preset, 0.3.0 task, 0.3.0 preset, reads cap for ours)
PAIRS = {
    "dyck": ("dyck:small_k8", "dyck", "paper_k8", 100_000),
    "simpler_tasks": ("simpler_tasks:paper_copy", "simpler_tasks", "paper_copy_1m", 100_000),
    "nca": ("nca:smoke", "nca", "smoke", 2_000),
}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def point_ours(family: str, n: int, max_reads: int) -> dict:
    from pptrain_core.data import VirtualDataset
    from pptrain_core.tasks import create_task

    built = create_task(PAIRS[family][0]).build()
    base = _rss_mib()
    t0 = time.perf_counter()
    ds = VirtualDataset(built, seed=0, split="train", length=n)
    reads = min(n, max_reads)
    stride = n / reads
    tokens = 0
    for j in range(reads):
        tokens += len(ds[int(j * stride)])
    return {"baseline": base, "peak": _rss_mib(), "reads": reads, "tokens": tokens, "s": time.perf_counter() - t0}


def point_ref(family: str, n: int, ref_path: str) -> dict:
    import_ref(ref_path)
    from pptrain.core.registry import create_task

    _, task_name, preset, _ = PAIRS[family]
    task = create_task(task_name, {"preset": preset, "sequence_count": n, "eval_sequence_count": max(1, n // 16)})
    base = _rss_mib()
    t0 = time.perf_counter()
    bundle = task.build_datasets(seed=0)
    train = bundle.train_dataset
    tokens = 0
    for i in range(len(train)):
        tokens += int(train[i]["input_ids"].shape[0])
    return {"baseline": base, "peak": _rss_mib(), "reads": len(train), "tokens": tokens, "s": time.perf_counter() - t0}


def run_point(lib: str, family: str, n: int, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--point", lib, family, str(n), "--ref-path", args.ref_path]
    cmd += ["--max-reads", str(PAIRS[family][3])]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout: not done after {args.timeout:.0f} s"}
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        if proc.returncode < 0:
            last = f"killed by signal {-proc.returncode} (out of memory?)"
        return {"error": f"crash: {last[:120]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000", help="dataset sizes for both libraries")
    ap.add_argument("--ours-sizes", default="1000000", help="extra sizes for ours only")
    ap.add_argument("--families", default=",".join(PAIRS))
    ap.add_argument("--timeout", type=float, default=150.0, help="seconds per point")
    ap.add_argument("--ref-path", default=DEFAULT_REF)
    ap.add_argument("--point", nargs=3, metavar=("LIB", "FAMILY", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--max-reads", type=int, default=100_000, help=argparse.SUPPRESS)
    add_doc_arg(ap)
    args = ap.parse_args()

    if args.point:
        lib, family, n = args.point[0], args.point[1], int(args.point[2])
        out = point_ours(family, n, args.max_reads) if lib == "ours" else point_ref(family, n, args.ref_path)
        print(json.dumps(out))
        return

    sizes = [int(x) for x in args.sizes.split(",") if x]
    extra = [int(x) for x in args.ours_sizes.split(",") if x]
    rows = [
        "| family | ours task:preset | 0.3.0 preset | examples N | ours: baseline / peak MiB (growth) "
        "| ours reads | 0.3.0: baseline / peak MiB (growth) | 0.3.0 time (s) | 0.3.0 growth / ours growth |",
        "|---|---|---|---:|---|---:|---|---:|---:|",
    ]
    for family in [f for f in args.families.split(",") if f]:
        ours_task, _, ref_preset, _ = PAIRS[family]
        ref_failed = None
        for n in sorted(set(sizes) | set(extra)):
            mine = run_point("ours", family, n, args)
            if n in sizes:
                if ref_failed:
                    theirs = {"error": f"not run (failed at a smaller N: {ref_failed})"}
                else:
                    theirs = run_point("ref", family, n, args)
                    if "error" in theirs:
                        ref_failed = f"N={n:,}"
            else:
                theirs = {"error": "not run (ours only)"}

            def mem(r: dict) -> str:
                if "error" in r:
                    return r["error"]
                return f"{r['baseline']:.0f} / {r['peak']:.0f} (+{r['peak'] - r['baseline']:.0f})"

            ratio = "-"
            if "error" not in mine and "error" not in theirs:
                g_ours = max(mine["peak"] - mine["baseline"], 1.0)
                ratio = f"{(theirs['peak'] - theirs['baseline']) / g_ours:.1f}x"
            reads = f"{mine['reads']:,}" if "error" not in mine else "-"
            t_ref = f"{theirs['s']:.1f}" if "error" not in theirs else "-"
            rows.append(
                f"| {family} | `{ours_task}` | `{ref_preset}` | {n:,} | {mem(mine)} | {reads} | {mem(theirs)} "
                f"| {t_ref} | {ratio} |"
            )
            print(rows[-1], flush=True)
    body = header(
        args.ref_path,
        notes="measure: `resource.getrusage(RUSAGE_SELF).ru_maxrss` of a fresh process per point "
        "(peak resident set, everything the process allocated, not just Python objects)",
    ) + [
        "",
        "Baseline: after importing the library and building the task, before the dataset exists. Peak: after "
        "building a training set of N examples and reading it. Growth = peak - baseline; flat growth means the "
        "dataset costs no memory per example. Ours reads every example in index order up to "
        "the `ours reads` column, and evenly spaced indices beyond it (each read generates its example from "
        "scratch, nothing is stored, so a read anywhere costs the same). pptrain 0.3.0 runs its own "
        f"`build_datasets` (a Python list of token lists) and reads every item; each point is capped at "
        f"{args.timeout:.0f} s, and a size is not tried once a smaller one failed.",
        "",
        *rows,
    ]
    write_section(args.doc, "memory", body)
    if not args.doc:
        print("\n".join(body))


if __name__ == "__main__":
    main()
