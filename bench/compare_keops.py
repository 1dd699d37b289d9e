#!/usr/bin/env python3
"""Runs KeOps 2.3 (pykeops) on the cases of keops_bench in one process and prints a ratio table.

Usage: compare_keops.py --ours BENCH_JSONL [--backend CPU|GPU] [--cases a,b] [--quick]
The sizes, formulas and dtypes are read from our JSON lines, so both run the same problems.
pykeops and numpy (and torch for --backend GPU) must be installed; they are used only here.
"""
import argparse
import json
import statistics
import time

import numpy as np

FORMULAS = {
    "gauss_sum_D3": ("Exp(-SqDist(x,y))*b", ["x=Vi(3)", "y=Vj(3)", "b=Vj(1)"], "Sum", {}),
    "gauss_sum_D3_f64": ("Exp(-SqDist(x,y))*b", ["x=Vi(3)", "y=Vj(3)", "b=Vj(1)"], "Sum", {}),
    "gauss_D64_E16": ("Exp(-SqDist(x,y)*g)*b", ["x=Vi(64)", "y=Vj(64)", "b=Vj(16)", "g=Pm(1)"], "Sum", {}),
    "logsumexp_D3": ("-SqDist(x,y)", ["x=Vi(3)", "y=Vj(3)"], "LogSumExp", {}),
    "knn_D3": ("SqDist(x,y)", ["x=Vi(3)", "y=Vj(3)"], "ArgKMin", {"opt_arg": 10}),
    "knn_D64": ("SqDist(x,y)", ["x=Vi(64)", "y=Vj(64)"], "ArgKMin", {"opt_arg": 10}),
    "attention_D64": ("(x|y)", ["x=Vi(64)", "y=Vj(64)", "v=Vj(64)"], "SumSoftMaxWeight", {"formula2": "v"}),
    # Ours multiplies by 0.001 too; the same work (keopscore's formulas take no float literal).
    "gauss_D1000": ("Exp(-SqDist(x,y)*g)*b", ["x=Vi(1000)", "y=Vj(1000)", "b=Vj(1)", "g=Pm(1)"], "Sum", {}),
}


def arrays(aliases, nx, ny, dtype, rng):
    out = []
    for a in aliases:
        kind, dim = a.split("=")[1].split("(")
        dim = int(dim.rstrip(")").split(",")[-1])
        rows = {"Vi": nx, "Vj": ny, "Pm": 1}[kind.strip()]
        shape = (rows, dim) if kind.strip() != "Pm" else (dim,)
        out.append(rng.random(shape).astype(dtype))
    return out


def run_keops(name, nx, ny, dtype, backend, repeat):
    formula, aliases, reduction, extra = FORMULAS[name]
    rng = np.random.default_rng(0)
    args = arrays(aliases, nx, ny, dtype, rng)
    if backend == "GPU":
        import torch
        from pykeops.torch import Genred
        args = [torch.from_numpy(a).cuda() for a in args]
        sync = torch.cuda.synchronize
    else:
        from pykeops.numpy import Genred
        sync = lambda: None
    op = Genred(formula, aliases, reduction_op=reduction, axis=1, **extra)
    t0 = time.perf_counter()
    op(*args, backend=backend)
    sync()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        op(*args, backend=backend)
        sync()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ours", required=True, help="JSON lines written by keops_bench")
    p.add_argument("--backend", default="CPU")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    rows = [json.loads(line) for line in open(a.ours) if line.startswith("{")]
    print(f"{'case':<18} {'dtype':<8} {'N':>8} {'M':>8} {'ours (s)':>10} {'KeOps (s)':>10} {'speedup':>8} {'KeOps 1st call':>14}")
    for r in rows:
        if r["case"] not in FORMULAS:
            continue
        dtype = np.float32 if r["dtype"] == "float32" else np.float64
        first, median = run_keops(r["case"], r["nx"], r["ny"], dtype, a.backend, a.repeat)
        ratio = median / r["median_s"]
        print(f"{r['case']:<18} {r['dtype']:<8} {r['nx']:>8} {r['ny']:>8} {r['median_s']:>10.4g} {median:>10.4g} {ratio:>7.1f}x {first:>13.3g}s", flush=True)
        print(json.dumps({"case": r["case"], "backend": "keops-" + a.backend.lower(), "dtype": r["dtype"],
                          "nx": r["nx"], "ny": r["ny"], "median_s": median, "first_call_s": first,
                          "speedup_ours": ratio}), flush=True)


if __name__ == "__main__":
    main()
