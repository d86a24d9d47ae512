#!/usr/bin/env python3
"""Writes deterministic USE-lite test weights as a complete TF.js graph-model folder (SPEC 2.3).

No full set of real USE-lite weights can be had on the build machines, only the real graph (model.json),
vocabulary, saved_model.pb and the last weight shard. This tool fills the rest of the weight buffer:
  - buffer bytes that the real shard 7 holds are copied from it unchanged;
  - graph constants (int32 entries and float scalars of the manifest) take the values of the `Const`
    nodes of the same name in tfhub-lite2/saved_model.pb, so the real graph runs on the result;
  - every other weight is seeded random, scaled like trained weights.
The output (model.json, vocab.json, group1-shard1of7..7of7) feeds both tools/convert.py and the TF.js
reference graph (tests/oracle), so both see exactly the same weights. A fourth file, TEST_WEIGHTS.json
(TEST_WEIGHTS_FILE), says what the folder is: tools/convert.py copies it into the .usew provenance, so `userec
info`, `embed`, `report` and `eval` can warn that the vectors mean nothing.

Usage: python3 tools/make_test_model.py OUT_DIR [--seed N] [--from FIXTURES_USE_LITE]
Standard library only (Python 3.9+).
"""
import argparse
import json
import math
import os
import random
import shutil
import statistics
import struct
import sys
from array import array

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protowire as pw  # noqa: E402
from tfgraph import TF_FLOAT, TF_INT32, TF_INT64, graph_constants, tensor_values  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SOURCE = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "use-lite")

SHARD_BYTES = 4194304
REAL_SHARD = "group1-shard7of7"
REAL_START = 6 * SHARD_BYTES  # buffer offset of the real shard 7
# A folded constant with no Const node in saved_model.pb (SPEC 2.1).
FOLDED_CONSTANTS = {
    "module_apply_default/Encoder_en/KonaTransformer/Encode/TransformerStack/Layer_1/TransformerLayer/"
    "MultiheadAttention/DotProductAttention/BaseDotProductAttention/Slice/begin": [3],
}
GRAPH_NAME_PREFIXES = ("ConstantFolding/", "module_apply_default/")
# TF.js stores int64 graph constants as int32.
MANIFEST_DTYPES = {"float32": (TF_FLOAT,), "int32": (TF_INT32, TF_INT64)}

TEST_WEIGHTS_FILE = "TEST_WEIGHTS.json"  # tools/convert.py reads the same name
# Random values are drawn from a 2^16-level inverse-CDF table of N(0, 1) indexed by 16 random bits:
# one table lookup per value keeps the ~6.3 M draws at about a second in pure Python.
NORMAL_LEVELS = 1 << 16


def fail(msg):
    sys.exit(f"make_test_model: {msg}")


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")


def graph_name(manifest_name):
    """The saved_model.pb node name of a manifest entry: TF.js adds these prefixes when converting."""
    for prefix in GRAPH_NAME_PREFIXES:
        if manifest_name.startswith(prefix):
            manifest_name = manifest_name[len(prefix):]
    return manifest_name


def is_graph_constant(spec):
    return spec["dtype"] == "int32" or (spec["dtype"] == "float32" and spec["shape"] == [])


def random_scale(spec):
    """(offset, std) of the seeded random values of a trainable weight, like trained USE-lite weights."""
    name, shape = spec["name"], spec["shape"]
    if "layer_norm_scale" in name:
        return 1.0, 0.1
    if name.endswith("Embeddings_en"):
        return 0.0, 0.5
    if len(shape) == 1:  # every bias and LayerNorm bias is a vector
        return 0.0, 0.05
    return 0.0, 1.0 / math.sqrt(shape[-2])  # a matrix [..., fan_in, fan_out]


def random_bytes(spec, count, seed, normal_table):
    """count float32 values of spec's random distribution; each tensor has its own stream."""
    offset, std = random_scale(spec)
    table = [offset + std * z for z in normal_table]
    rng = random.Random(f"{seed}:{spec['name']}")
    index = array("H", rng.randbytes(2 * count))
    big_endian = sys.byteorder == "big"  # same bytes on every host: little-endian in and out
    if big_endian:
        index.byteswap()
    values = array("f", map(table.__getitem__, index))
    if big_endian:
        values.byteswap()
    return values.tobytes()


