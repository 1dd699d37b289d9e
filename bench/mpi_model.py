#!/usr/bin/env python3
"""The time model of keops::mpi's all-gather scheme, checked against mpi_bench's JSON lines,
and projected to other machines.

For P ranks, rank r owning N_r output rows and using c_r cores (threads on dedicated cores),
the reduced axis M rows of w bytes each:
  T(P) = T_agree + T_gather + max_r N_r M / (R c_r) + T_wait
  T_agree  = 4 alpha ceil(log2 P)               (three small all-gathers and an all-reduce)
  T_gather = alpha ceil(log2 P) + (P - 1)/P M w / beta
R is the pair throughput of one core (or one GPU: c_r = 1), measured by the 1-rank rows;
alpha the latency and beta the bandwidth of the links; T_wait (load imbalance) is left out.

  python3 bench/mpi_model.py check LOG.jsonl [--cores 2]
  python3 bench/mpi_model.py project --ranks 512 --pairs-per-s 3.36e12 --n 1e9 --m 1e9 \\
      --row-bytes 16 --bandwidth 25e9 --latency 5e-6
"""
import argparse
import json
import math
import statistics

ROW_BYTES = {"gauss_sum_D3": 16, "knn_D3": 12}  # y (3 floats) and b (1) / y alone


def predict(n, m, ranks, cores_used, pairs_per_s, row_bytes, latency, bandwidth):
    steps = math.ceil(math.log2(ranks)) if ranks > 1 else 0
    share = math.ceil(n / ranks)  # the largest rank's rows
    compute = share * m / (pairs_per_s * cores_used)
    gather = steps * latency + (ranks - 1) / ranks * m * row_bytes / bandwidth
    agree = 4 * steps * latency
    return {"compute_s": compute, "gather_s": gather, "agree_s": agree,
            "total_s": compute + gather + agree}


def check(args):
    rows = [json.loads(line) for line in open(args.log) if '"case"' in line]
    if args.binding:
        rows = [r for r in rows if r.get("binding") == args.binding]
    for case in sorted({r["case"] for r in rows}):
        mine = [r for r in rows if r["case"] == case]
        ones = [r for r in mine if r["ranks"] == 1]
        # One core's throughput, from the 1-rank runs (their threads on their cores).
        per_core = statistics.median(
            r["nx"] * r["ny"] / (r["median_s"] * min(max(r["threads"], 1), args.cores)) for r in ones)
        print(f"{case}: one core reduces {per_core:.3g} pairs/s")
        for r in mine:
            used = min(r["ranks"] * max(r["threads"], 1), args.cores) / r["ranks"]
            p = predict(r["nx"], r["ny"], r["ranks"], used, per_core, ROW_BYTES[case],
                        args.latency, args.bandwidth)
            print(f"  {r.get('scheme', 'allgather')}, {r['ranks']} rank(s) x {r['threads']} "
                  f"thread(s): predicted "
                  f"{p['total_s']:.3f} s, measured {r['median_s']:.3f} s "
                  f"({r['median_s'] / p['total_s'] - 1:+.1%})")


def project(args):
    p = predict(args.n, args.m, args.ranks, 1, args.pairs_per_s, args.row_bytes, args.latency,
                args.bandwidth)
    print(json.dumps({k: round(v, 4) for k, v in p.items()}))
    print(f"gathered per rank: {args.m * args.row_bytes / 1e9:.1f} GB; "
          f"efficiency against compute alone: {p['compute_s'] / p['total_s']:.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("check")
    c.add_argument("log")
    c.add_argument("--cores", type=int, default=2)
    c.add_argument("--binding", default="none", help="the log rows' binding to use ('' for all)")
    c.add_argument("--latency", type=float, default=5e-6)
    c.add_argument("--bandwidth", type=float, default=5e9, help="bytes/s (shared memory here)")
    j = sub.add_parser("project")
    j.add_argument("--ranks", type=int, required=True)
    j.add_argument("--pairs-per-s", type=float, required=True, help="one rank's throughput")
    j.add_argument("--n", type=float, required=True)
    j.add_argument("--m", type=float, required=True)
    j.add_argument("--row-bytes", type=float, default=16)
    j.add_argument("--latency", type=float, default=5e-6)
    j.add_argument("--bandwidth", type=float, default=25e9)
    args = parser.parse_args()
    check(args) if args.mode == "check" else project(args)


if __name__ == "__main__":
    main()
