"""CLI start-up: ours next to pptrain 0.3.0's, whole fresh processes, medians.

Ours runs as ``python -m pptrain_core ARGS`` (what the ``pptrain`` console script calls);
pptrain 0.3.0 as ``python -m pptrain ARGS`` with its --target folder first on PYTHONPATH.
0.3.0 has no ``list-tasks``: its equivalent is ``tasks``, and ``list-tasks`` itself is
recorded as the error it gives. Interleaved: each repeat runs every command of both once.

    python benchmarks/bench_cli.py [--repeats 10] [--ref-path /tmp/pptrain030] [--doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from _common import DEFAULT_REF, add_doc_arg, header, interleave, median, write_section

PROBE = (
    "import sys, runpy; mod = sys.argv[1]; sys.argv = ['pptrain'] + sys.argv[2:]\n"
    "code = 0\n"
    "try:\n    runpy.run_module(mod, run_name='__main__')\n"
    "except SystemExit as e:\n    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)\n"
    "sys.stderr.write('\\nHEAVY:' + ','.join(m for m in ('torch', 'numpy', 'transformers') if m in sys.modules))\n"
    "sys.exit(code)"
)


def run_once(module: str, args: list[str], ref_path: str | None) -> tuple[float, int, str, str]:
    env = dict(os.environ)
    if ref_path:
        env["PYTHONPATH"] = ref_path + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROBE, module, *args], capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    err, _, heavy = proc.stderr.rpartition("HEAVY:")
    last = next((ln for ln in reversed(err.strip().splitlines()) if ln.strip()), "")
    return dt, proc.returncode, heavy.strip() or "none", last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--ref-path", default=DEFAULT_REF)
    add_doc_arg(ap)
    args = ap.parse_args()

    cases = [
        ("ours", "pptrain_core", ["--help"], None, "pptrain --help"),
        ("0.3.0", "pptrain", ["--help"], args.ref_path, "pptrain --help"),
        ("ours", "pptrain_core", ["list-tasks"], None, "pptrain list-tasks"),
        ("0.3.0", "pptrain", ["list-tasks"], args.ref_path, "pptrain list-tasks"),
        ("0.3.0", "pptrain", ["tasks"], args.ref_path, "pptrain tasks (0.3.0's list-tasks)"),
    ]
    info: dict[int, tuple[int, str, str]] = {}

    def timer(i: int):
        def fn() -> float:
            lib, mod, argv, ref, _ = cases[i]
            dt, code, heavy, last = run_once(mod, argv, ref)
            info[i] = (code, heavy, last)
            return dt

        return fn

    times = interleave([timer(i) for i in range(len(cases))], args.repeats)
    rows = [
        "| command | library | exit status | median (s) | min (s) | 0.3.0 / ours | heavy modules imported |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    ours_by_cmd = {"pptrain --help": median(times[0]), "pptrain list-tasks": median(times[2])}
    for i, (lib, _mod, _argv, _ref, label) in enumerate(cases):
        code, heavy, last = info[i]
        med = median(times[i])
        base = ours_by_cmd.get(label.split(" (")[0]) if lib == "0.3.0" else None
        if lib == "0.3.0" and label.startswith("pptrain tasks"):
            base = ours_by_cmd["pptrain list-tasks"]
        ratio = f"{med / base:.1f}x" if base else "-"
        status = str(code) if code == 0 else f"{code}: `{last[:110]}`"
        rows.append(f"| `{label}` | {lib} | {status} | {med:.3f} | {min(times[i]):.3f} | {ratio} | {heavy} |")
        print(rows[-1], flush=True)
    body = header(args.ref_path) + [
        "",
        f"Whole fresh processes, median of {args.repeats} interleaved runs each, with every in-repo plugin installed. "
        "Ours: `python -m pptrain_core ARGS`; pptrain 0.3.0: `python -m pptrain ARGS` with its folder first on "
        "`PYTHONPATH`. `heavy modules imported` lists torch, numpy or transformers when start-up pulled them in. "
        "A non-zero exit status is shown with the last line the command printed.",
        "",
        *rows,
    ]
    write_section(args.doc, "cli", body)
    if not args.doc:
        print("\n".join(body))


if __name__ == "__main__":
    main()
