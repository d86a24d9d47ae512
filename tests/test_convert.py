"""tools/convert.py and its readers: CRC32C, snappy, the tensor-bundle reader (on checkpoints TensorFlow wrote),
the real USE-lite index, both source kinds converting to the same tensors, the tokenizer payload and the .usew
bytes as engine/usew.h defines them. Reference values come from the real fixtures in ../shared, published
CRC32C test vectors, python3-sentencepiece and engine/usew.h."""
import hashlib
import json
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import time
import zlib

import common
from common import ROOT, SPM_MODEL, USE_LITE, FIXTURES, Skip, need_shared, run

sys.path.insert(0, os.path.join(ROOT, "tools"))
import convert  # noqa: E402
import crc32c  # noqa: E402
import snappy  # noqa: E402
import tfbundle  # noqa: E402
import tfbundle_write  # noqa: E402
import timing_signal  # noqa: E402
import usew  # noqa: E402

CONVERT = os.path.join(ROOT, "tools", "convert.py")
TFJS = os.path.join(USE_LITE, "tfjs")
TFHUB = os.path.join(USE_LITE, "tfhub-lite2")
SHARD7 = "group1-shard7of7"
SHARD_BYTES = 4194304
SHARD7_START = 6 * SHARD_BYTES  # SPEC 2.1: shard 7 holds buffer bytes 25,165,824 onwards
TIMING_OFFSET = 26326104  # buffer offset of .../AddTimingSignal/TimingSignal/ExpandDims_1
SERVING = os.path.join(FIXTURES, "tf-serving")


def serving_prefix(name):
    return os.path.join(SERVING, name, "00000123", "variables", "variables")


