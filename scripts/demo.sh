#!/usr/bin/env bash
# Installs what is needed, then runs Gangway end to end against a simulated Docker VM (a real dockerd in a
# network namespace) and shows a container reached by IP from the "host" namespace. Cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node --enable-source-maps dist/scripts/demo.js
