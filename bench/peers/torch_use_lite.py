#!/usr/bin/env python3
"""USE-lite in PyTorch, the peer `userec bench --device cuda` is measured against (issue 5).

The same forward pass as SPEC 1 and engine/encoder_cpu.c, written the way a PyTorch user would serve it:
weights read from the same .usew file (tools/usew.py), bf16 autocast, fused scaled_dot_product_attention
with a key-padding mask, sentences sorted by length and cut into large batches of similar lengths (little
padding), torch.inference_mode. --compile adds torch.compile.

Before any time counts, its fp32 output (autocast and TF32 off) must match userec's fp32 GPU output on the
same ids (per-sentence cosine >= 0.9999), and its bf16 output must stay near it (cosine >= 0.999).
Timing covers what userec's timing covers: from token-id lists in host memory to unit vectors in host
memory (padding, uploads, the encoder, downloads). Prints one table row per workload and, last, one JSON line.

  python3 bench/peers/torch_use_lite.py --model M.usew --userec BUILD/userec [--ids FILE] [--seq-len 32,128]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import usew  # noqa: E402  (the project's own .usew reader)

COSINE_FP32 = 0.9999
COSINE_BF16 = 0.999


def read_model(path):
    """(hparams, {name: float32 numpy array}) of a .usew file."""
    with open(path, "rb") as f:
        hp, tensors = usew.parse(f.read(), path)
    arrays = {name: np.frombuffer(t.data, "<f4").reshape(t.shape) for name, t in tensors.items() if t.dtype == usew.F32}
    return hp, arrays


class UseLite:
    """The encoder of SPEC 1 on a CUDA device; forward takes a padded [B, T] id tensor and the lengths."""

    def __init__(self, hp, w, device):
        import torch

        def t(name):
            return torch.from_numpy(w[name].copy()).to(device)

        self.torch = torch
        self.hp = hp
        self.heads = hp["n_heads"]
        self.eps = hp["ln_eps"]
        self.l2_floor = hp["l2_floor"]
        self.embed = t("embed.table")
        width0 = hp["layer_width"][0]
        # PE[p] = concat(sin(p*inv), cos(p*inv)), the product rounded to float32 first like model.c does.
        inv = w["embed.timing_inv"].astype(np.float32)
        angles = (np.arange(hp["max_len"], dtype=np.float32)[:, None] * inv[None, :]).astype(np.float64)
        self.timing = torch.from_numpy(np.concatenate([np.sin(angles), np.cos(angles)], 1).astype(np.float32)).to(device)
        assert self.timing.shape[1] == width0
        self.layers = []
        for i in range(hp["n_layers"]):
            p = f"l{i}."
            layer = {k: t(p + k) for k in ("attn_norm.scale", "attn_norm.bias", "ffn_norm.scale", "ffn_norm.bias")}
            for dense in ("attn.qkv", "attn.out", "proj", "ffn.up", "ffn.down"):
                if p + dense + ".weight" in w:  # F.linear wants [out, in]
                    layer[dense] = (t(p + dense + ".weight").t().contiguous(), t(p + dense + ".bias"))
            layer["width"] = hp["layer_width"][i]
            self.layers.append(layer)
        self.head = (t("head.weight").t().contiguous(), t("head.bias"))

    def linear(self, x, params):
        """A dense layer: params is (weight [out, in], bias). bench/peers/torch_cpu_peer.py --onednn replaces it."""
        return self.torch.nn.functional.linear(x, *params)

    def forward(self, ids, lengths):
        torch, F = self.torch, self.torch.nn.functional
        batch, length = ids.shape
        valid = torch.arange(length, device=ids.device)[None, :] < lengths[:, None]  # [B, T]
        # Keys an empty sentence may attend to: position 0 (its output is pooled away), never no key at all.
        keys = valid | (torch.arange(length, device=ids.device)[None, :] == 0)
        key_mask = keys[:, None, None, :]
        e = self.embed[ids]
        x = (e + self.timing[:length]) + e  # SPEC 1.3: the embedding added twice
        x0 = x
        for layer in self.layers:
            w = layer["width"]
            depth = w // self.heads
            h = F.layer_norm(x, (w,), layer["attn_norm.scale"], layer["attn_norm.bias"], self.eps)
            qkv = self.linear(h, layer["attn.qkv"]).view(batch, length, 3, self.heads, depth)
            q, k, v = (qkv[:, :, j].transpose(1, 2) for j in range(3))  # [B, heads, T, depth]
            q = q * (1.0 / depth ** 0.5)  # the graph scales q before the product
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, scale=1.0)
            ctx = ctx.transpose(1, 2).reshape(batch, length, w)
            residual = self.linear(x0, layer["proj"]) if "proj" in layer else x
            x = residual + self.linear(ctx, layer["attn.out"])
            h = F.layer_norm(x, (x.shape[-1],), layer["ffn_norm.scale"], layer["ffn_norm.bias"], self.eps)
            x = x + self.linear(F.relu(self.linear(h, layer["ffn.up"])), layer["ffn.down"])
        x = x.float()
        pooled = torch.where(valid[:, :, None], x, 0.0).sum(1) / lengths.clamp(min=1)[:, None].float()
        y = torch.tanh(self.linear(pooled, self.head).float())
        return y / y.square().sum(1, keepdim=True).clamp(min=self.l2_floor).sqrt()


def encode(model, sentences, max_len, batch_tokens, autocast, device="cuda"):
    """float32 [n, dim] for token-id lists: sorted by length, batched by a token budget, padded per batch.
    device is where the model lives ("cuda", or "cpu" for bench/peers/torch_cpu_peer.py)."""
    torch = model.torch
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out = np.empty((len(sentences), model.hp["d_model"]), np.float32)
    start = 0
    with torch.inference_mode(), torch.autocast(device, torch.bfloat16, enabled=autocast):
        while start < len(order):
            end, longest = start, 1
            while end < len(order):  # grow the batch while its padded size fits the token budget
                longer = max(longest, min(max_len, len(sentences[order[end]])))
                if end > start and (end - start + 1) * longer > batch_tokens:
                    break
                end, longest = end + 1, longer
            chunk = order[start:end]
            padded = np.zeros((len(chunk), longest), np.int64)
            lengths = np.zeros(len(chunk), np.int64)
            for row, i in enumerate(chunk):
                ids = sentences[i][:max_len]
                padded[row, :len(ids)] = ids
                lengths[row] = len(ids)
            vectors = model.forward(torch.from_numpy(padded).to(device, non_blocking=True),
                                    torch.from_numpy(lengths).to(device, non_blocking=True))
            out[chunk] = vectors.float().cpu().numpy()
            start = end
    return out


def read_ids(path):
    with open(path) as f:
        return [[int(tok) for tok in line.split()] for line in f]


def random_sentences(n, length, vocab_rows, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(6, vocab_rows - 2, length).tolist() for _ in range(n)]


def userec_embed(userec, model_path, sentences, precision):
    """userec's vectors for the sentences: `userec embed --device cuda`."""
    with tempfile.TemporaryDirectory(prefix="torch-peer-") as tmp:
        ids, out = os.path.join(tmp, "ids.txt"), os.path.join(tmp, "out.npy")
        with open(ids, "w") as f:
            f.writelines(" ".join(map(str, s)) + "\n" for s in sentences)
        proc = subprocess.run([userec, "embed", "--model", model_path, "--input", ids, "--format", "ids", "-o", out,
                               "--device", "cuda", "--precision", precision, "--quiet"], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"userec embed failed ({proc.returncode}): {proc.stderr.strip()}")
        return np.load(out)


