#!/usr/bin/env bash
# The test suite: set up on a fresh machine if needed, then run pytest.
set -euo pipefail
cd "$(dirname "$0")"
# the test extras: dev tools, and onnx/onnxruntime for the ONNX export tests
TAPEFLOW_WITH_BROWSER=1 TAPEFLOW_EXTRAS="${TAPEFLOW_EXTRAS:-dev,onnx}" ./bootstrap.sh
exec .venv/bin/python -m pytest -q "$@"
