#!/usr/bin/python3
"""Top-k benchmark: `userec related` next to a peer in the same run, with an exactness check of both against
each other (docs/perf.md, "Top-k"; docs/topk.md).

usage: /usr/bin/python3 bench/topk_bench.py [--bin ./userec] [-n 100000] [-k 10] [--dim 512] [--skip-cpu]
                                          [--gpu-n 1000000] [--skip-gpu] [--tmp DIR]

Data: n random unit vectors (seeded gaussian), float32, all-pairs, every item's k nearest others (self excluded).

CPU: userec related (its own "search" time, as printed, and the wall time of the whole command: load, search,
CSV) against FAISS IndexFlatIP (Debian python3-faiss: exhaustive search, OpenBLAS sgemm + heaps) searching k+1
and dropping the query itself. Both use every core. FAISS's arithmetic is OpenBLAS: if OPENBLAS_CORETYPE is
set, this script removes it from its own environment (and its children's) before OpenBLAS loads, and says so,
so that OpenBLAS picks its kernel for this CPU as it does by default.
Exactness: the two top-k lists must agree up to fp32 rounding: identical where no near-tie decides, and where
they differ, the scores (fp32, both sides) rank by rank within twice the fp32 bound of a 512-term dot product.

GPU (only where PyTorch sees a CUDA device): gpu-n x gpu-n all-pairs in bf16: userec related --device cuda
--precision bf16 (its search time includes the host-to-device copy and the bf16 conversion) against torch.mm
+ torch.topk in query chunks on the same GPU (data already there); both checked by recall@k against an fp32
reference on a sample of queries.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fp32_bound(dim):
    """The fp32 rounding bound of a dim-term dot product of unit vectors (docs/topk.md)."""
    return (dim + 16) * 2.0 ** -24


def unit_vectors(n, dim, seed):
    rng = np.random.default_rng(seed)
    x = np.empty((n, dim), np.float32)
    for r0 in range(0, n, 65536):  # in slices: a float64 copy of 1M x 512 would need 4 GB
        block = rng.standard_normal((min(65536, n - r0), dim), dtype=np.float32)
        x[r0:r0 + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return x


def run_userec(binary, npy, k, out, extra=()):
    """Runs `userec related`; returns (search seconds as it reports them, wall seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.run([binary, "related", "--emb", npy, "-k", str(k), "-o", out, *extra], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"userec related failed ({proc.returncode}):\n{proc.stderr}")
    found = re.search(r": ([0-9.]+) s \(", proc.stderr)
    if not found:
        sys.exit(f"no search time in userec's summary:\n{proc.stderr}")
    return float(found.group(1)), wall


def read_csv_result(path, n, k, rows=None):
    """OUT.csv (ids = row numbers) -> (index [rows, k], score [rows, k]); only the first `rows` queries."""
    rows = n if rows is None else rows
    index, score = np.full((rows, k), -1, np.int64), np.full((rows, k), -np.inf, np.float32)
    with open(path) as f:
        next(f)
        for line in f:
            q, rank, nb, s = line.split(",")
            q = int(q)
            if q >= rows:
                break
            index[q, int(rank) - 1], score[q, int(rank) - 1] = int(nb), float(s)
    return index, score


def drop_self(index, score, k):
    """k+1 results per query -> k: the query itself removed (or the last one if it was not found)."""
    n = len(index)
    is_self = index == np.arange(n)[:, None]
    keep = ~is_self
    keep[~is_self.any(axis=1), -1] = False
    return index[keep].reshape(n, k), score[keep].reshape(n, k)


def compare(label, x, ours, theirs):
    """Prints how the two top-k lists agree; returns False when they differ beyond fp32 rounding."""
    (oi, os_), (ti, ts) = ours, theirs
    same_rows = (oi == ti).all(axis=1)
    score_gap = float(np.abs(os_.astype(np.float64) - ts.astype(np.float64)).max())
    tol = fp32_bound(x.shape[1])
    ok = score_gap <= 2 * tol
    # where the lists differ, the float64 scores of both sides' items must agree rank by rank within 2 TOL
    worst = 0.0
    for q in np.flatnonzero(~same_rows)[:2000]:
        s_o = np.sort(x[oi[q]].astype(np.float64) @ x[q].astype(np.float64))[::-1]
        s_t = np.sort(x[ti[q]].astype(np.float64) @ x[q].astype(np.float64))[::-1]
        worst = max(worst, float(np.abs(s_o - s_t).max()))
    ok = ok and worst <= 2 * tol
    print(f"  exactness {label}: identical lists for {same_rows.mean() * 100:.3f}% of {len(oi)} queries; rank-by-rank "
          f"score gap max {score_gap:.2g} (fp32), {worst:.2g} (float64, differing queries); allowed {2 * tol:.2g}: "
          f"{'OK' if ok else 'MISMATCH'}")
    return ok


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
    ours = read_csv_result(out, n, k)

    index = faiss.IndexFlatIP(dim)
    index.add(x)
    t0 = time.perf_counter()
    scores, ids = index.search(x, k + 1)
    faiss_s = time.perf_counter() - t0
    print(f"  FAISS {faiss.__version__} IndexFlatIP.search(k+1): {faiss_s:.2f} s ({flop / faiss_s / 1e9:.1f} GFLOP/s), "
          f"{faiss.omp_get_max_threads()} threads")
    print(f"  ratio FAISS / userec (search): {faiss_s / search_s:.2f}x")
    return compare("userec vs FAISS", x, ours, drop_self(ids, scores, k))


def gpu_bench(args, tmp):
    try:
        import torch
    except ImportError:
        print("GPU: skipped: PyTorch is not installed here")
        return True
    if not torch.cuda.is_available():
        print("GPU: skipped: PyTorch sees no CUDA device")
        return True
    n, k, dim, sample = args.gpu_n, args.k, args.dim, 1000
    dev = torch.device("cuda")
    print(f"top-k GPU, {datetime.date.today()}: {torch.cuda.get_device_name()}, {n} x {n} all-pairs, k={k}, {dim}-d, bf16")
    x = torch.nn.functional.normalize(torch.randn(n, dim, device=dev, generator=torch.Generator(dev).manual_seed(1)), dim=1)
    xb = x.to(torch.bfloat16)

    def torch_topk(chunk=4096):
        out = torch.empty(n, k, dtype=torch.int64, device=dev)
        for q0 in range(0, n, chunk):
            s = xb[q0:q0 + chunk] @ xb.T
            rows = torch.arange(s.shape[0], device=dev)
            s[rows, rows + q0] = -float("inf")  # self excluded, like userec's default
            out[q0:q0 + chunk] = torch.topk(s, k, dim=1).indices
        return out

    torch_topk()  # warm-up (cuBLAS handles, allocator)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    theirs = torch_topk()
    torch.cuda.synchronize()
    torch_s = time.perf_counter() - t0

    npy, out = os.path.join(tmp, "gpu-items.npy"), os.path.join(tmp, "gpu-related.csv")
    np.save(npy, x.cpu().numpy())
    search_s, wall_s = run_userec(args.bin, npy, k, out, ["--device", "cuda", "--precision", "bf16"])
    flop = 2.0 * n * n * dim
    print(f"  userec related --device cuda --precision bf16: search {search_s:.3f} s ({flop / search_s / 1e12:.0f} "
          f"TFLOP/s counting 2*n*n*d, copy to the GPU included), whole command {wall_s:.1f} s")
    print(f"  torch.mm + torch.topk, bf16, 4096-query chunks: {torch_s:.3f} s ({flop / torch_s / 1e12:.0f} TFLOP/s)")
    print(f"  ratio torch / userec: {torch_s / search_s:.2f}x")

    # recall@k of both against fp32 on the first `sample` queries
    ref = x[:sample] @ x.T
    ref[torch.arange(sample, device=dev), torch.arange(sample, device=dev)] = -float("inf")
    ref_idx = torch.topk(ref, k, dim=1).indices.cpu().numpy()
    ours_idx = read_csv_result(out, n, k, rows=sample)[0]
    theirs_idx = theirs[:sample].cpu().numpy()

    def recall(got):
        return np.mean([len(set(g) & set(r)) / k for g, r in zip(got, ref_idx)])

    r_ours, r_theirs = recall(ours_idx), recall(theirs_idx)
    print(f"  recall@{k} against fp32 on {sample} queries: userec bf16 {r_ours:.4f}, torch bf16 {r_theirs:.4f}")
    return r_ours >= 0.99


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "userec"))
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--gpu-n", type=int, default=1_000_000)
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--skip-gpu", action="store_true")
    ap.add_argument("--tmp", default=None, help="where the .npy and CSV files go (default: a temporary directory)")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"{args.bin} is not an executable: build it with make first (or pass --bin)")
    ok = True
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        if not args.skip_cpu:
            ok &= cpu_bench(args, tmp)
        if not args.skip_gpu:
            ok &= gpu_bench(args, tmp)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
