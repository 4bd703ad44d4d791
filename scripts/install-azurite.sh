#!/usr/bin/env bash
# Install the Azurite storage emulator (npm) into .services/azurite, once.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .services/azurite/node_modules/.bin/azurite-blob ]; then
  mkdir -p .services/azurite
  npm install --prefix .services/azurite azurite@3 --no-audit --no-fund --loglevel=error
fi
