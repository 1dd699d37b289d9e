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
  packages+=(python3 python3-venv python3-dev clang libomp-dev libopenmpi-dev openmpi-bin)
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

# The suite again under AddressSanitizer and UndefinedBehaviorSanitizer, then each fuzz
# harness for a fixed time from its seed corpus: one Clang build, every source instrumented
# for libFuzzer's coverage (tests/fuzz). A crash leaves its reproducer in $san/fuzz-*: copy
# it into tests/fuzz/corpus/<harness>/, where the suite replays it.
san=${KEOPS_SANITIZE_BUILD_DIR:-build-sanitize}
CC=clang CXX=clang++ cmake -S . -B "$san" -DKEOPS_SANITIZE=address,undefined \
  -DKEOPS_BUILD_FUZZERS=ON -DCMAKE_CXX_FLAGS=-O1 -DKEOPS_BUILD_BENCH=OFF -DKEOPS_BUILD_DEMO=OFF \
  -DKEOPS_BUILD_PYTHON=OFF >/dev/null
cmake --build "$san" -j"$(nproc)"
export ASAN_OPTIONS=allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1
ctest --test-dir "$san" --output-on-failure
for harness in formula run npy; do
  corpus=$(mktemp -d)
  cp tests/fuzz/corpus/$harness/* "$corpus"
  if ! "$san/tests/fuzz/${harness}_fuzz" -max_total_time="${KEOPS_FUZZ_SECONDS:-60}" -timeout=120 \
    -rss_limit_mb=4096 -artifact_prefix="$san/fuzz-$harness-" -print_final_stats=1 "$corpus" \
    >"$corpus.log" 2>&1; then
    tail -n 60 "$corpus.log"
    echo "quickstart: the $harness fuzzer found a crash (its input: $san/fuzz-$harness-*)" >&2
    exit 1
  fi
  echo "fuzz $harness: $(grep -E '^stat::number_of_executed_units' "$corpus.log")"
  rm -rf "$corpus" "$corpus.log"
done
