#!/usr/bin/env bash
# The main job: set up on a fresh machine if needed, then run the side-by-side comparison.
set -euo pipefail
cd "$(dirname "$0")"
./bootstrap.sh
exec .venv/bin/python examples/tensor_basics.py "$@"
