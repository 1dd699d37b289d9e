#!/usr/bin/env python3
"""float32 sums of one element-wise op: KeOps 2.3 (pykeops, CPU) and ours (keopsc run) against
float64 NumPy sums of the same float32 inputs. Prints the max-norm relative error
max_i |out_i - ref_i| / max_i |ref_i|, min to max over the ops, per data range and size.

Usage: short_sums_vs_keops.py --keopsc BUILD/tools/keopsc/keopsc [--nx 200] [--ny 100,300,1000]
pykeops and numpy must be installed; they are used only here. See docs/KEOPS_PARITY.md.
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np

OPS = {
    "Exp(x - y)": lambda X, Y: np.exp(X - Y),
    "Log(x + y + 2)": lambda X, Y: np.log(X + Y + 2),
    "Sin(x * y)": lambda X, Y: np.sin(X * Y),
    "Cos(x - y)": lambda X, Y: np.cos(X - Y),
    "Sqrt(x + y + 2)": lambda X, Y: np.sqrt(X + Y + 2),
    "Inv(x + y + 3)": lambda X, Y: 1 / (X + Y + 3),
    "Atan(x - y)": lambda X, Y: np.arctan(X - Y),
    "Square(x - y)": lambda X, Y: (X - Y) ** 2,
    "Exp(-(x - y) * (x - y))": lambda X, Y: np.exp(-((X - Y) ** 2)),
    "Asin(x * y)": lambda X, Y: np.arcsin(X * Y),
}


def errors(keopsc, directory, lo, hi, nx, ny):
    from pykeops.numpy import Genred

    rng = np.random.default_rng(0)
    x = rng.uniform(lo, hi, (nx, 1)).astype(np.float32)
    y = rng.uniform(lo, hi, (ny, 1)).astype(np.float32)
    paths = [os.path.join(directory, name) for name in ("x.npy", "y.npy", "out.npy")]
    np.save(paths[0], x)
    np.save(paths[1], y)
    theirs, ours = [], []
    for formula, f in OPS.items():
        ref = f(x.astype(np.float64), y.astype(np.float64).T).sum(1)
        k = Genred(formula, ["x=Vi(1)", "y=Vj(1)"], reduction_op="Sum", axis=1, dtype="float32")
        theirs.append(k(x, y, backend="CPU").ravel())
        subprocess.run([keopsc, "run", formula, "-a", "x=Vi(1)", "-a", "y=Vj(1)", "--axis", "1",
                        "--arg", paths[0], "--arg", paths[1], "-o", paths[2]], check=True)
        ours.append(np.load(paths[2]).ravel())
        for out in (theirs, ours):
            out[-1] = np.abs(out[-1] - ref).max() / np.abs(ref).max()
    return theirs, ours


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keopsc", required=True)
    parser.add_argument("--nx", type=int, default=200)
    parser.add_argument("--ny", default="100,300,1000,10000,100000")
    args = parser.parse_args()
    print(f"{'data':>11s} {'ny':>7s}  {'KeOps 2.3':>17s}  {'ours':>17s}")
    with tempfile.TemporaryDirectory() as directory:
        for lo, hi in ((0.1, 1.0), (-1.0, 1.0)):
            for ny in map(int, args.ny.split(",")):
                theirs, ours = errors(args.keopsc, directory, lo, hi, args.nx, ny)
                print(f"[{lo:4.1f}, {hi:3.1f}] {ny:7d}  {min(theirs):.1e} - {max(theirs):.1e}"
                      f"  {min(ours):.1e} - {max(ours):.1e}")


if __name__ == "__main__":
    main()
