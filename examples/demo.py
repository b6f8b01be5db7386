"""The main job on the embedded default, end to end, through the real ``pptrain`` CLI.

1. discover the installed families and show a few samples;
2. pre-pretrain a tiny GPT-2 on k-Dyck (``examples/dyck_tiny.yaml``);
3. move the bundle into a fresh downstream GPT-2 with a 50,257-id vocabulary (GPT-2's
   size; built from a config, nothing downloaded) under the bundle's suggested policy;
4. print the transfer report and where every artefact is.

``python examples/demo.py --quick`` runs a 20-step version (CI uses it). Exit status is
non-zero if any step fails.
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
    ap.add_argument("--quick", action="store_true", help="20 steps instead of 300 (for CI)")
    ap.add_argument("--out", default="runs/demo", help="where the run and the transferred model go")
    args = ap.parse_args()
    out = Path(args.out)

    run("list-tasks")
    run("sample", "dyck:small_k8", "-n", "1", "--max-tokens", "48")

    overrides = ["--set", f"run.output_dir={out / 'dyck_tiny'}"]
    if args.quick:
        overrides += ["--set", "run.max_steps=20", "--set", "run.eval_steps=10", "--set", "run.save_steps=10"]
    run("fit", str(ROOT / "examples" / "dyck_tiny.yaml"), *overrides)
    summary = json.loads((out / "dyck_tiny" / "summary.json").read_text())
    bundle = out / "dyck_tiny" / "bundle"
    run("transfer", str(bundle), "--vocab-size", "50257", "--out", str(out / "downstream_init"))

    print("\nDone. Artefacts:")
    print(f"  run directory     {out / 'dyck_tiny'}  (metrics.jsonl, loss_curve.png, run.json)")
    print(f"  transfer bundle   {bundle}")
    print(f"  downstream model  {out / 'downstream_init'}  (AutoModelForCausalLM.from_pretrained)")
    print(
        f"  final eval loss   {summary['eval_loss']:.4f} nats after {summary['steps']} steps "
        f"({summary['tokens_seen']:,} tokens, {summary['tokens_per_s']:,.0f} tokens/s)"
    )


if __name__ == "__main__":
    main()
