#!/usr/bin/env bash
# Wheels for a bare accelerator machine (the `device` tool's H200 image has torch,
# transformers, safetensors, numpy, pluggy, attrs, typer, rich and pyyaml, but not cattrs
# nor pptrain): every in-repo distribution as a pure-Python wheel, plus cattrs, into .whl/
# (ignored by git; name it in the device call's `carry`). On the device machine:
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
#   export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl && mkdir -p .whl
python3 -m pip wheel -q --no-deps -w .whl . plugins/pptrain-* plugins/pptrain
python3 -m pip download -q --no-deps --only-binary=:all: -d .whl "cattrs==26.2.1"
ls -1 .whl
du -sh .whl
