#!/usr/bin/env bash
# Set up azarr and run the demo: write and read a real chunked array on the local store.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/demo.py "$@"
