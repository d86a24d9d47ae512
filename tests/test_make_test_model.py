"""tools/make_test_model.py: the deterministic USE-lite test weights of SPEC 2.3."""
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile

import numpy as np

import reference_forward
from common import ROOT, USE_LITE, need_shared, run, tfjs_test_model

TOOL = os.path.join(ROOT, "tools", "make_test_model.py")
REAL_TFJS = os.path.join(USE_LITE, "tfjs")
SHARD_BYTES = 4194304
REAL_START = 6 * SHARD_BYTES
SHARDS = [f"group1-shard{i}of7" for i in range(1, 8)]
MA = reference_forward.MA
STACK = MA + "TransformerStack/"


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def folder_hashes(folder):
    return {name: sha256(os.path.join(folder, name)) for name in sorted(os.listdir(folder))}


def make(out_dir, seed):
    run([sys.executable, TOOL, out_dir, "--seed", str(seed), "--from", USE_LITE])


def test_shard_names_and_sizes():
    model = tfjs_test_model()
    files = SHARDS + ["model.json", "vocab.json", "TEST_WEIGHTS.json"]
    assert sorted(os.listdir(model)) == sorted(files), os.listdir(model)
    sizes = [os.path.getsize(os.path.join(model, s)) for s in SHARDS]
    assert sizes == [SHARD_BYTES] * 6 + [2737832], sizes
    assert sum(sizes) == 27903656
    for name in ("model.json", "vocab.json"):  # copied unchanged
        assert sha256(os.path.join(model, name)) == sha256(os.path.join(REAL_TFJS, name)), name


def test_same_seed_same_bytes_other_seed_other_weights():
    need_shared("fixtures/use-lite")
    first = folder_hashes(tfjs_test_model(seed=1))
    with tempfile.TemporaryDirectory() as tmp:
        make(os.path.join(tmp, "again"), 1)
        assert folder_hashes(os.path.join(tmp, "again")) == first, "two runs with seed 1 differ"
        make(os.path.join(tmp, "other"), 2)
        other = folder_hashes(os.path.join(tmp, "other"))
    for shard in SHARDS[:6]:
        assert other[shard] != first[shard], f"{shard} is the same for seeds 1 and 2"
    assert other[SHARDS[6]] == first[SHARDS[6]], "shard 7 holds real bytes and must not depend on the seed"


def test_real_shard7_bytes_preserved():
    model = tfjs_test_model()
    with open(os.path.join(model, SHARDS[6]), "rb") as a, open(os.path.join(REAL_TFJS, SHARDS[6]), "rb") as b:
        made, real = a.read(), b.read()
    differ = [i for i in range(0, min(len(made), len(real)), 4096) if made[i:i + 4096] != real[i:i + 4096]]
    assert len(made) == len(real) and not differ, f"{len(made)} vs {len(real)} bytes; first differing 4 KiB block at {differ[:1]}"


def weights(model_dir):
    specs, buffer = reference_forward.read_tfjs(model_dir)
    return specs, reference_forward.tensors(specs, buffer)


def test_graph_constants():
    """Values from SPEC 1/2.1 and the real saved_model.pb, checked by name in the buffer."""
    _, t = weights(tfjs_test_model())
    mha0 = STACK + "Layer_0/TransformerLayer/MultiheadAttention/"
    mha1 = STACK + "Layer_1/TransformerLayer/MultiheadAttention/"
    expected = {
        mha0 + "mul/y": np.float32(0.125),  # 1/sqrt(64)
        mha1 + "mul/y": np.float32(1 / np.sqrt(128)),  # 0.0883883
        STACK + "Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x": np.float32(1e-6),
        mha1 + "DotProductAttention/attention_bias_ignore_padding/mul/y": np.float32(-1e9),
        "module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y": np.float32(1e-12),
        mha0 + "Const": [256, 256, 256],
        mha1 + "Const": [512, 512, 512],
        mha0 + "split_heads/split_last_dimension/Reshape/shape/3": 64,
        mha1 + "split_heads/split_last_dimension/Reshape/shape/3": 128,
        mha1 + "split_heads/transpose/perm": [0, 2, 1, 3],
        mha1 + "DotProductAttention/BaseDotProductAttention/Slice/begin": [3],
        STACK + "Layer_1/TransformerLayer/FFN/conv1/Tensordot/Const_2": [1536],
    }
    for name, want in expected.items():
        got = t[name]
        print(f"{name.split('/', 4)[-1]}: got {got.tolist()} expected {np.asarray(want).tolist()}")
        assert np.array_equal(got, np.asarray(want, got.dtype)), name


