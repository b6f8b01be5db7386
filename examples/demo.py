"""The main job on the embedded default, end to end, through the real ``pptrain`` CLI.

1. discover the installed families and show a sample;
2. run the embedded-default study ``examples/compare_tiny.yaml``: pre-pretrain a tiny
   GPT-2 on k-Dyck, transfer it into a fresh model for the Python standard library's
   source (embedded in every Python, nothing downloaded), and compare it over 3 seeds
   against training from scratch, the shuffled-Dyck control and a natural-text warm-up of
   the same budget that never reads the downstream text;
3. print the report's results table, its verdicts (each arm against scratch, Dyck
   against its shuffled control) and where the report and its plot are.

``python examples/demo.py --quick`` runs a one-seed, few-step version (CI uses it). Exit
status is non-zero if any step fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "pptrain_core"]


def run(*args: str, capture: bool = False) -> str:
    print(f"\n$ pptrain {' '.join(args)}", flush=True)
    proc = subprocess.run([*CLI, *args], text=True, capture_output=capture, check=False)
    if proc.returncode != 0:
        if capture:
            sys.stderr.write(proc.stderr)
        sys.exit(f"`pptrain {args[0]}` failed with status {proc.returncode}")
    return proc.stdout if capture else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed and a few steps (for CI)")
    ap.add_argument("--out", default="runs/demo", help="where the study goes")
    args = ap.parse_args()
    out = Path(args.out)

    run("list-tasks")
    run("sample", "dyck:small_k8", "-n", "1", "--max-tokens", "48")

    study = out / "compare-tiny"
    overrides = ["--set", f"output_dir={study}"]
    if args.quick:
        overrides += ["--set", "seeds=[0]", "--set", "downstream.tokens=4096", "--set", "synthetic.tokens=2048"]
        overrides += ["--set", "downstream.eval_every_tokens=1024", "--set", "downstream.eval_windows=16"]
    run("compare", str(ROOT / "examples" / "compare_tiny.yaml"), *overrides)

    summary = json.loads((study / "compare.json").read_text())
    report = (study / "report.md").read_text()
    table = report[report.index("## Results") : report.index("## What this shows")].strip()
    print("\n" + table)
    if "## Against the shuffled control" in report:
        start = report.index("## Against the shuffled control")
        control = report[start : report.index("\n## ", start + 3)].strip()
        print("\n" + control)
    print("\nDone. Artefacts:")
    print(f"  report            {study / 'report.md'}  (tables, plain-language findings, gates, method)")
    print(f"  plot              {study / 'curves.png'}  (eval loss per arm with seed bands, and the paired difference)")
    print(f"  per-seed numbers  {study / 'report.csv'}, {study / 'summary.csv'}")
    print(
        f"  every run         {study / 'arms'}/<arm>/seed-<k>/  (curve.jsonl, result.json, bundles, transfer reports)"
    )
    print(
        f"  design            {summary['design']}: D = {summary['downstream_tokens']:,} downstream tokens per arm, "
        f"S = {summary['synthetic_tokens']:,} synthetic tokens before it; seeds {summary['seeds']}"
    )
    print(f"Regenerate the report with: pptrain report {study}")


if __name__ == "__main__":
    main()
