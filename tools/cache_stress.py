#!/usr/bin/env python3
"""The disk cache under stress: processes sharing one cache while its entries are damaged.

Usage: tools/cache_stress.py KEOPSC [--workers 8] [--runs 100] [--seed 1]

Each of --workers processes runs `keopsc run` --runs times on one of a few formulas (CPU
kernels, one shared KEOPS_CACHE_DIR), comparing each output, byte for byte, with the one
the same formula gave with the cache off. Meanwhile a damager replaces random entries:
truncated, a payload byte flipped, a FIFO, a link to another entry, another entry's file
(another key), removed, or, with the xxhash module, forged: this entry's header and key,
another kernel's payload, and a valid checksum. Prints one JSON line: runs, wrong results,
failed runs, hung runs (killed after 120 s), damage by kind, seconds.
"""

import argparse
import json
import os
import random
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

try:
    import xxhash
except ImportError:  # forging needs xxh3; the other damage does not
    xxhash = None

ALIASES = ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"]
FORMULAS = [
    ("Exp(-SqDist(x, y) * %s) * b" % c, "Sum", []) for c in ("0.5", "1.25", "2.5", "7.75")
] + [("SqDist(x, y)", "ArgKMin", ["-k", "3"]), ("(x | y) * b", "Max", [])]
HEADER = struct.Struct("<8sIIIIQQ")  # magic, version, kind, key sizes, reserved, payload, xxh3


def write_npy(path, rows, cols, rng):
    """A float32 C-order .npy of rows x cols values in [0, 1)."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % (rows * cols), *(rng.random() for _ in range(rows * cols))))


def run_keopsc(keopsc, work, formula, env, out):
    text, reduction, extra = formula
    args = [keopsc, "run", text, "-r", reduction, "--axis", "1", *extra, "-o", out]
    for alias in ALIASES:
        args += ["-a", alias]
    for name in ("x", "y", "b"):
        args += ["--arg", os.path.join(work, name + ".npy")]
    try:
        done = subprocess.run(args, env=env, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "hung", b""
    if done.returncode != 0:
        return "failed:" + done.stderr.decode(errors="replace")[-200:], b""
    with open(out, "rb") as f:
        return "ok", f.read()


def parse_entry(data):
    """(header fields, kind, key, payload) of an entry's bytes, or None."""
    if len(data) < HEADER.size:
        return None
    fields = HEADER.unpack_from(data)
    kind_end = HEADER.size + fields[2]
    key_end = kind_end + fields[3]
    return fields, data[HEADER.size:kind_end], data[kind_end:key_end], data[key_end:]


def forge(target, donor):
    """target's header and key with donor's payload, checksummed as keops does."""
    parsed, other = parse_entry(target), parse_entry(donor)
    if not parsed or not other or parsed[1] != other[1]:
        return None
    fields, kind, key, _ = parsed
    payload = other[3]
    checksum = xxhash.xxh3_64_intdigest(kind + key + payload)
    header = HEADER.pack(fields[0], fields[1], fields[2], fields[3], fields[4], len(payload),
                         checksum)
    return header + kind + key + payload


def read_regular(path):
    """The bytes of a regular file (a FIFO left by earlier damage would block a plain open)."""
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise OSError("not a regular file")
    with open(path, "rb") as f:
        return f.read()


def damage(cache, rng, counts):
    try:
        entries = [e for e in os.listdir(cache) if e.endswith(".keops")]
    except FileNotFoundError:  # before the first store
        return
    if not entries:
        return
    path = os.path.join(cache, rng.choice(entries))
    other = os.path.join(cache, rng.choice(entries))
    kinds = ["truncate", "flip", "fifo", "link", "foreign", "remove"]
    if xxhash:
        kinds.append("forge")
    kind = rng.choice(kinds)
    try:
        data, donor = read_regular(path), read_regular(other)
        replacement = path + ".stress"
        if kind == "truncate":
            with open(replacement, "wb") as f:
                f.write(data[: len(data) // 2])
        elif kind == "flip":
            at = rng.randrange(len(data))
            with open(replacement, "wb") as f:
                f.write(data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:])
        elif kind == "fifo":
            os.mkfifo(replacement)
        elif kind == "link":
            os.symlink(other, replacement)
        elif kind == "foreign":
            with open(replacement, "wb") as f:
                f.write(donor)
        elif kind == "forge":
            forged = forge(data, donor)
            if forged is None or other == path:
                return
            with open(replacement, "wb") as f:
                f.write(forged)
        if kind == "remove":
            os.remove(path)
        else:
            os.replace(replacement, path)
        counts[kind] = counts.get(kind, 0) + 1
    except OSError:
        pass  # the entry changed under us (a store or an eviction): try another


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("keopsc")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    a = parser.parse_args()
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="keops-cache-stress-")
    cache = os.path.join(work, "cache")
    write_npy(os.path.join(work, "x.npy"), 300, 3, rng)
    write_npy(os.path.join(work, "y.npy"), 400, 3, rng)
    write_npy(os.path.join(work, "b.npy"), 400, 1, rng)
    env = dict(os.environ, KEOPS_CACHE_DIR=cache)
    reference = []
    for k, formula in enumerate(FORMULAS):
        status, out = run_keopsc(a.keopsc, work, formula, dict(env, KEOPS_CACHE="0"),
                                 os.path.join(work, "ref%d.npy" % k))
        if status != "ok":
            sys.exit("reference run of %s: %s" % (formula[0], status))
        reference.append(out)

    results = {"runs": 0, "wrong": 0, "failed": 0, "hung": 0}
    failures, counts, lock, stop = [], {}, threading.Lock(), threading.Event()

    def worker(w):
        local = random.Random(a.seed * 1000 + w)
        for r in range(a.runs):
            k = local.randrange(len(FORMULAS))
            status, out = run_keopsc(a.keopsc, work, FORMULAS[k], env,
                                     os.path.join(work, "out%d.npy" % w))
            with lock:
                results["runs"] += 1
                if status == "hung":
                    results["hung"] += 1
                elif status != "ok":
                    results["failed"] += 1
                    failures.append(status)
                elif out != reference[k]:
                    results["wrong"] += 1

    def damager():
        while not stop.is_set():
            damage(cache, rng, counts)
            time.sleep(0.02)

    start = time.time()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(a.workers)]
    spoiler = threading.Thread(target=damager)
    spoiler.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    spoiler.join()
    results.update(damage=counts, seconds=round(time.time() - start, 1), forging=bool(xxhash),
                   first_failures=failures[:3])
    print(json.dumps(results))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if results["wrong"] or results["failed"] or results["hung"] else 0


if __name__ == "__main__":
    sys.exit(main())