def constant_bytes(spec, consts):
    name = spec["name"]
    if name in FOLDED_CONSTANTS:
        values = FOLDED_CONSTANTS[name]
    else:
        found = consts.get(graph_name(name))
        if found is None:
            fail(f"graph constant {name} has no Const node {graph_name(name)} in saved_model.pb")
        try:
            dtype, shape, values = tensor_values(found)
        except (ValueError, pw.WireError) as e:
            fail(f"saved_model.pb Const {graph_name(name)}: {e}")
        if shape != spec["shape"] or dtype not in MANIFEST_DTYPES[spec["dtype"]]:
            fail(f"Const {graph_name(name)} is dtype {dtype} shape {shape}; the manifest says {spec['dtype']} {spec['shape']}")
    return struct.pack(f"<{len(values)}{'f' if spec['dtype'] == 'float32' else 'i'}", *values)


def build_buffer(specs, real_tail, consts, seed):
    """The whole weight buffer: manifest entries in order, real bytes from REAL_START on."""
    normal_table = [statistics.NormalDist().inv_cdf((i + 0.5) / NORMAL_LEVELS) for i in range(NORMAL_LEVELS)]
    parts, offset = [], 0
    for spec in specs:
        nbytes = 4 * math.prod(spec["shape"])
        made = min(nbytes, max(REAL_START - offset, 0))  # bytes before the real shard
        if made:
            if is_graph_constant(spec):
                data = constant_bytes(spec, consts)[:made]
            else:
                data = random_bytes(spec, made // 4, seed, normal_table)
            parts.append(data)
        offset += nbytes
    buffer = b"".join(parts)
    if len(buffer) != REAL_START:
        fail(f"the manifest's entries before shard 7 add up to {len(buffer)} bytes, expected {REAL_START}")
    if REAL_START + len(real_tail) != offset:
        fail(f"{REAL_SHARD} has {len(real_tail)} bytes; the manifest needs {offset - REAL_START}")
    return buffer + real_tail


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--from", dest="source", default=DEFAULT_SOURCE,
                    help="the real use-lite fixtures folder holding tfjs/ and tfhub-lite2/ (default: %(default)s)")
    args = ap.parse_args()

    tfjs = os.path.join(args.source, "tfjs")
    model_json = read_bytes(os.path.join(tfjs, "model.json"))
    manifest = json.loads(model_json)["weightsManifest"]
    if len(manifest) != 1 or len(manifest[0]["paths"]) != 7 or manifest[0]["paths"][-1] != REAL_SHARD:
        fail(f"{tfjs}/model.json: expected one weight group of 7 shards ending in {REAL_SHARD}")
    paths, specs = manifest[0]["paths"], manifest[0]["weights"]
    consts = graph_constants(read_bytes(os.path.join(args.source, "tfhub-lite2", "saved_model.pb")))
    buffer = build_buffer(specs, read_bytes(os.path.join(tfjs, REAL_SHARD)), consts, args.seed)

    try:
        os.makedirs(args.out_dir, exist_ok=True)
        with open(os.path.join(args.out_dir, "model.json"), "wb") as f:
            f.write(model_json)
        shutil.copyfile(os.path.join(tfjs, "vocab.json"), os.path.join(args.out_dir, "vocab.json"))
        for i, name in enumerate(paths):
            with open(os.path.join(args.out_dir, name), "wb") as f:
                f.write(buffer[i * SHARD_BYTES:(i + 1) * SHARD_BYTES])
        with open(os.path.join(args.out_dir, TEST_WEIGHTS_FILE), "w") as f:
            json.dump({"generator": "tools/make_test_model.py", "seed": args.seed,
                       "note": "deterministic random weights in the real architecture, with the real tokenizer "
                               "(SPEC 2.3): the vectors do not mean anything"}, f, indent=1)
            f.write("\n")
    except OSError as e:
        fail(f"cannot write {e.filename}: {e.strerror}")


if __name__ == "__main__":
    main()
