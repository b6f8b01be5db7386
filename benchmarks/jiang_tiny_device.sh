#!/usr/bin/env bash
# The jiang-tiny profile on one accelerator, as one prepared command for the `device` tool.
#
#   here:    bash benchmarks/device_wheels.sh           # builds .whl/ (carry it)
#   device:  bash benchmarks/jiang_tiny_device.sh [VARIANT] [WORKERS] [--set k=v ...]
#
# VARIANT defaults to fast-dyck (Dyck lr 1e-3, 10,000 steps; needle and transfer official),
# WORKERS to 9 processes sharing the GPU (the models are tiny: one process leaves it idle).
# It stops itself after LIMIT_S seconds (default 540, inside the tool's 600) and copies
# what finished (results.jsonl: one line per finished unit, with its curve; report.md,
# report.json, curves.png) to $OUT. LOADERS (default 1) DataLoader workers per unit overlap
# example generation with the GPU step. DEVICE=cpu SKIP_INSTALL=1 runs it here as a check.
set -uo pipefail
VARIANT=${1:-fast-dyck}
WORKERS=${2:-9}
shift $(( $# < 2 ? $# : 2 ))
DEVICE=${DEVICE:-cuda}
LIMIT_S=${LIMIT_S:-540}
OUT_DIR=${OUT:-runs/device-out}
RUN=${RUN_DIR:-/tmp/jiang-tiny-$VARIANT}
if [ -z "${SKIP_INSTALL:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
fi
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
python3 - <<'PY'
import json, torch
print(json.dumps({"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                  "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}))
PY
start=$(date +%s)
timeout --signal=INT "$LIMIT_S" python3 -m pptrain_core replicate --profile jiang-tiny --variant "$VARIANT" --set dataloader_workers=${LOADERS:-1} \
  --device "$DEVICE" --workers "$WORKERS" --output-dir "$RUN" "$@"
status=$?
echo "jiang-tiny: exit $status after $(( $(date +%s) - start )) s"
python3 -c "from pptrain_analytics.jiang_report import write_report; write_report('$RUN')" || true
mkdir -p "$OUT_DIR"
for f in results.jsonl report.md report.json curves.png; do cp "$RUN/$f" "$OUT_DIR/$VARIANT-$f" 2>/dev/null; done
ls -l "$OUT_DIR"
exit $status
