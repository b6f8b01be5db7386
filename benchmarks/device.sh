#!/usr/bin/env bash
# benchmarks/device.py on one accelerator, as one prepared command for the `device` tool.
#
#   here:    bash benchmarks/device_wheels.sh      # builds .whl/ (carry it)
#   device:  bash benchmarks/device.sh [--quick]
#
# Writes $OUT/device.json (one JSON object: training tokens/s of a GPT-2-small-sized model in
# bf16 on NCA and Dyck through `pptrain fit`'s path, the data-wait share, data tokens/s by
# DataLoader workers, NCA generation on the device vs CPU workers, peak memory). It stops
# itself after LIMIT_S seconds (default 540). DEVICE=cpu SKIP_INSTALL=1 runs it here as a check.
set -uo pipefail
DEVICE=${DEVICE:-cuda}
LIMIT_S=${LIMIT_S:-540}
OUT_DIR=${OUT:-runs/device-out}
if [ -z "${SKIP_INSTALL:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
fi
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p "$OUT_DIR"
start=$(date +%s)
timeout --signal=INT "$LIMIT_S" python3 benchmarks/device.py --device "$DEVICE" --out "$OUT_DIR/device.json" "$@"
status=$?
echo "device.py: exit $status after $(( $(date +%s) - start )) s"
exit $status
