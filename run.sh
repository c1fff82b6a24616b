#!/usr/bin/env bash
# The main job: set up on a fresh machine if needed, then train every workload in both
# styles side by side, print the comparison and write results (and the report) to
# tapeflow-out/. Extra arguments go to `tapeflow compare all`.
set -euo pipefail
cd "$(dirname "$0")"
./bootstrap.sh
exec .venv/bin/tapeflow compare all --out tapeflow-out "$@"