def test_constants_decoder_agrees_with_real_shard():
    """The tool's saved_model.pb decoder gives, for the constants in the real shard 7, the real bytes: the
    constants it writes elsewhere come from the same decoder."""
    spec = importlib.util.spec_from_file_location("make_test_model", TOOL)
    make_test_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_test_model)
    with open(os.path.join(USE_LITE, "tfhub-lite2", "saved_model.pb"), "rb") as f:
        consts = make_test_model.graph_constants(f.read())
    specs, t = weights(tfjs_test_model())
    offset, checked = 0, {"real": 0, "made": 0}
    for spec in specs:
        graph_name = make_test_model.graph_name(spec["name"])
        if make_test_model.is_graph_constant(spec) and graph_name in consts:
            _, _, values = make_test_model.tensor_values(consts[graph_name])
            got = t[spec["name"]].ravel().tolist()
            assert np.allclose(got, values, rtol=1e-7, atol=0), f"{spec['name']}: buffer {got}, saved_model {values}"
            checked["real" if offset >= REAL_START else "made"] += 1
        offset += 4 * int(np.prod(spec["shape"]))
    print(f"constants equal to saved_model.pb: {checked}")
    assert checked["real"] >= 10 and checked["made"] >= 10, checked


def test_random_weights_have_intended_scale():
    """SPEC 2.3's scales for every float tensor (or part) before the real shard 7, pooled by kind."""
    specs, t = weights(tfjs_test_model())
    pools, offset = {}, 0
    for spec in specs:
        name, shape = spec["name"], spec["shape"]
        end = offset + 4 * int(np.prod(shape))
        if spec["dtype"] == "float32" and shape and offset < REAL_START:
            values = t[name].ravel()[:(min(end, REAL_START) - offset) // 4]
            if "layer_norm_scale" in name:
                kind = ("LN scales", 1.0, 0.1)
            elif "layer_norm_bias" in name:
                kind = ("LN biases", 0.0, 0.05)
            elif len(shape) == 1:
                kind = ("biases", 0.0, 0.05)
            elif name == "module/Embeddings_en":
                kind = ("embedding rows before shard 7", 0.0, 0.5)
            else:
                kind = (name.split("Encode/")[-1], 0.0, 1 / np.sqrt(shape[-2]))
            pools.setdefault(kind, []).append(values)
        offset = end
    assert len(pools) == 4 + 8, sorted(k[0] for k in pools)  # 8 matrices: 4 per layer, 2 more are real
    for (label, mean, std), parts in pools.items():
        values = np.concatenate(parts).astype(np.float64)
        got_mean, got_std = values.mean(), values.std()
        print(f"{label}: n={values.size} mean {got_mean:.5f} (expected {mean}) std {got_std:.5f} (expected {std:.5f})")
        assert abs(got_std / std - 1) < 0.04, label
        assert abs(got_mean - mean) < 4 * std / np.sqrt(values.size), label


def test_missing_fixtures_fail_with_a_message():
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, TOOL, os.path.join(tmp, "out"), "--from", tmp],
                              capture_output=True, text=True)
    assert proc.returncode != 0
    assert "cannot read" in proc.stderr and "model.json" in proc.stderr, proc.stderr