def min_cosine(a, b):
    cos = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return float(cos.min()), int(cos.argmin())


def timed(fn, repeats):
    import torch
    fn()  # warm-up: kernels chosen, memory pools filled
    secs = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        secs.append(time.perf_counter() - start)
    return float(np.median(secs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help=".usew weights")
    ap.add_argument("--userec", required=True, help="the userec binary (CUDA build) to check against")
    ap.add_argument("--ids", help="token-id lines (e.g. a tokenised catalogue) as one more workload")
    ap.add_argument("--seq-len", default="32,128")
    ap.add_argument("--batch", type=int, default=16384, help="sentences per fixed-length workload")
    ap.add_argument("--batch-tokens", type=int, default=262144, help="padded tokens per PyTorch batch")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="torch.compile the encoder")
    args = ap.parse_args()

    import torch
    if not torch.cuda.is_available():
        raise SystemExit("torch sees no CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 check is plain fp32
    torch.backends.cudnn.allow_tf32 = False
    hp, weights = read_model(args.model)
    model = UseLite(hp, weights, "cuda")
    if args.compile:
        model.forward = torch.compile(model.forward, dynamic=True)
    max_len = hp["max_len"]

    workloads = [(f"{n}", random_sentences(args.batch, int(n), hp["vocab_rows"], int(n))) for n in args.seq_len.split(",")]
    if args.ids:
        workloads.append((os.path.basename(args.ids), read_ids(args.ids)))

    check_sentences = workloads[-1][1][:2048]
    ours = userec_embed(args.userec, args.model, check_sentences, "fp32")
    fp32 = encode(model, check_sentences, max_len, args.batch_tokens, autocast=False)
    bf16 = encode(model, check_sentences, max_len, args.batch_tokens, autocast=True)
    c32, at32 = min_cosine(fp32, ours)
    c16, at16 = min_cosine(bf16, ours)
    print(f"check on {len(check_sentences)} sentences of '{workloads[-1][0]}': PyTorch fp32 vs userec fp32 min cosine "
          f"{c32:.7f} (sentence {at32}, need >= {COSINE_FP32}); PyTorch bf16 vs userec fp32 {c16:.7f} (sentence {at16}, "
          f"need >= {COSINE_BF16})")
    if not (c32 >= COSINE_FP32 and c16 >= COSINE_BF16):
        print(json.dumps({"peer": "torch", "ok": False, "cosine_fp32": c32, "cosine_bf16": c16}))
        raise SystemExit("the PyTorch peer does not compute what userec computes: no timing")

    name = torch.cuda.get_device_name()
    rows = []
    print(f"{'peer':<28} {'workload':<12} {'sentences':>9} {'sentences/s':>12} {'tokens/s':>12}")
    for label, sentences in workloads:
        tokens = sum(min(len(s), max_len) for s in sentences)
        secs = timed(lambda: encode(model, sentences, max_len, args.batch_tokens, autocast=True), args.repeat)
        rows.append({"workload": label, "sentences": len(sentences), "seconds_median": secs,
                     "sentences_per_s": len(sentences) / secs, "tokens_per_s": tokens / secs})
        print(f"{'torch bf16 ' + torch.__version__:<28} {label:<12} {len(sentences):>9} {len(sentences) / secs:>12.0f} "
              f"{tokens / secs:>12.0f}")
    print(json.dumps({"peer": "torch", "ok": True, "device": name, "torch": torch.__version__,
                      "compile": args.compile, "cosine_fp32": c32, "cosine_bf16": c16, "results": rows}))


if __name__ == "__main__":
    main()
