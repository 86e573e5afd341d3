#!/usr/bin/env bash
# Installs what is needed, then runs every check and test: type-check, lint, format, unit, integration
# (real namespaces, TUN devices, dockerd) and UI tests. Ends with node's test summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test
