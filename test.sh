#!/usr/bin/env bash
# The test suite: set up on a fresh machine if needed, then run pytest.
set -euo pipefail
cd "$(dirname "$0")"
TAPEFLOW_WITH_BROWSER=1 ./bootstrap.sh
exec .venv/bin/python -m pytest -q "$@"
