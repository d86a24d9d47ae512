#!/usr/bin/env python3
"""All-pairs cosine top-k in PyTorch, the peer `userec related --device cuda` is measured against (issue 6).

What a PyTorch user writes: the vectors on the device, then per chunk of queries one torch.mm against every item
and torch.topk of its rows, each query's own score set to -inf first (self excluded, like `userec related`).
Chunks are large: a score block of --chunk-gib (default 4 GiB) per torch.mm. fp32: TF32 off, plain fp32
products. bf16: the vectors converted to bf16 (inside the timing, as userec's conversion is inside its own),
products with fp32 outputs (torch.mm's out_dtype, torch 2.8+ on CUDA; an older torch gives bf16 scores, and the
JSON line says so); on the CPU, the bf16-rounded vectors multiplied in fp32, the same arithmetic.

Before its time counts, its lists must agree with userec's on the same .npy (--userec OUT: `userec related`'s
.jsonl or .csv, same k and precision, ids = row numbers), on the first --check-queries queries (default all):
fp32: exact up to fp32 rounding (bench/topk_common.py's exactness: near-ties may trade places); bf16: userec's
lists recalled at >= 0.99. For bf16 it also prints both sides' recall against an fp32 search of 1,000 queries.

Timing: the best of --repeat passes over every query after a one-chunk warm-up, the vectors already on the
device; the host-to-device copy of the fp32 vectors is timed apart (copy_s). Prints one JSON line, last.

  python3 bench/peers/torch_topk.py --emb ITEMS.npy --userec OUT.jsonl [-k 10] [--precision fp32|bf16]
                                    [--device cuda|cpu] [--repeat 3] [--check-queries N] [--chunk-gib 4]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from topk_common import exactness, read_results, recall  # noqa: E402  (bench/topk_common.py)

RECALL_BF16 = 0.99
REFERENCE_QUERIES = 1000


def products(torch, precision, device):
    """(prepare: fp32 vectors -> the operand, mm: (queries, items) -> fp32 scores, description)."""
    if precision == "fp32":
        return (lambda x: x), (lambda a, b: torch.mm(a, b.T)), "fp32 products, TF32 off"
    if device.type == "cpu":
        return (lambda x: x.to(torch.bfloat16).float()), (lambda a, b: torch.mm(a, b.T)), \
            "bf16-rounded vectors, fp32 products (CPU)"
    probe = torch.ones(2, 2, dtype=torch.bfloat16, device=device)
    try:
        torch.mm(probe, probe.T, out_dtype=torch.float32)
    except (TypeError, RuntimeError):
        return (lambda x: x.to(torch.bfloat16)), (lambda a, b: torch.mm(a, b.T).float()), \
            "bf16 products with bf16 scores (this torch's mm has no out_dtype)"
    return (lambda x: x.to(torch.bfloat16)), (lambda a, b: torch.mm(a, b.T, out_dtype=torch.float32)), \
        "bf16 products, fp32 accumulation and scores"


def search(torch, x, rows, k, chunk, prepare, mm):
    """The top-k of the first `rows` rows of x against all of x, self excluded -> (index, score) on x's device."""
    xs = prepare(x)
    index = torch.empty(rows, k, dtype=torch.int64, device=x.device)
    score = torch.empty(rows, k, dtype=torch.float32, device=x.device)
    for q0 in range(0, rows, chunk):
        q1 = min(rows, q0 + chunk)
        s = mm(xs[q0:q1], xs)
        own = torch.arange(q1 - q0, device=x.device)
        s[own, own + q0] = -float("inf")
        top = torch.topk(s, k, dim=1)
        score[q0:q1], index[q0:q1] = top.values, top.indices
    return index, score


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--emb", required=True, help="float32 .npy [n, dim], unit rows (the file userec searched)")
    ap.add_argument("--userec", required=True, help="userec related's output on --emb (.jsonl or .csv)")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--check-queries", type=int, default=0, help="queries checked against userec (default: all)")
    ap.add_argument("--chunk-gib", type=float, default=4.0, help="size of one chunk's fp32 score block")
    args = ap.parse_args()

    import torch

    x_np = np.load(args.emb)
    if x_np.dtype != np.float32 or x_np.ndim != 2:
        sys.exit(f"{args.emb}: want a 2-D float32 array, found {x_np.dtype} {x_np.shape}")
    n, dim = x_np.shape
    k = args.k
    if not 0 < k < n:
        sys.exit(f"-k {k}: need 0 < k < {n} (the rows of {args.emb}, self excluded)")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("torch sees no CUDA device (use --device cpu for a check on the CPU)")
    torch.backends.cuda.matmul.allow_tf32 = False
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    prepare, mm, described = products(torch, args.precision, device)
    chunk = int(max(1, min(n, args.chunk_gib * 2 ** 30 // (4 * n))))

    with torch.inference_mode():
        host = torch.from_numpy(x_np)
        sync()
        t0 = time.perf_counter()
        x = host.to(device)
        sync()
        copy_s = time.perf_counter() - t0
        search(torch, x, min(n, chunk), k, chunk, prepare, mm)  # warm-up: library handles, allocator, kernels
        sync()
        seconds = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            index, score = search(torch, x, n, k, chunk, prepare, mm)
            sync()
            seconds = min(seconds, time.perf_counter() - t0)

        rows = min(n, args.check_queries or n)
        ours = read_results(args.userec, k, rows)
        theirs = (index[:rows].cpu().numpy(), score[:rows].float().cpu().numpy())
        report = {"peer": "torch_topk", "torch": torch.__version__,
                  "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                  "precision": args.precision, "products": described, "n": n, "dim": dim, "k": k, "chunk_rows": chunk,
                  "copy_s": copy_s, "seconds": seconds, "checked_queries": rows}
        if args.precision == "fp32":
            check = exactness(x_np, ours, theirs)
            report.update(check)
            print(f"check on {rows} queries: identical lists for {100 * check['identical']:.3f}%; where they differ, "
                  f"scores rank by rank within {check['score_gap_float64']:.2g} (float64), allowed {check['allowed']:.2g}")
        else:
            agreement = recall(theirs[0], ours[0])
            sample = min(rows, REFERENCE_QUERIES)
            ref = search(torch, x, sample, k, chunk, lambda v: v, lambda a, b: torch.mm(a, b.T))[0].cpu().numpy()
            report.update(ok=agreement >= RECALL_BF16, recall_of_userec=agreement,
                          userec_recall_vs_fp32=recall(ours[0][:sample], ref), peer_recall_vs_fp32=recall(theirs[0][:sample], ref))
            print(f"check on {rows} queries: the peer finds {100 * agreement:.3f}% of userec's neighbours "
                  f"(>= {100 * RECALL_BF16:.0f}% needed); recall@{k} against fp32 on {sample} queries: userec "
                  f"{report['userec_recall_vs_fp32']:.4f}, peer {report['peer_recall_vs_fp32']:.4f}")
    print(f"torch {torch.__version__} {report['device']} {args.precision} ({described}): {n} x {n}, k={k}, "
          f"{chunk}-query chunks: {seconds:.3f} s, plus {copy_s:.3f} s to copy the vectors to the device")
    print(json.dumps(report))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
