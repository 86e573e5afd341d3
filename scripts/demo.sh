#!/usr/bin/env bash
# Installs what is needed, then runs Gangway end to end against a simulated Docker VM (a real dockerd in a
# network namespace) and shows a container reached by IP and by name from the "host" namespace. Cleans up after
# itself. --vm-arch arm64: the agent is a linux/arm64 image run under qemu, as on Apple Silicon's Docker VM.
# --engine docker-desktop: the agent's datagrams reach the helper (on 127.0.0.1) only through a relay that
# behaves like Docker Desktop's UDP proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node --enable-source-maps dist/scripts/demo.js "$@"
