#!/usr/bin/env bash
# The GPU check (issue 24), one script, under 8 minutes on one GPU:
#   1. the GPU-marked tests (every test file that has @pytest.mark.gpu);
#   2. benchmarks/gpu_bench.py: XOR and RNN training in both modes on the GPU against the
#      CPU (1e-9, float64), the memory pool across 1,000 static steps, step times of
#      dynamic / static / static + CUDA-graph replay as ratios, peak device memory.
# Uses $PYTHON (default: .venv/bin/python if it exists, else python3), which needs cupy and
# a CUDA device. Without an installed tapeflow it imports this checkout (a symlink named
# tapeflow in a temporary folder). Extra arguments go to gpu_bench.py (--timed 100, ...).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
if ! "$PY" -c "import tapeflow.runtime" 2>/dev/null; then
  link=$(mktemp -d)
  ln -s "$PWD" "$link/tapeflow"
  export PYTHONPATH="$link${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
"$PY" -c "import cupy; from tapeflow.runtime import gpu_available; assert gpu_available(), \
'no CUDA device'" || { echo "gpu_check: needs cupy and a CUDA device" >&2; exit 2; }
status=0
start=$SECONDS
echo "== GPU-marked tests"
mapfile -t files < <(grep -rl "pytest.mark.gpu" tests --include='test_*.py')
"$PY" -m pytest -q -p no:cacheprovider -m gpu "${files[@]}" || status=1
echo "(tests: $((SECONDS - start)) s)"
"$PY" benchmarks/gpu_bench.py "$@" || status=1
echo "(gpu_check: $((SECONDS - start)) s in all)"
exit $status
