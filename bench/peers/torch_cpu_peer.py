#!/usr/bin/env python3
"""USE-lite in PyTorch on the CPU, the peer `userec bench` (cpu, fp32) is measured against (issues 7, 15).

The model is bench/peers/torch_use_lite.py's (weights from the same .usew, the same forward pass), run the
way a PyTorch user serves it on a CPU: fp32, torch.inference_mode, every core (torch.set_num_threads),
sentences sorted by length and cut into large batches padded to their longest sentence. Debian 12's torch
1.13 has no scaled_dot_product_attention (2.0+; its scale= argument 2.1+): a matmul + masked softmax
stand-in with the same arguments takes its place there.

Debian's torch does its default dense products with OpenBLAS's sgemm. --onednn is the stronger peer: every
dense layer an nn.Linear converted by torch.utils.mkldnn.to_mkldnn, so its products run on oneDNN (weights
reordered once into oneDNN's blocked layout, its JIT-generated AVX2/AVX-512 kernels).

Before any time counts, the output must match userec's embeddings of the same ids (--expect, written by
`userec embed --format ids -o`): per-sentence cosine >= 0.9999. Timing covers token-id lists in memory to
vectors in a NumPy array, as `userec bench` times ids in memory to vectors in memory. Prints one JSON line.

  /usr/bin/python3 bench/peers/torch_cpu_peer.py --model M.usew --ids FILE --expect FILE.npy [--repeat 3] [--onednn]
"""
import argparse
import ctypes
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.mkldnn  # noqa: F401  (--onednn: torch.utils.mkldnn.to_mkldnn)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_use_lite import UseLite, encode, min_cosine, read_ids, read_model  # noqa: E402  (the GPU peer's model)

MIN_COSINE = 0.9999


def attention_matmul_softmax(q, k, v, attn_mask, scale):
    """scaled_dot_product_attention for torch < 2.0: attn_mask is True where a query may see a key."""
    logits = torch.matmul(q, k.transpose(-2, -1)) * scale
    return torch.matmul(torch.softmax(logits.masked_fill(~attn_mask, float("-inf")), -1), v)


# UseLite.forward calls F.scaled_dot_product_attention; this supplies it where torch predates it.
if not hasattr(F, "scaled_dot_product_attention"):
    F.scaled_dot_product_attention = attention_matmul_softmax


def set_threads(n):
    """n threads for torch's own kernels and for OpenBLAS, which does Debian torch's matrix products and which
    torch.set_num_threads leaves at every CPU. Returns OpenBLAS's count (None: this torch has no OpenBLAS)."""
    torch.set_num_threads(n)
    try:
        openblas = ctypes.CDLL("libopenblas.so.0")  # the instance torch already loaded
    except OSError:
        return None
    openblas.openblas_set_num_threads(n)
    return openblas.openblas_get_num_threads()


def use_onednn(model):
    """Routes model.linear through oneDNN: one torch.utils.mkldnn MkldnnLinear per dense layer."""
    torch = model.torch
    converted = {}

    def convert(params):
        weight, bias = params
        dense = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            dense.weight.copy_(weight)
            dense.bias.copy_(bias)
        converted[id(params)] = torch.utils.mkldnn.to_mkldnn(torch.nn.Sequential(dense))

    for layer in model.layers:
        for name in ("attn.qkv", "attn.out", "proj", "ffn.up", "ffn.down"):
            if name in layer:
                convert(layer[name])
    convert(model.head)
    model.linear = lambda x, params: converted[id(params)](x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help=".usew weights")
    ap.add_argument("--ids", required=True, help="token-id lines (`userec embed --format ids` input)")
    ap.add_argument("--expect", required=True, help="userec's float32 [rows, 512] .npy of the same ids")
    ap.add_argument("--label", help="workload name (default: the ids file's name)")
    ap.add_argument("--batch-tokens", type=int, default=8192, help="padded tokens per forward call (userec's CPU default)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch and OpenBLAS threads (default: every CPU)")
    ap.add_argument("--onednn", action="store_true", help="dense layers on oneDNN (torch.utils.mkldnn) instead of OpenBLAS")
    args = ap.parse_args()

    blas_threads = set_threads(args.threads)
    hp, weights = read_model(args.model)
    model = UseLite(hp, weights, "cpu")
    if args.onednn:
        use_onednn(model)
    sentences = read_ids(args.ids)
    expected = np.load(args.expect)
    if expected.shape != (len(sentences), hp["d_model"]):
        raise SystemExit(f"{args.expect}: shape {expected.shape}, expected ({len(sentences)}, {hp['d_model']})")

    ours = encode(model, sentences, hp["max_len"], args.batch_tokens, autocast=False, device="cpu")  # also the warm-up
    cosine, at = min_cosine(ours, expected)
    result = {"peer": "torch-onednn" if args.onednn else "torch-cpu", "torch": torch.__version__, "threads": torch.get_num_threads(), "blas_threads": blas_threads,
              "workload": args.label or os.path.basename(args.ids), "sentences": len(sentences),
              "tokens": sum(min(len(s), hp["max_len"]) for s in sentences), "min_cosine": cosine}
    if not cosine >= MIN_COSINE:
        print(json.dumps({**result, "ok": False}))
        raise SystemExit(f"sentence {at}: cosine {cosine:.7f} against userec's row, need >= {MIN_COSINE}: no timing")
    secs = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        encode(model, sentences, hp["max_len"], args.batch_tokens, autocast=False, device="cpu")
        secs.append(time.perf_counter() - start)
    median = float(np.median(secs))
    print(json.dumps({**result, "ok": True, "seconds_median": median, "seconds_min": min(secs), "seconds_max": max(secs),
                      "sentences_per_s": len(sentences) / median, "tokens_per_s": result["tokens"] / median}))


if __name__ == "__main__":
    main()
