"""The prepared accelerator scripts run here too (DEVICE=cpu), so a device session never finds them broken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_jiang_tiny_device_script_runs_the_profile_and_returns_its_results(tmp_path):
    out = tmp_path / "out"
    env = {
        **os.environ,
        "DEVICE": "cpu",
        "SKIP_INSTALL": "1",
        "LIMIT_S": "500",
        "RUN_DIR": str(tmp_path / "run"),
        "OUT": str(out),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "jiang_tiny_device.sh"), "smoke", "2", "--seeds", "0"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["smoke-curves.png", "smoke-report.json", "smoke-report.md", "smoke-results.jsonl"]
    units = [json.loads(line)["unit"] for line in (out / "smoke-results.jsonl").read_text().splitlines()]
    assert len(units) == 5  # 2 phase-1 units and 3 needle units of seed 0, all finished
    assert "needle/dyck/seed-0" in units
