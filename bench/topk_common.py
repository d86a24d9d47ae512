#!/usr/bin/python3
"""What the top-k benchmarks share (bench/topk_bench.py, bench/peers/torch_topk.py, bench/topk_gpu.sh): seeded
unit vectors, reading `userec related`'s results, and how two top-k lists are judged against each other.

As a program it writes the vectors, so that a GPU machine makes its own 2 GB instead of receiving them:
  python3 bench/topk_common.py unit-vectors N DIM SEED OUT.npy
"""
import json
import sys

import numpy as np


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


def read_results(path, k, rows):
    """The first `rows` queries of a `userec related` output (.csv or .jsonl, ids = row numbers) ->
    (index [rows, k] int64, score [rows, k] float32); ranks a query lacks are -1 / -inf."""
    index, score = np.full((rows, k), -1, np.int64), np.full((rows, k), -np.inf, np.float32)
    with open(path) as f:
        if path.endswith(".jsonl"):
            for q, line in zip(range(rows), f):
                r = json.loads(line)
                index[q, :len(r["neighbors"])] = [int(n) for n in r["neighbors"]]
                score[q, :len(r["scores"])] = r["scores"]
            return index, score
        next(f)
        for line in f:
            q, rank, nb, s = line.split(",")
            if int(q) >= rows:
                break
            index[int(q), int(rank) - 1], score[int(q), int(rank) - 1] = int(nb), float(s)
    return index, score


def exactness(x, ours, theirs):
    """Two fp32 top-k results of the same search, (index, score) each, judged as docs/topk.md's exactness allows:
    identical lists except where near-ties decide, and where they differ, the float64 scores of both lists'
    items agree rank by rank within twice the fp32 bound. Returns a dict of the figures and `ok`."""
    (oi, os_), (ti, ts) = ours, theirs
    same_rows = (oi == ti).all(axis=1)
    score_gap = float(np.abs(os_.astype(np.float64) - ts.astype(np.float64)).max())
    worst = 0.0
    for q in np.flatnonzero(~same_rows)[:2000]:
        s_o = np.sort(x[oi[q]].astype(np.float64) @ x[q].astype(np.float64))[::-1]
        s_t = np.sort(x[ti[q]].astype(np.float64) @ x[q].astype(np.float64))[::-1]
        worst = max(worst, float(np.abs(s_o - s_t).max()))
    allowed = 2 * fp32_bound(x.shape[1])
    return {"identical": float(same_rows.mean()), "score_gap_fp32": score_gap, "score_gap_float64": worst,
            "allowed": allowed, "ok": bool(score_gap <= allowed and worst <= allowed)}


def recall(got, want):
    """Mean over queries of |got ∩ want| / |want|, both [queries, k] index arrays (-1 = empty rank)."""
    hits = [len(set(g.tolist()) & set(w[w >= 0].tolist())) / max(1, int((w >= 0).sum())) for g, w in zip(got, want)]
    return float(np.mean(hits)) if hits else 1.0


def main():
    if len(sys.argv) != 6 or sys.argv[1] != "unit-vectors":
        sys.exit("usage: python3 bench/topk_common.py unit-vectors N DIM SEED OUT.npy")
    n, dim, seed, out = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    np.save(out, unit_vectors(n, dim, seed))


if __name__ == "__main__":
    main()