def bitwise_crc32c(data):
    """The textbook one-bit-at-a-time CRC32C, as independent of tools/crc32c.py as can be."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def convert_cli(*args):
    return run([sys.executable, CONVERT, *map(str, args)], check=False)


def expect_one_line_error(proc, *needles):
    """The converter failed cleanly: exit 1, one stderr line, no traceback, every needle in it."""
    err = proc.stderr.strip()
    assert proc.returncode == 1, f"exit {proc.returncode}, stderr: {err}"
    assert "Traceback" not in err and len(err.splitlines()) == 1, f"not one clean line:\n{err}"
    for needle in needles:
        assert needle in err, f"{needle!r} not in: {err}"
    print("    error:", err[:300])


# ---- checksums and compression -------------------------------------------------------------------------

def test_crc32c_vectors_and_speed():
    # RFC 3720 B.4 test vectors and the classic check value
    vectors = [(b"\0" * 32, 0x8A9136AA), (b"\xff" * 32, 0x62A8AB43), (bytes(range(32)), 0x46DD794E),
               (bytes(range(31, -1, -1)), 0x113FDB5C), (b"123456789", 0xE3069283)]
    for data, want in vectors:
        assert crc32c.crc32c(data) == want, f"{data[:8]!r}...: {crc32c.crc32c(data):#x} != {want:#x}"
    rng = random.Random(7)
    for n in (0, 1, 3, 4, 5, 63, 64, 65, 127, 128, 129, 1000, 4099):
        data = bytes(rng.getrandbits(8) for _ in range(n))
        assert crc32c.crc32c(data) == bitwise_crc32c(data), f"length {n}"
        assert crc32c.crc32c(data[n // 3:], crc32c.crc32c(data[:n // 3])) == bitwise_crc32c(data), f"split {n}"
    assert crc32c.unmask(crc32c.mask(0x12345678)) == 0x12345678
    big = os.urandom(28 * 1000 * 1000)  # about the size of the real USE-lite variables.data
    started = time.time()
    crc32c.crc32c(big)
    seconds = time.time() - started
    print(f"    CRC32C of 28 MB: {seconds:.2f} s")
    assert seconds < 30, f"CRC32C of 28 MB took {seconds:.1f} s"


def test_snappy_round_trip_and_errors():
    rng = random.Random(3)
    samples = [b"", b"a", b"ab" * 1000, bytes(rng.getrandbits(8) for _ in range(5000)),
               b"Encoder_en/KonaTransformer/Encode/Layer_0/" * 50 + bytes(range(256)) * 300]
    for data in samples:
        packed = snappy.compress(data)
        assert snappy.decompress(packed) == data, f"round trip of {len(data)} bytes"
    assert len(snappy.compress(samples[2])) < 200, "repetitive input should compress"
    # hand-made block: literal "abc", then a 1-byte-offset copy of length 7 overlapping its source
    assert snappy.decompress(bytes([10, 2 << 2]) + b"abc" + bytes([(7 - 4) << 2 | 1, 3])) == b"abcabcabca"
    for bad in (bytes([5, 4 << 2]) + b"ab", bytes([3, 1, 9]), bytes([4, 0]) + b"a"):
        try:
            snappy.decompress(bad)
        except snappy.SnappyError as e:
            print("    rejected:", e)
        else:
            raise AssertionError(f"malformed block {bad!r} accepted")


# ---- tensor bundles written by TensorFlow --------------------------------------------------------------

def scalar_values(bundle):
    out = {}
    for name in bundle.names:
        entry, raw = bundle.read(name) if bundle.entries[bundle.keys_by_name[name]].dtype == 1 else (None, None)
        if entry is not None:
            out[name] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return out


def test_bundle_reader_on_tf_serving_checkpoints():
    need_shared("fixtures/tf-serving")
    tf1 = tfbundle.Bundle(serving_prefix("saved_model_half_plus_two_cpu"))
    assert scalar_values(tf1) == {"a": [0.5], "a2": [0.5], "b": [2.0], "c": [3.0], "c2": [3.0]}, scalar_values(tf1)
    tf2 = tfbundle.Bundle(serving_prefix("saved_model_half_plus_two_tf2_cpu"))
    assert tf2.keys_by_name["a"] == "a/.ATTRIBUTES/VARIABLE_VALUE", tf2.keys_by_name
    values = scalar_values(tf2)
    assert {k: values[k] for k in "abc"} == {"a": [0.5], "b": [2.0], "c": [3.0]}, values
    mkl = tfbundle.Bundle(serving_prefix("saved_model_half_plus_two_mkl"))
    kernels = {n: mkl.read(n)[0].shape for n in mkl.names if n.endswith("kernel")}
    assert kernels == {f"conv2d{s}/kernel": [1, 1, 1, 1] for s in ("", "_1", "_2")}, kernels
    assert scalar_values(mkl)["b"] == [2.0]
    counter = tfbundle.Bundle(serving_prefix("saved_model_counter"))
    assert scalar_values(counter) == {"counter": [0.0]}
    for bundle in (tf1, tf2, mkl, counter):  # every stored tensor, the TF2 object graph included
        checked = bundle.verify_all()
        data = open(bundle.data_path(0), "rb").read()
        assert checked == len(data), f"{bundle.prefix}: CRC-checked {checked} of {len(data)} data bytes"
        for key, entry in bundle.entries.items():
            if entry.dtype == 1 and entry.size:  # the stored masked CRC32C, recomputed by the reference
                piece = data[entry.offset:entry.offset + entry.size]
                assert crc32c.mask(bitwise_crc32c(piece)) == entry.crc32c, f"{bundle.prefix} {key}"


def test_bundle_reader_names_a_flipped_byte():
    need_shared("fixtures/tf-serving")
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.dirname(serving_prefix("saved_model_half_plus_two_cpu"))
        copy = os.path.join(tmp, "variables")
        shutil.copytree(source, copy)
        data_path = os.path.join(copy, "variables.data-00000-of-00001")
        bundle = tfbundle.Bundle(os.path.join(copy, "variables"))
        target = bundle.entries["b"]
        with open(data_path, "r+b") as f:
            f.seek(target.offset + 1)
            byte = f.read(1)
            f.seek(target.offset + 1)
            f.write(bytes([byte[0] ^ 0x10]))
        bundle = tfbundle.Bundle(os.path.join(copy, "variables"))
        assert bundle.read("a")[1] == struct.pack("<f", 0.5), "an intact tensor still reads"
        try:
            bundle.read("b")
        except tfbundle.BundleError as e:
            message = str(e)
        else:
            raise AssertionError("flipped byte in tensor b not detected")
        print("    error:", message)
        assert data_path in message and "tensor b" in message and "CRC32C" in message, message


def test_bundle_slices_and_mod_shards_round_trip():
    """Partitioned variables come back whole; an embedding table saved mod-sharded (row r in shard r % N)
    comes back in row order."""
    rows = [struct.pack("<2f", r, -r) for r in range(7)]
    shards = [b"".join(rows[s::3]) for s in range(3)]
    matrix = struct.pack("<10f", *range(10))
    variables = [tfbundle_write.Variable("w", 1, [5, 2], matrix, [[(0, 2), (0, 2)], [(2, 2), (0, 2)], [(4, 1), (0, 2)]]),
                 tfbundle_write.Variable("s", 1, [], struct.pack("<f", 1.5))]
    variables += [tfbundle_write.Variable(f"emb/sharded_{k}", 1, [len(rows[k::3]), 2], shards[k]) for k in range(3)]
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "variables")
        tfbundle_write.write_bundle(prefix, variables, use_snappy=False)
        bundle = tfbundle.Bundle(prefix)
        assert bundle.read("w")[1] == matrix and bundle.read("s")[1] == struct.pack("<f", 1.5)
        entry, joined = bundle.read("emb")
        assert entry.shape == [7, 2] and joined == b"".join(rows), struct.unpack("<14f", joined)
        assert bundle.table.blocks[-1][2] == tfbundle.NO_COMPRESSION


# ---- the real USE-lite checkpoint index ----------------------------------------------------------------

def real_index():
    need_shared("fixtures/use-lite/tfhub-lite2/variables/variables.index")
    return tfbundle.Bundle(tfbundle.bundle_prefix(os.path.join(TFHUB, "variables")))


UNPARTITIONED = {"Embeddings_en", "Encoder_en/hidden_layers/tanh_layer_0/weights",
                 "Encoder_en/hidden_layers/tanh_layer_0/bias"} | {
    f"Encoder_en/KonaTransformer/Encode/Layer_{i}/TransformerLayer/MultiheadAttention/{m}_transform_single/kernel"
    for i in (0, 1) for m in ("qkv", "output")}


def test_real_use_lite_index():
    bundle = real_index()
    # SPEC 2.2 shapes, spot-checked by hand; every name converts to one of the converter's model tensors
    shapes = {name: entry.shape for name, entry in bundle.entries.items()}
    L0, L1 = ("Encoder_en/KonaTransformer/Encode/Layer_%d/TransformerLayer/" % i for i in (0, 1))
    for name, shape in {"Embeddings_en": [8002, 256], L0 + "dense/kernel": [256, 512],
                        L0 + "MultiheadAttention/qkv_transform_single/kernel": [1, 1, 256, 768],
                        L1 + "MultiheadAttention/qkv_transform_single/kernel": [1, 1, 512, 1536],
                        L1 + "FFN/conv1/kernel": [512, 1536], L1 + "FFN/conv2/bias": [512],
                        "Encoder_en/hidden_layers/tanh_layer_0/weights": [512, 512]}.items():
        assert shapes.get(name) == shape, f"{name}: {shapes.get(name)} != {shape}"
    tf1_names = {w.tf1_name for w in convert.model_tensors(2)}
    assert set(shapes) == tf1_names, f"index vs converter: {sorted(set(shapes) ^ tf1_names)}"
    assert len(shapes) == 29 and all(e.dtype_name == "float32" for e in bundle.entries.values())
    # 16-way partitions along axis 0, contiguous bands, one slice entry each
    for name, entry in bundle.entries.items():
        if name in UNPARTITIONED:
            assert not entry.slices and entry.size == 4 * tfbundle.element_count(entry.shape), name
            continue
        assert len(entry.slices) == 16, f"{name}: {len(entry.slices)} slices"
        band = entry.shape[0] // 16
        for k, extents in enumerate(entry.slices):
            assert extents[0] == (k * band, band), f"{name} slice {k}: {extents}"
            assert all(e == (0, d) for e, d in zip(extents[1:], entry.shape[1:])), f"{name}: {extents}"
    assert len(bundle.slice_values) == 16 * (29 - len(UNPARTITIONED))
    # the one data block is snappy-compressed and verified; the index block is stored plain
    blob = open(bundle.index_path, "rb").read()
    (index_at, index_size, index_kind), (data_at, data_size, data_kind) = bundle.table.blocks
    assert data_kind == tfbundle.SNAPPY and index_kind == tfbundle.NO_COMPRESSION, bundle.table.blocks
    unpacked = snappy.decompress(blob[data_at:data_at + data_size])
    print(f"    data block: {data_size} bytes snappy -> {len(unpacked)} bytes")
    assert len(unpacked) > data_size
    for at, size, kind in bundle.table.blocks:  # masked CRC32C of contents + type byte, by the reference
        stored = struct.unpack_from("<I", blob, at + size + 1)[0]
        assert crc32c.mask(bitwise_crc32c(blob[at:at + size + 1])) == stored, f"block at {at}"


def test_real_index_block_crc_detected():
    bundle = real_index()
    blob = bytearray(open(bundle.index_path, "rb").read())
    blob[100] ^= 0x01  # inside the snappy data block
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "variables.index")
        open(path, "wb").write(blob)
        try:
            tfbundle.Table(path)
        except tfbundle.BundleError as e:
            print("    error:", e)
            assert path in str(e) and "CRC32C" in str(e), e
        else:
            raise AssertionError("damaged index block accepted")


def test_damaged_index_fails_cleanly():
    """Truncated or bit-flipped copies of the real index raise BundleError naming the file, nothing else."""
    bundle = real_index()
    blob = open(bundle.index_path, "rb").read()
    rng = random.Random(11)
    damaged = [blob[:n] for n in (0, 10, 47, 48, len(blob) - 1)]
    for _ in range(40):
        copy = bytearray(blob)
        copy[rng.randrange(len(copy))] ^= 1 << rng.randrange(8)
        damaged.append(bytes(copy))
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "variables")
        for copy in damaged:
            open(prefix + ".index", "wb").write(copy)
            try:
                tfbundle.Bundle(prefix)
            except tfbundle.BundleError as e:
                assert prefix + ".index" in str(e), e
            else:
                assert copy == blob, "a damaged index was accepted"


def test_table_round_trip_across_many_blocks():
    entries = [(f"key/{i:05d}/{'x' * (i % 7)}".encode(), os.urandom(i % 40)) for i in range(400)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.index")
        for use_snappy in (False, True):
            open(path, "wb").write(tfbundle_write.table_bytes(entries, use_snappy, block_size=512))
            table = tfbundle.Table(path)
            assert table.entries == entries, f"snappy={use_snappy}: entries differ"
            assert len(table.blocks) > 10, f"expected many data blocks, got {len(table.blocks)}"


def test_table_writer_rebuilds_the_real_data_block():
    """The test writer's table blocks are TensorFlow's: re-encoding the real entries gives the real block."""
    bundle = real_index()
    blob = open(bundle.index_path, "rb").read()
    _, (at, size, _) = bundle.table.blocks
    real_block = snappy.decompress(blob[at:at + size])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "variables.index")
        open(path, "wb").write(tfbundle_write.table_bytes(bundle.table.entries))
        rebuilt = tfbundle.Table(path)
        _, (at2, size2, kind2) = rebuilt.blocks
        mine = open(path, "rb").read()[at2:at2 + size2]
        assert kind2 == tfbundle.SNAPPY and snappy.decompress(mine) == real_block
        assert rebuilt.entries == bundle.table.entries


def test_timing_signal_equals_real_shard7():
    need_shared("fixtures/use-lite/tfjs")
    with open(os.path.join(TFJS, SHARD7), "rb") as f:
        f.seek(TIMING_OFFSET - SHARD7_START)
        real = f.read(512)
    computed = struct.pack("<128f", *timing_signal.inverse_timescales(128, 9.210340371976184))
    wrong = [i for i in range(128) if computed[4 * i:4 * i + 4] != real[4 * i:4 * i + 4]]
    naive = struct.pack("<128f", *(2.718281828459045 ** (-i * 9.210340371976184 / 127) for i in range(128)))
    print(f"    Eigen-style float32 exp: {len(wrong)} of 128 differ; float64 exp rounded: "
          f"{sum(naive[4 * i:4 * i + 4] != real[4 * i:4 * i + 4] for i in range(128))} differ")
    assert not wrong, f"differ at {wrong[:10]}: got {struct.unpack_from('<f', computed, 4 * wrong[0])} " \
                      f"want {struct.unpack_from('<f', real, 4 * wrong[0])}"


# ---- conversion ----------------------------------------------------------------------------------------

def converted(path):
    hparams, tensors = usew.parse(open(path, "rb").read(), path)
    return hparams, tensors


def test_convert_tfjs_keeps_real_shard7_bytes():
    path = common.test_usew()
    hparams, tensors = converted(path)
    real = open(os.path.join(TFJS, SHARD7), "rb").read()
    manifest = json.load(open(os.path.join(TFJS, "model.json")))["weightsManifest"][0]["weights"]
    offsets, at = {}, 0
    for spec in manifest:
        offsets[spec["name"]] = at
        at += 4 * tfbundle.element_count(spec["shape"])

    def real_bytes(name, start, nbytes):
        begin = offsets[name] + start - SHARD7_START
        assert begin >= 0, f"{name} + {start} is not in shard 7"
        return real[begin:begin + nbytes]

    head = "module/Encoder_en/hidden_layers/tanh_layer_0/"
    dense = "module_apply_default/Encoder_en/KonaTransformer/Encode/Layer_0/TransformerLayer/dense/"
    for usew_name, name in (("head.weight", head + "weights"), ("head.bias", head + "bias"),
                            ("l0.proj.weight", dense + "kernel/ConcatPartitions/concat"),
                            ("l0.proj.bias", dense + "bias/ConcatPartitions/concat")):
        data = tensors[usew_name].data
        assert data == real_bytes(name, 0, len(data)), f"{usew_name} differs from {name} in {SHARD7}"
    row = 256 * 4
    first_row = -(-(SHARD7_START - offsets["module/Embeddings_en"]) // row)
    tail = tensors["embed.table"].data[first_row * row:]
    assert len(tail) == (8002 - first_row) * row and tail == real_bytes("module/Embeddings_en", first_row * row, len(tail))
    print(f"    embedding rows {first_row}..8001, l0.proj, head: byte-equal to {SHARD7}")
    timing = tensors["embed.timing_inv"]
    assert timing.shape == [128] and timing.data == real[TIMING_OFFSET - SHARD7_START:][:512]
    want = {"n_layers": 2, "d_model": 512, "n_heads": 4, "d_ffn": 1536, "vocab_rows": 8002, "n_pieces": 8000,
            "max_len": 128, "pooling": 0, "flags": 0x3F, "default_tokenizer": usew.TOK_SPM,
            "normalizer_flags": 7, "ln_eps": struct.unpack("<f", struct.pack("<f", 1e-6))[0],
            "l2_floor": struct.unpack("<f", struct.pack("<f", 1e-12))[0], "unk_id": 0,
            "layer_width": [256, 512, 0, 0, 0, 0, 0, 0]}
    assert hparams == want, f"header {hparams}\nexpected {want}"
    assert tensors["tok.tfjs.vocab"].data == open(os.path.join(TFJS, "vocab.json"), "rb").read()


def test_convert_tf1_bundle_equals_tfjs():
    """The TF1 module written from the same weights converts to the same model, byte for byte; the timing
    signal computed from the graph equals the one stored in the TF.js buffer."""
    tfjs_dir = common.tfjs_test_model()
    need_shared("fixtures/use-lite/tfhub-lite2")
    with tempfile.TemporaryDirectory() as tmp:
        hub = os.path.join(tmp, "hub")
        tfbundle_write.module_from_tfjs(tfjs_dir, TFHUB, hub)
        written, real = tfbundle.Bundle(os.path.join(hub, "variables", "variables")), real_index()
        assert [k for k, _ in written.table.entries] == [k for k, _ in real.table.entries], "index keys"
        for (key, mine), (_, theirs) in zip(written.table.entries, real.table.entries):
            a, b = tfbundle.Entry("w", mine, ""), tfbundle.Entry("r", theirs, "")
            assert (a.shape, a.slices, a.offset, a.size) == (b.shape, b.slices, b.offset, b.size), key
        proc = convert_cli(hub, "-o", os.path.join(tmp, "hub.usew"))
        assert proc.returncode == 0, proc.stderr
        print("    " + proc.stdout.strip())
        proc = convert_cli(tfjs_dir, "-o", os.path.join(tmp, "tfjs.usew"), "--spm-model", SPM_MODEL)
        assert proc.returncode == 0, proc.stderr
        hub_header, hub_tensors = converted(os.path.join(tmp, "hub.usew"))
        js_header, js_tensors = converted(os.path.join(tmp, "tfjs.usew"))
    assert hub_header == js_header, f"{hub_header}\n{js_header}"
    model_names = [n for n in js_tensors if not n.startswith(("tok.", "meta."))]
    assert len(model_names) == 30 and "embed.timing_inv" in model_names
    for name in model_names + ["tok.spm.pieces", "tok.spm.scores", "tok.spm.types", "tok.spm.charsmap"]:
        a, b = hub_tensors[name], js_tensors[name]
        assert (a.shape, a.data) == (b.shape, b.data), f"{name}: TF1 {a.shape} vs tfjs {b.shape} differ"
    assert "tok.tfjs.vocab" not in hub_tensors
    assert json.loads(hub_tensors["meta.provenance"].data)["source_kind"] == "tf1-hub"


def test_convert_refuses_weight_files_outside_the_model_folder():
    """A crafted model.json naming "../../../etc/passwd", an absolute path or a symbolic link that leads out of the
    folder must not make the converter read that file (issue 13)."""
    tfjs_dir = common.tfjs_test_model()
    with tempfile.TemporaryDirectory() as tmp:
        secret = os.path.join(tmp, "secret")
        with open(secret, "wb") as f:
            f.write(b"s" * 100)
        doc = json.load(open(os.path.join(tfjs_dir, "model.json")))
        out = os.path.join(tmp, "x.usew")
        cases = {"dotdot": ("../../../../../../../../etc/passwd", "is not a plain name inside the model folder"),
                 "absolute": (secret, "is not a plain name inside the model folder"),
                 "inner_dotdot": ("sub/../../secret", "is not a plain name inside the model folder"),
                 "symlink": ("escape", "outside the model folder")}
        for name, (path, expected) in cases.items():
            folder = os.path.join(tmp, name)
            common.linked_copy(tfjs_dir, folder, skip={"model.json"})
            os.symlink(secret, os.path.join(folder, "escape"))
            bad = json.loads(json.dumps(doc))
            bad["weightsManifest"][0]["paths"][-1] = path
            json.dump(bad, open(os.path.join(folder, "model.json"), "w"))
            expect_one_line_error(convert_cli(folder, "-o", out), os.path.join(folder, "model.json"), repr(path), expected)
            assert not os.path.exists(out)
        # a symbolic link that stays inside the folder is fine
        inside = os.path.join(tmp, "inside")
        common.linked_copy(tfjs_dir, inside, skip={"model.json"})
        os.symlink(SHARD7, os.path.join(inside, "alias"))
        good = json.loads(json.dumps(doc))
        good["weightsManifest"][0]["paths"][-1] = "alias"
        json.dump(good, open(os.path.join(inside, "model.json"), "w"))
        proc = convert_cli(inside, "-o", out)
        assert proc.returncode == 0 and os.path.exists(out), proc.stderr


def test_convert_tfjs_errors_name_file_and_size():
    tfjs_dir = common.tfjs_test_model()
    with tempfile.TemporaryDirectory() as tmp:
        missing = os.path.join(tmp, "missing")
        common.linked_copy(tfjs_dir, missing, skip={"group1-shard3of7"})
        expect_one_line_error(convert_cli(missing, "-o", os.path.join(tmp, "x.usew")),
                              os.path.join(missing, "group1-shard3of7"), "missing", "expected 4194304 bytes")
        short = os.path.join(tmp, "short")
        common.linked_copy(tfjs_dir, short, skip={SHARD7})
        with open(os.path.join(tfjs_dir, SHARD7), "rb") as f, open(os.path.join(short, SHARD7), "wb") as g:
            g.write(f.read()[:-100])
        expect_one_line_error(convert_cli(short, "-o", os.path.join(tmp, "x.usew")),
                              os.path.join(short, SHARD7), "2737732 bytes, expected 2737832")
        renamed = os.path.join(tmp, "renamed")
        common.linked_copy(tfjs_dir, renamed, skip={"model.json"})
        doc = json.load(open(os.path.join(tfjs_dir, "model.json")))
        gone = ("module/Encoder_en/hidden_layers/tanh_layer_0/bias",
                "module_apply_default/Encoder_en/KonaTransformer/Encode/Layer_1/TransformerLayer/FFN/conv2/bias/"
                "ConcatPartitions/concat",
                "module_apply_default/Encoder_en/KonaTransformer/Encode/TransformerStack/Layer_0/AddTimingSignal/"
                "TimingSignal/ExpandDims_1")
        for spec in doc["weightsManifest"][0]["weights"]:
            if spec["name"] in gone:
                spec["name"] += "_renamed"
        json.dump(doc, open(os.path.join(renamed, "model.json"), "w"))
        expect_one_line_error(convert_cli(renamed, "-o", os.path.join(tmp, "x.usew")),
                              os.path.join(renamed, "model.json"), "missing 3 tensors", *gone)
        assert not os.path.exists(os.path.join(tmp, "x.usew"))


def test_convert_refuses_unknown_sources():
    need_shared("fixtures/tf-serving")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "x.usew")
        expect_one_line_error(convert_cli(tmp, "-o", out), tmp, "neither a TF.js graph model")
        serving = os.path.join(SERVING, "saved_model_half_plus_two_cpu", "00000123")
        expect_one_line_error(convert_cli(serving, "-o", out), "saved_model.pb", "unknown architecture")
        # the real module's index without its data file (not available here)
        expect_one_line_error(convert_cli(TFHUB, "-o", out), "variables.data-00000-of-00001", "cannot read")
        expect_one_line_error(convert_cli(TFJS, "-o", out, "--spm-model", os.path.join(TFJS, "vocab.json")),
                              "group1-shard1of7", "missing")
        expect_one_line_error(convert_cli(common.tfjs_test_model(), "-o", out, "--spm-model",
                                          os.path.join(TFJS, "model.json")), "model.json", "not a SentencePiece model")
        expect_one_line_error(convert_cli(common.tfjs_test_model(), "-o", os.path.join(tmp, "no", "x.usew")),
                              os.path.join(tmp, "no", "x.usew"), "cannot write")
        bad_json = os.path.join(tmp, "bad")
        os.makedirs(bad_json)
        open(os.path.join(bad_json, "model.json"), "w").write("{not json")
        expect_one_line_error(convert_cli(bad_json, "-o", out), os.path.join(bad_json, "model.json"), "not a TF.js")


def test_failed_convert_keeps_existing_output():
    tfjs_dir = common.tfjs_test_model()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "model.usew")
        open(out, "wb").write(b"previous")
        broken = os.path.join(tmp, "broken")
        common.linked_copy(tfjs_dir, broken, skip={"vocab.json"})
        expect_one_line_error(convert_cli(broken, "-o", out), os.path.join(broken, "vocab.json"))
        assert open(out, "rb").read() == b"previous", "the old output was overwritten"
        assert sorted(os.listdir(tmp)) == ["broken", "model.usew"], f"temporary files left: {os.listdir(tmp)}"


# ---- tokenizer payload and file layout -----------------------------------------------------------------

@common.quick
def test_spm_payload_matches_sentencepiece():
    try:
        import sentencepiece
    except ImportError:
        raise Skip("python3-sentencepiece is not installed")
    _, tensors = converted(common.test_usew())
    sp = sentencepiece.SentencePieceProcessor(model_file=SPM_MODEL)
    n = sp.get_piece_size()
    pieces = tensors["tok.spm.pieces"].data.split(b"\0")
    assert pieces[-1] == b"" and len(pieces) == n + 1, f"{len(pieces) - 1} pieces, sentencepiece has {n}"
    scores = struct.unpack(f"<{n}f", tensors["tok.spm.scores"].data)
    types = tensors["tok.spm.types"].data
    for i in range(n):
        assert pieces[i].decode() == sp.id_to_piece(i), f"piece {i}: {pieces[i]!r} vs {sp.id_to_piece(i)!r}"
        assert scores[i] == sp.get_score(i), f"score {i}: {scores[i]} vs {sp.get_score(i)}"
        flags = {2: sp.is_unknown(i), 3: sp.is_control(i), 5: sp.is_unused(i), 6: sp.is_byte(i)}
        want = [t for t, on in flags.items() if on]
        assert (want == [types[i]]) if want else types[i] in (1, 4), f"type of {i} {pieces[i]!r}: {types[i]}"
    user_defined = [i for i in range(n) if types[i] == 4]
    assert user_defined == [3, 4, 5], user_defined  # SPEC 4.1
    for i in user_defined:  # sentencepiece always matches a user-defined piece whole
        assert i in sp.encode(pieces[i].decode()), f"{pieces[i]!r} does not encode to {i}"
    blob = open(SPM_MODEL, "rb").read()
    charsmap = tensors["tok.spm.charsmap"].data
    assert len(charsmap) > 1000 and blob.count(charsmap) == 1, "charsmap is not a byte-exact part of the .model"


def header_offsets():
    """enum usew_header_offsets and usew_record_offsets, read from the C contract itself."""
    text = open(os.path.join(ROOT, "engine", "model", "usew.h")).read()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"USEW_([HR]_[A-Z0-9_]+)\s*=\s*(\d+)", text)}


def test_usew_bytes_follow_usew_h():
    path = common.test_usew()
    blob = open(path, "rb").read()
    off = header_offsets()
    u32 = lambda at: struct.unpack_from("<I", blob, at)[0]  # noqa: E731
    u64 = lambda at: struct.unpack_from("<Q", blob, at)[0]  # noqa: E731
    assert blob[off["H_MAGIC"]:off["H_MAGIC"] + 8] == b"USEW\x89\r\n\x1a"
    assert u32(off["H_VERSION"]) == 1 and u32(off["H_HEADER_BYTES"]) == 256
    assert u64(off["H_FILE_BYTES"]) == len(blob) and u64(off["H_TABLE_OFFSET"]) == 256
    assert u32(off["H_HEADER_CRC32"]) == zlib.crc32(blob[:off["H_HEADER_CRC32"]])
    assert blob[off["H_RESERVED"]:off["H_HEADER_CRC32"]] == bytes(off["H_HEADER_CRC32"] - off["H_RESERVED"])
    assert [u32(off["H_LAYER_WIDTH"] + 4 * i) for i in range(8)] == [256, 512, 0, 0, 0, 0, 0, 0]
    assert struct.unpack_from("<f", blob, off["H_LN_EPS"])[0] == struct.unpack("<f", struct.pack("<f", 1e-6))[0]
    n = u32(off["H_N_TENSORS"])
    table = blob[256:256 + 128 * n]
    assert u32(off["H_TABLE_CRC32"]) == zlib.crc32(table)
    end, names = 256 + 128 * n, []
    for i in range(n):
        rec = table[128 * i:128 * (i + 1)]
        name = rec[:80].split(b"\0", 1)[0]
        assert rec[len(name):80] == bytes(80 - len(name)), f"{name}: not NUL-padded"
        dtype, ndim = struct.unpack_from("<II", rec, off["R_DTYPE"])
        shape = struct.unpack_from("<4I", rec, off["R_SHAPE"])
        offset, nbytes = struct.unpack_from("<QQ", rec, off["R_OFFSET"])
        crc, reserved = struct.unpack_from("<II", rec, off["R_CRC32"])
        size = {0: 4, 1: 2, 2: 2, 3: 4, 4: 1}[dtype]
        count = 1
        for d in shape[:ndim]:
            count *= d
        assert shape[ndim:] == (0,) * (4 - ndim) and nbytes == count * size and reserved == 0, name
        assert offset % 64 == 0 and offset >= end and blob[end:offset] == bytes(offset - end), f"{name} @ {offset}"
        assert zlib.crc32(blob[offset:offset + nbytes]) == crc, f"{name}: CRC"
        end = offset + nbytes
        names.append(name.decode())
    assert end == len(blob), "data ends where the file ends"
    assert len(set(names)) == n
    prov = json.loads(_tensor_bytes(blob, names, "meta.provenance"))
    assert prov["format_version"] == 1 and prov["source_kind"] == "tfjs" and prov["created"].endswith("Z")
    tfjs_dir = common.tfjs_test_model()
    files = {s["file"]: s for s in prov["sources"]}
    assert set(files) == {"model.json", "vocab.json", "TEST_WEIGHTS.json", os.path.basename(SPM_MODEL)} | {
        f"group1-shard{k}of7" for k in range(1, 8)}, sorted(files)
    for name, entry in files.items():
        path = SPM_MODEL if name == os.path.basename(SPM_MODEL) else os.path.join(tfjs_dir, name)
        data = open(path, "rb").read()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data), name


def _tensor_bytes(blob, names, name):
    i = names.index(name)
    offset, nbytes = struct.unpack_from("<QQ", blob, 256 + 128 * i + 104)
    return blob[offset:offset + nbytes]


@common.quick
def test_c_loader_reads_converted_model():
    if not os.access(common.BIN, os.X_OK):
        raise Skip(f"{common.BIN} is not built")
    proc = run([common.BIN, "info", common.test_usew()], check=False)
    assert proc.returncode == 0, proc.stderr
    assert "all 36 tensors verified" in proc.stdout and "4 heads" in proc.stdout, proc.stdout[:800]
