#!/usr/bin/env bash
# Create/refresh the project's virtualenvs. Idempotent; used by demo.sh and test.sh.
#   scripts/setup.sh          -> .venv with azarr (core only)
#   scripts/setup.sh test     -> .venv with azarr[all,test], .venv-zarr2 (zarr-python 2.18 oracle),
#                                and Azurite (npm) in .services/
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "azarr needs Python >= 3.11, found " + sys.version' 

quiet=(-q --disable-pip-version-check)
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if [ "${1:-}" = "test" ]; then
  .venv/bin/pip install "${quiet[@]}" -e '.[all,test,bench]'
  [ -x .venv-zarr2/bin/python ] || "$PY" -m venv .venv-zarr2
  .venv-zarr2/bin/pip install "${quiet[@]}" 'zarr>=2.18,<3' 'numcodecs<0.16' msgpack redis pymongo
  if [ -f scripts/install-azurite.sh ]; then bash scripts/install-azurite.sh; fi
else
  .venv/bin/pip install "${quiet[@]}" -e .
fi
