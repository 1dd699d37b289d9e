#!/usr/bin/env python3
"""Runs KeOps 2.3 (pykeops) on the cases of keops_bench in one process and prints a ratio table.

Usage: compare_keops.py --ours BENCH_JSONL [--backend CPU|GPU] [--label NAME]
The sizes, formulas and dtypes are read from our JSON lines, so both run the same problems.
On the GPU, each call is timed waited for (as keops_bench's median_s) and queued back to back
on the current stream, then waited for once (as keops_bench's queued_s): the "q" columns.
pykeops and numpy (and torch for --backend GPU) must be installed; they are used only here.
The pykeops on sys.path may be KeOps 2.3 or this project's (python/): --label names it.
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
    # Forward and gradient of sum(a^2) w.r.t. x through torch's autograd (BENCHMARKS.md);
    # ours is the sum of keops_bench's gauss_grad_x_forward and gauss_grad_x lines.
    "gauss_grad_x": ("Exp(-SqDist(x,y))*b", ["x=Vi(3)", "y=Vj(3)", "b=Vj(1)"], "Sum", {}),
    "gauss_D1000_grad_x": ("Exp(-SqDist(x,y)*g)*b", ["x=Vi(1000)", "y=Vj(1000)", "b=Vj(1)", "g=Pm(1)"], "Sum", {}),
}
GRADIENT_OF = {"gauss_grad_x": 0, "gauss_D1000_grad_x": 0}  # the argument differentiated, by position


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
    grad = GRADIENT_OF.get(name)
    if backend == "GPU" or grad is not None:  # gradients need torch's autograd
        import torch
        from pykeops.torch import Genred
        args = [torch.from_numpy(a) for a in args]
        if backend == "GPU":
            args = [a.cuda() for a in args]
            sync = torch.cuda.synchronize
        else:
            sync = lambda: None
        if grad is not None:
            args[grad].requires_grad_(True)
    else:
        from pykeops.numpy import Genred
        sync = lambda: None
    op = Genred(formula, aliases, reduction_op=reduction, axis=1, **extra)

    def call():
        a = op(*args, backend=backend)
        if grad is not None:
            (a ** 2).sum().backward()
            args[grad].grad = None

    t0 = time.perf_counter()
    call()
    sync()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    if backend != "GPU":
        return first, median, None
    # Calls queued back to back, waited for once (as PyTorch code runs them): blocks of ~20 ms.
    calls = int(min(max(0.02 / median, 1), 100))
    blocks = []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        for _ in range(calls):
            call()
        sync()
        blocks.append((time.perf_counter() - t0) / calls)
    return first, median, statistics.median(blocks)


def ours_median(rows, r, key="median_s"):
    """Our figure for row r: a gradient case adds the forward it follows, as KeOps's does."""
    if r.get(key) is None:
        return None
    if r["case"] not in GRADIENT_OF:
        return r[key]
    forward = [f for f in rows if f["case"] == r["case"] + "_forward"
               and (f["nx"], f["ny"], f["dtype"]) == (r["nx"], r["ny"], r["dtype"])]
    return r[key] + forward[0][key] if forward else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ours", required=True, help="JSON lines written by keops_bench")
    p.add_argument("--backend", default="CPU")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--label", default="KeOps", help="what the pykeops on sys.path is")
    a = p.parse_args()
    rows = [json.loads(line) for line in open(a.ours) if line.startswith("{")]
    them = a.label[:10]
    print(f"{'case':<18} {'dtype':<8} {'N':>8} {'M':>8} {'ours (s)':>10} {them + ' (s)':>14} {'ratio':>8} "
          f"{'1st call':>10} {'ours q (s)':>11} {them + ' q (s)':>14} {'q ratio':>8}")
    for r in rows:
        if r["case"] not in FORMULAS:
            continue
        ours, ours_queued = ours_median(rows, r), ours_median(rows, r, "queued_s")
        if ours is None:
            print(f"{r['case']:<18} skipped: no {r['case']}_forward line to add", flush=True)
            continue
        dtype = np.float32 if r["dtype"] == "float32" else np.float64
        try:
            first, median, queued = run_keops(r["case"], r["nx"], r["ny"], dtype, a.backend, a.repeat)
        except ImportError as e:  # torch, for gradients on the CPU
            print(f"{r['case']:<18} skipped: {e}", flush=True)
            continue
        ratio = median / ours
        line = f"{r['case']:<18} {r['dtype']:<8} {r['nx']:>8} {r['ny']:>8} {ours:>10.4g} {median:>14.4g} {ratio:>7.3f}x {first:>9.3g}s"
        record = {"case": r["case"], "backend": a.label + "-" + a.backend.lower(), "dtype": r["dtype"],
                  "nx": r["nx"], "ny": r["ny"], "median_s": median, "first_call_s": first,
                  "ours_median_s": ours, "speedup_ours": ratio}
        if queued is not None and ours_queued is not None:
            line += f" {ours_queued:>11.4g} {queued:>14.4g} {queued / ours_queued:>7.3f}x"
            record.update(queued_s=queued, ours_queued_s=ours_queued, queued_ratio=queued / ours_queued)
        print(line, flush=True)
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
