#!/usr/bin/env bash
# A virtualenv with the NEWEST zarr-python for benchmarks/zarr_adapter.py: zarr >= 3.2 needs
# Python >= 3.12 (pip on 3.11 stops at 3.1.x). It holds azarr (editable, S3 extra), zarr,
# obstore and s3fs; zarr-python is never a dependency of azarr itself.
#   bash benchmarks/setup_zarr_latest.sh                         # idempotent
#   .venv-zarr-latest/bin/python benchmarks/zarr_adapter.py
# PYTHON312 picks the interpreter; otherwise python3.12 on PATH, then pyenv's newest 3.12.x.
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
[ -x .venv-zarr-latest/bin/python ] || "$py" -m venv .venv-zarr-latest
.venv-zarr-latest/bin/pip install -q --disable-pip-version-check -e '.[s3,zarr]' zarr obstore s3fs uvloop
.venv-zarr-latest/bin/python -c 'import zarr, sys; print("zarr", zarr.__version__, "on Python", sys.version.split()[0])'
