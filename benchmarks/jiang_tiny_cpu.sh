#!/usr/bin/env bash
# The jiang-tiny profile on a CPU, across sessions that each last a few hours.
#
#   bash benchmarks/jiang_tiny_cpu.sh start [VARIANT] [WORKERS]   # in the background
#   bash benchmarks/jiang_tiny_cpu.sh status [VARIANT]            # every started unit: status, steps
#   bash benchmarks/jiang_tiny_cpu.sh export                      # docs/results/jiang-tiny-cpu.jsonl
#   bash benchmarks/jiang_tiny_cpu.sh stop
#
# Start every worker with one `start` (WORKERS), not one `start` per worker: each `start` is
# its own session (setsid), so its own scheduler autogroup, and Linux shares the CPU between
# autogroups before processes (two starts of 2 and 1 workers on 2 cores give 50/50/100 %).
# `start` runs WORKERS processes (default 2: one per core, one torch thread each) over the
# profile's units in order; a unit killed with its session resumes from its newest checkpoint
# (every 250 steps) the next time, and finished units are skipped. VARIANT defaults to
# fast-dyck (the documented CPU variant: only the Dyck learning rate and steps differ). The log
# is runs/jiang-tiny-cpu.log. `export` writes every started unit of both run directories,
# finished or partial, with its whole curve: the file a session commits.
set -euo pipefail
cmd=${1:-status}
VARIANT=${2:-fast-dyck}
RUN=runs/replicate-jiang-tiny$([ "$VARIANT" = official ] || echo "-$VARIANT")
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
case "$cmd" in
  start)
    setsid nohup pptrain replicate --profile jiang-tiny --variant "$VARIANT" --device cpu \
      --workers "${3:-2}" >> runs/jiang-tiny-cpu.log 2>&1 < /dev/null &
    echo "started (log: runs/jiang-tiny-cpu.log)" ;;
  status)
    python -c "
import json
from pptrain_analytics import jiang
for r in jiang.progress(jiang.make_config('$VARIANT', output_dir='$RUN')):
    print(f\"{r['unit']:32} {r['status']:8} {r['steps_done']:>7,} / {r['steps_planned']:,}\")" ;;
  export)
    python -c "
from pptrain_analytics.jiang import export_progress
export_progress(['runs/replicate-jiang-tiny', 'runs/replicate-jiang-tiny-fast-dyck'], 'docs/results/jiang-tiny-cpu.jsonl',
                machine='2-core EPYC CPU, one torch thread per unit')"
    echo "wrote docs/results/jiang-tiny-cpu.jsonl" ;;
  stop)
    pkill -INT -f "pptrain replicate --profile jiang-tiny" || true
    pkill -INT -f "pptrain_analytics.jiang" || true ;;
  *) echo "usage: $0 start|status|export|stop [VARIANT] [WORKERS]" >&2; exit 2 ;;
esac
