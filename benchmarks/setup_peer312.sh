#!/usr/bin/env bash
# The zarr-python 3 benchmark peer: the newest zarr needs Python >= 3.12 (pip on 3.11 stops at
# 3.1.x), so it gets its own virtualenv .venv-peer312 (never a dependency of azarr).
#   bash benchmarks/setup_peer312.sh        # idempotent
# PYTHON312 picks the interpreter; otherwise python3.12 on PATH, then pyenv's 3.12.x.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON312:-}"
if [ -z "$py" ]; then
  if command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'pass' >/dev/null 2>&1; then
    py=python3.12
  else
    py="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V | tail -1)"
  fi
fi
if [ -z "$py" ]; then
  echo "no Python 3.12 found (set PYTHON312=/path/to/python3.12)" >&2
  exit 1
fi
[ -x .venv-peer312/bin/python ] || "$py" -m venv .venv-peer312
.venv-peer312/bin/pip install -q --disable-pip-version-check zarr obstore s3fs
.venv-peer312/bin/python -c 'import zarr, sys; print("zarr", zarr.__version__, "on Python", sys.version.split()[0])'
