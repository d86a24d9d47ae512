"""An independent float64 NumPy forward pass of USE-lite, written from SPEC section 1.

It reads the weights straight from a TF.js weight buffer by manifest name (SPEC 2.1), so it shares no code
with tools/convert.py or the engine: tests use it as a second oracle next to the real TF.js graph.
"""
import json
import os

import numpy as np

MAX_LEN = 128
N_HEADS = 4
LN_EPS = 1e-6
L2_FLOOR = 1e-12

MA = "module_apply_default/Encoder_en/KonaTransformer/Encode/"
MODULE = "module/Encoder_en/KonaTransformer/Encode/"
NP_DTYPES = {"float32": "<f4", "int32": "<i4"}


def read_tfjs(model_dir):
    """(weight specs in manifest order, whole weight buffer as bytes) of a tfjs graph-model folder."""
    with open(os.path.join(model_dir, "model.json"), "rb") as f:
        manifest = json.load(f)["weightsManifest"]
    specs, shards = [], []
    for group in manifest:
        specs += group["weights"]
        for path in group["paths"]:
            with open(os.path.join(model_dir, path), "rb") as f:
                shards.append(f.read())
    return specs, b"".join(shards)


def tensors(specs, buffer):
    """{manifest name: numpy array} over the buffer: entries follow each other with no padding (SPEC 2.1)."""
    out, offset = {}, 0
    for spec in specs:
        count = int(np.prod(spec["shape"], dtype=np.int64))
        out[spec["name"]] = np.frombuffer(buffer, NP_DTYPES[spec["dtype"]], count, offset).reshape(spec["shape"])
        offset += 4 * count
    if offset != len(buffer):
        raise ValueError(f"the manifest covers {offset} bytes of a {len(buffer)}-byte buffer")
    return out


def layer_norm(x, scale, bias):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LN_EPS) * scale + bias


class Weights:
    """The float64 weights of SPEC 2.1's table, by role."""

    def __init__(self, specs, buffer):
        t = tensors(specs, buffer)

        def get(name):
            return t[name].astype(np.float64)

        self.emb = get("module/Embeddings_en")
        self.timing_inv = get(MA + "TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1").reshape(-1)
        self.layers = []
        for i in range(2):
            layer = f"Layer_{i}/TransformerLayer/"
            ln = "layer_prepostprocess/layer_norm/layer_norm_"
            mha = layer + "MultiheadAttention/"
            ffn = layer + "FFN/"
            self.layers.append({
                "ln_a": (get(MA + layer + ln + "scale/ConcatPartitions/concat"),
                         get(MA + layer + ln + "bias/ConcatPartitions/concat")),
                "qkv": (get(MODULE + mha + "qkv_transform_single/kernel/part_0")[0, 0],
                        get(MA + mha + "qkv_transform_single/bias/ConcatPartitions/concat")),
                "out": (get(MODULE + mha + "output_transform_single/kernel/part_0")[0, 0],
                        get(MA + mha + "output_transform_single/bias/ConcatPartitions/concat")),
                "ln_b": (get(MA + ffn + ln + "scale/ConcatPartitions/concat"),
                         get(MA + ffn + ln + "bias/ConcatPartitions/concat")),
                "up": (get(MA + "TransformerStack/" + ffn + "conv1/Tensordot/Reshape_1"),
                       get(MA + ffn + "conv1/bias/ConcatPartitions/concat")),
                "down": (get(MA + "TransformerStack/" + ffn + "conv2/Tensordot/Reshape_1"),
                         get(MA + ffn + "conv2/bias/ConcatPartitions/concat")),
            })
        self.proj = (get(MA + "Layer_0/TransformerLayer/dense/kernel/ConcatPartitions/concat"),
                     get(MA + "Layer_0/TransformerLayer/dense/bias/ConcatPartitions/concat"))
        self.head = (get("module/Encoder_en/hidden_layers/tanh_layer_0/weights"),
                     get("module/Encoder_en/hidden_layers/tanh_layer_0/bias"))


def attention(x, qkv, out):
    """Multi-head self-attention over the valid positions only: padding keys get -1e9, i.e. weight 0."""
    width = x.shape[1]
    depth = width // N_HEADS
    q, k, v = np.split(x @ qkv[0] + qkv[1], 3, axis=1)
    q = q / np.sqrt(depth)
    heads = []
    for h in range(N_HEADS):
        cols = slice(h * depth, (h + 1) * depth)
        logits = q[:, cols] @ k[:, cols].T
        weights = np.exp(logits - logits.max(1, keepdims=True))
        heads.append(weights / weights.sum(1, keepdims=True) @ v[:, cols])
    return np.concatenate(heads, axis=1) @ out[0] + out[1]


def feed_forward(x, layer):
    hidden = np.maximum(layer_norm(x, *layer["ln_b"]) @ layer["up"][0] + layer["up"][1], 0.0)
    return hidden @ layer["down"][0] + layer["down"][1]


def embed_one(w, ids):
    """SPEC 1 for one sentence; the result does not depend on the rest of a batch."""
    ids = list(ids)[:MAX_LEN]
    if ids:
        positions = np.arange(len(ids), dtype=np.float64)[:, None] * w.timing_inv[None, :]
        x0 = 2.0 * w.emb[ids] + np.concatenate([np.sin(positions), np.cos(positions)], axis=1)
        l0, l1 = w.layers
        x1 = attention(layer_norm(x0, *l0["ln_a"]), l0["qkv"], l0["out"]) + x0 @ w.proj[0] + w.proj[1]
        x2 = x1 + feed_forward(x1, l0)
        x3 = x2 + attention(layer_norm(x2, *l1["ln_a"]), l1["qkv"], l1["out"])
        x4 = x3 + feed_forward(x3, l1)
        pooled = x4.mean(0)
    else:  # an all-padding row: the masked mean is 0 / max(T, 1)
        pooled = np.zeros(w.head[0].shape[0])
    y = np.tanh(pooled @ w.head[0] + w.head[1])
    return y / np.sqrt(max(float(y @ y), L2_FLOOR))


def embed(specs, buffer, sequences):
    """float64 [len(sequences), 512] embeddings of token-id sequences, from a tfjs weight buffer."""
    w = Weights(specs, buffer)
    rows = [embed_one(w, ids) for ids in sequences]
    return np.array(rows) if rows else np.zeros((0, w.head[0].shape[1]))
