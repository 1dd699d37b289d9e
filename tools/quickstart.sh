#!/usr/bin/env bash
# The README's quick start: installs what is missing (Debian 12, as root), builds, then runs
# the demo (`quickstart.sh demo`) or the whole test suite (`quickstart.sh test`).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
if [[ $mode != demo && $mode != test ]]; then
  echo "usage: $0 demo|test" >&2
  exit 2
fi

packages=(cmake make g++ llvm-19-dev zlib1g-dev doctest-dev libcli11-dev ccache)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "quickstart: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=${KEOPS_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)"

if [[ $mode == demo ]]; then
  "$build/tools/demo/keops_demo"
else
  ctest --test-dir "$build" --output-on-failure
fi
