#!/usr/bin/env bash
# Set everything up (venvs, test dependencies, service binaries) and run the whole test suite.
# Servers (redis, MongoDB wire server, moto S3, fake-gcs-server, Azurite, HTTP) are started by
# the suite's session fixtures on 127.0.0.1 and stopped at the end. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# Two workers (AZARR_TEST_WORKERS to change; 0 runs in this process): most tests wait on
# sockets, and each worker starts its own servers on free ports.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n "${AZARR_TEST_WORKERS:-2}" "$@"
