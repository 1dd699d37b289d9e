#!/usr/bin/env python3
"""pykeops from Python: first calls in fresh processes, and the overhead of a warm call.

Usage:
  python_bench.py first-call [--runs 5]      # a new formula, cold cache, then from the disk cache
  python_bench.py overhead [--calls 20000]   # N = M = 10 Genred calls, NumPy and PyTorch (CPU)
  python_bench.py overhead --cpp BENCH       # ... beside keops_bench's same call from C++
Prints one JSON line per measure. Runs on any pykeops on sys.path (ours, or KeOps 2.3 to
compare: both take the same calls).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

FORMULA = "Exp(-SqDist(x, y) * {scale}) * b"
ALIASES = ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"]

# One fresh process: import, then a first call (compile, or load from the disk cache).
CHILD = """
import time
t0 = time.perf_counter()
import numpy as np
from pykeops.numpy import Genred
t1 = time.perf_counter()
x, y, b = np.ones((10, 3)), np.zeros((10, 3)), np.ones((10, 1))
op = Genred({formula!r}, {aliases!r}, reduction_op="Sum", axis=1)
op(x, y, b)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def child_times(formula, cache_dir):
    env = dict(os.environ, KEOPS_CACHE_DIR=cache_dir, PYKEOPS_VERBOSE="0")
    code = CHILD.format(formula=formula, aliases=ALIASES)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[-2]), float(out[-1])


def first_call(runs):
    """Medians over `runs` new formulas: the first call in a fresh process with an empty cache,
    then the first call of the same formula in another fresh process (the disk cache)."""
    cold, cached, imports = [], [], []
    for r in range(runs):
        # A formula no earlier run compiled (integer constants: KeOps 2.3 takes no float literal).
        formula = FORMULA.format(scale=2 + r)
        with tempfile.TemporaryDirectory() as cache_dir:
            import_s, call_s = child_times(formula, cache_dir)
            cold.append(call_s)
            imports.append(import_s)
            cached.append(child_times(formula, cache_dir)[1])
    for what, times in (("first_call_cold", cold), ("first_call_disk_cache", cached),
                        ("import_numpy_and_pykeops", imports)):
        print(json.dumps({"measure": what, "runs": runs, "median_s": statistics.median(times),
                          "min_s": min(times), "max_s": max(times)}))


def per_call(call, calls):
    call()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            call()
        times.append((time.perf_counter() - t0) / calls)
    return statistics.median(times)


def cpp_call(bench, calls):
    """keops_bench's median of the same call from C++ (op.run on preallocated outputs)."""
    out = subprocess.run([bench, "--cases", "gauss_sum_D3", "--nx", "10", "--ny", "10",
                          "--backend", "cpu", "--repeat", str(calls)], capture_output=True,
                         text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return rows[0]["median_s"]


def overhead(calls, bench):
    import numpy as np
    import torch
    import pykeops
    from pykeops.numpy import Genred as NumpyGenred
    from pykeops.torch import Genred as TorchGenred

    formula = FORMULA.format(scale=1)
    rng = np.random.default_rng(0)
    x, y, b = (rng.random(s).astype(np.float32) for s in ((10, 3), (10, 3), (10, 1)))
    numpy_op = NumpyGenred(formula, ALIASES, reduction_op="Sum", axis=1)
    torch_op = TorchGenred(formula, ALIASES, reduction_op="Sum", axis=1)
    xt, yt, bt = (torch.from_numpy(a) for a in (x, y, b))
    cpp = cpp_call(bench, calls) if bench else None
    for front, seconds in (("numpy", per_call(lambda: numpy_op(x, y, b, backend="CPU"), calls)),
                           ("torch", per_call(lambda: torch_op(xt, yt, bt, backend="CPU"), calls))):
        row = {"measure": "warm_call_N10", "front_end": front, "pykeops": pykeops.__version__,
               "median_s": seconds}
        if cpp is not None:
            row.update(cpp_median_s=cpp, overhead_s=seconds - cpp)
        print(json.dumps(row))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=("first-call", "overhead"))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--calls", type=int, default=20000)
    p.add_argument("--cpp", help="keops_bench, to time the same call from C++")
    a = p.parse_args()
    if a.what == "first-call":
        first_call(a.runs)
    else:
        overhead(a.calls, a.cpp)


if __name__ == "__main__":
    main()
