"""The prepared accelerator scripts run here too (DEVICE=cpu), so a device session never finds them broken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_the_device_benchmark_runs_quick_on_the_cpu_and_prints_every_figure(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "device.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "device.py"), "--device", "cpu", "--quick", "--json"]
    proc = subprocess.run(cmd + ["--out", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == result
    assert result["machine"]["device"] == "cpu" and result["quick"] is True
    for family in ("nca", "dyck"):
        train = result["training"][family]
        assert train["precision"] == "fp32"  # bf16 only on an accelerator
        assert train["steps"] == 6 and train["tokens_per_s_steady"] > 0 and train["tokens_per_s_whole_run"] > 0
        assert 0 <= train["data_wait_share"] <= 1
        assert train["memory"]["peak_rss_bytes"] > 50 * 2**20  # torch alone is more than 50 MiB
        rates = result["data"][family]["tokens_per_s_by_workers"]
        assert set(rates) == {"0", "1"} and all(v > 0 for v in rates.values())
    gen = result["nca_generation"]
    assert gen["device_in_training_process_tokens_per_s"] > 0 and gen["cpu_workers_tokens_per_s"] > 0
    assert gen["device_over_cpu_workers"] == pytest.approx(
        gen["device_in_training_process_tokens_per_s"] / gen["cpu_workers_tokens_per_s"], rel=1e-2
    )


def test_the_device_benchmark_refuses_cuda_without_a_gpu():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "device.py"), "--device", "cuda", "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "no GPU" in proc.stderr and "Traceback" not in proc.stderr
