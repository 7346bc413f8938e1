#!/usr/bin/env bash
# Installs what Pulse needs to build, test and run on Debian 12, and nothing else.
# Idempotent: packages already present are left alone; apt-get runs only when one is missing.
# Uses sudo when not root. Everything comes from Debian's own archive.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config ccache git
  # libraries Pulse links
  libfaiss-dev libopenblas-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  librocksdb-dev nlohmann-json3-dev libyaml-cpp-dev libeigen3-dev libcpp-httplib-dev libssl-dev
  libhiredis-dev librdkafka-dev libxgboost-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev curl
  redis-server kcat
  # Prometheus: the scrape integration test, and promtool for the alert-rule tests
  prometheus
  # the dashboard's browser test (headless, no driver) and its PNG decoding
  chromium zlib1g-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
