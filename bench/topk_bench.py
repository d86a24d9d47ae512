#!/usr/bin/python3
"""Top-k benchmark on the CPU: `userec related` next to FAISS in the same run, with an exactness check of both
against each other (docs/perf.md, "Top-k"; docs/topk.md). The GPU's is bench/topk_gpu.sh.

usage: /usr/bin/python3 bench/topk_bench.py [--bin ./userec] [-n 100000] [-k 10] [--dim 512] [--tmp DIR]

Data: n random unit vectors (seeded gaussian), float32, all-pairs, every item's k nearest others (self excluded).

userec related (its own "search" time, as printed, and the wall time of the whole command: load, search, CSV)
against FAISS IndexFlatIP (Debian python3-faiss: exhaustive search, OpenBLAS sgemm + heaps) searching k+1 and
dropping the query itself. Both use every core. FAISS's arithmetic is OpenBLAS: if OPENBLAS_CORETYPE is set,
this script removes it from its own environment (and its children's) before OpenBLAS loads, and says so, so
that OpenBLAS picks its kernel for this CPU as it does by default.
Exactness: the two top-k lists must agree up to fp32 rounding: identical where no near-tie decides, and where
they differ, the scores (fp32, both sides) rank by rank within twice the fp32 bound of a 512-term dot product.
"""
import os

if "OPENBLAS_CORETYPE" in os.environ:  # before numpy and faiss load OpenBLAS
    print(f"note: removing OPENBLAS_CORETYPE={os.environ.pop('OPENBLAS_CORETYPE')} from this process's environment "
          "so that OpenBLAS (FAISS's sgemm) picks its kernel for this CPU")

import argparse
import datetime
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from topk_common import exactness, read_results, unit_vectors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_userec(binary, npy, k, out):
    """Runs `userec related`; returns (search seconds as it reports them, wall seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.run([binary, "related", "--emb", npy, "-k", str(k), "-o", out], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"userec related failed ({proc.returncode}):\n{proc.stderr}")
    found = re.search(r": ([0-9.]+) s \(", proc.stderr)
    if not found:
        sys.exit(f"no search time in userec's summary:\n{proc.stderr}")
    return float(found.group(1)), wall


def drop_self(index, score, k):
    """k+1 results per query -> k: the query itself removed (or the last one if it was not found)."""
    n = len(index)
    is_self = index == np.arange(n)[:, None]
    keep = ~is_self
    keep[~is_self.any(axis=1), -1] = False
    return index[keep].reshape(n, k), score[keep].reshape(n, k)


def compare(label, x, ours, theirs):
    """Prints how the two top-k lists agree; returns False when they differ beyond fp32 rounding."""
    e = exactness(x, ours, theirs)
    print(f"  exactness {label}: identical lists for {e['identical'] * 100:.3f}% of {len(ours[0])} queries; rank-by-rank "
          f"score gap max {e['score_gap_fp32']:.2g} (fp32), {e['score_gap_float64']:.2g} (float64, differing queries); "
          f"allowed {e['allowed']:.2g}: {'OK' if e['ok'] else 'MISMATCH'}")
    return e["ok"]


def cpu_bench(args, tmp):
    import faiss

    n, k, dim = args.n, args.k, args.dim
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"top-k CPU, {datetime.date.today()}: {n} x {n} all-pairs, k={k}, {dim}-d float32, {os.cpu_count()} CPUs "
          f"({cpu}), {platform.platform()}")
    x = unit_vectors(n, dim, seed=1)
    npy, out = os.path.join(tmp, "items.npy"), os.path.join(tmp, "related.csv")
    np.save(npy, x)
    search_s, wall_s = run_userec(args.bin, npy, k, out)
    flop = 2.0 * n * n * dim
    print(f"  userec related: search {search_s:.2f} s ({flop / search_s / 1e9:.1f} GFLOP/s counting 2*n*n*d), "
          f"whole command {wall_s:.2f} s (load + search + CSV)")
    ours = read_results(out, k, n)

    index = faiss.IndexFlatIP(dim)
    index.add(x)
    t0 = time.perf_counter()
    scores, ids = index.search(x, k + 1)
    faiss_s = time.perf_counter() - t0
    print(f"  FAISS {faiss.__version__} IndexFlatIP.search(k+1): {faiss_s:.2f} s ({flop / faiss_s / 1e9:.1f} GFLOP/s), "
          f"{faiss.omp_get_max_threads()} threads")
    print(f"  ratio FAISS / userec (search): {faiss_s / search_s:.2f}x")
    return compare("userec vs FAISS", x, ours, drop_self(ids, scores, k))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "userec"))
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--tmp", default=None, help="where the .npy and CSV files go (default: a temporary directory)")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"{args.bin} is not an executable: build it with make first (or pass --bin)")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        sys.exit(0 if cpu_bench(args, tmp) else 1)


if __name__ == "__main__":
    main()
