#!/usr/bin/env bash
# The README's quick start: installs what is missing (Debian 12, as root), builds, then runs
# the demo (`quickstart.sh demo`) or every test, C++ and Python (`quickstart.sh test`).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
if [[ $mode != demo && $mode != test ]]; then
  echo "usage: $0 demo|test" >&2
  exit 2
fi

packages=(cmake make g++ llvm-19-dev zlib1g-dev doctest-dev libcli11-dev ccache)
if [[ $mode == test ]]; then
  packages+=(python3 python3-venv python3-dev)
fi
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
  exit 0
fi

ctest --test-dir "$build" --output-on-failure

# The Python suite runs on the package as pip installs it, in a virtual environment of the
# build (PyTorch from PyPI, a few GB with its CUDA libraries, comes from pip's cache after
# the first time).
venv=${KEOPS_VENV:-$build/venv}
if [[ ! -x $venv/bin/python ]]; then
  "${KEOPS_PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r python/requirements-test.txt
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation .
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python
