#!/usr/bin/env bash
# Idempotent set-up shared by run.sh and test.sh: Debian packages the project needs,
# a virtual environment in .venv, and tapeflow installed into it (editable, with extras).
set -euo pipefail
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
browser=0
if [ "${TAPEFLOW_WITH_BROWSER:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  browser=1
fi
if [ ${#missing[@]} -gt 0 ] || [ "$browser" = 1 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}$([ "$browser" = 1 ] && echo ' chromium')" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq >/dev/null || echo "bootstrap: apt-get update failed; trying the install anyway" >&2
  if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # chromium only serves the report's screenshot test, which skips without it
  if [ "$browser" = 1 ]; then
    as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null \
      || echo "bootstrap: chromium could not be installed; the HTML report browser test will skip" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$PY" -m venv .venv
fi
extras=${TAPEFLOW_EXTRAS:-dev}
stamp=".venv/.tapeflow-stamp"
want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1) $extras"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing tapeflow[$extras] into .venv" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]" 2>&1 \
    | grep -v "is neither a file nor a directory" >&2 || true
  .venv/bin/python -c "import tapeflow.runtime" # fail loudly if the install did not work
  echo "$want" > "$stamp"
fi
