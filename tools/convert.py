#!/usr/bin/env python3
"""Converts Universal Sentence Encoder lite weights into one .usew file (docs/format.md, docs/convert.md).

Usage: python3 tools/convert.py SRC -o OUT [--spm-model FILE]

SRC is one of
  - a TensorFlow.js graph-model folder: model.json, the weight shards it lists, vocab.json;
  - a TF Hub TF1 module folder: saved_model.pb, variables/variables.{index,data-*}, assets/*.model.
--spm-model FILE stores that SentencePiece model as the tokenizer (a TF Hub module's assets/*.model by default).
Standard library only (Python 3.9+). Every error is one line naming the file and the problem.
"""
import argparse
import datetime
import glob
import hashlib
import json
import math
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protowire as pw  # noqa: E402
import spm_model  # noqa: E402
import tfbundle  # noqa: E402
import tfgraph  # noqa: E402
import timing_signal  # noqa: E402
import usew  # noqa: E402

CONVERTER = {"name": "userec tools/convert.py", "version": "1"}
TFJS_SHARD_BYTES = 4194304  # the TF.js converter's default shard size, used when it cannot be measured
TFJS_ELEMENT_BYTES = {"float32": 4, "int32": 4, "bool": 1}
TFJS_QUANTIZED_BYTES = {"uint8": 1, "uint16": 2, "float16": 2}
TFJS_NAME_PREFIXES = ("module_apply_default/", "ConstantFolding/")  # added by the TF.js converter

ENCODE = "Encoder_en/KonaTransformer/Encode"
STACK = ENCODE + "/TransformerStack"
HEAD = "Encoder_en/hidden_layers/tanh_layer_0"
TIMING = STACK + "/Layer_0/AddTimingSignal/TimingSignal"

# Per layer: (.usew name suffix, TF1 variable path under Layer_i/TransformerLayer/, how TF.js stores it:
# "concat" = partitions joined by a ConcatPartitions node, "part" = the single partition of a 1x1 conv kernel,
# "tensordot" = the FFN kernel as reshaped for its Tensordot), expected shape from (W = layer input width,
# D = d_model, F = d_ffn).
LAYER_TENSORS = (
    ("attn_norm.scale", "layer_prepostprocess/layer_norm/layer_norm_scale", "concat", lambda W, D, F: [W]),
    ("attn_norm.bias", "layer_prepostprocess/layer_norm/layer_norm_bias", "concat", lambda W, D, F: [W]),
    ("attn.qkv.weight", "MultiheadAttention/qkv_transform_single/kernel", "part", lambda W, D, F: [W, 3 * W]),
    ("attn.qkv.bias", "MultiheadAttention/qkv_transform_single/bias", "concat", lambda W, D, F: [3 * W]),
    ("attn.out.weight", "MultiheadAttention/output_transform_single/kernel", "part", lambda W, D, F: [W, D]),
    ("attn.out.bias", "MultiheadAttention/output_transform_single/bias", "concat", lambda W, D, F: [D]),
    ("ffn_norm.scale", "FFN/layer_prepostprocess/layer_norm/layer_norm_scale", "concat", lambda W, D, F: [D]),
    ("ffn_norm.bias", "FFN/layer_prepostprocess/layer_norm/layer_norm_bias", "concat", lambda W, D, F: [D]),
    ("ffn.up.weight", "FFN/conv1/kernel", "tensordot", lambda W, D, F: [D, F]),
    ("ffn.up.bias", "FFN/conv1/bias", "concat", lambda W, D, F: [F]),
    ("ffn.down.weight", "FFN/conv2/kernel", "tensordot", lambda W, D, F: [F, D]),
    ("ffn.down.bias", "FFN/conv2/bias", "concat", lambda W, D, F: [D]),
)
# Layer 0 only: the residual projection from the embedding width to d_model (flag L0_RESIDUAL_PROJ).
L0_PROJ_TENSORS = (
    ("proj.weight", "dense/kernel", "concat", lambda W, D, F: [W, D]),
    ("proj.bias", "dense/bias", "concat", lambda W, D, F: [D]),
)

# USE-lite's quirks (SPEC 1): the only architecture this converter knows, identified by its variable names.
FLAGS = (usew.F_PRE_LN | usew.F_EMB_TWICE | usew.F_TIMING_SIGNAL | usew.F_L0_RESIDUAL_PROJ | usew.F_TANH_HEAD
         | usew.F_L2_NORMALIZE)


class ConvertError(Exception):
    pass


class Wanted:
    """One model tensor: its .usew name, where each source kind keeps it, and its expected shape."""

    def __init__(self, name, tf1_name, tfjs_name, shape_of):
        self.name, self.tf1_name, self.tfjs_name, self.shape_of = name, tf1_name, tfjs_name, shape_of


def model_tensors(n_layers):
    wanted = [Wanted("embed.table", "Embeddings_en", "module/Embeddings_en", lambda d: [d["V"], d["W"][0]])]
    for i in range(n_layers):
        specs = LAYER_TENSORS + (L0_PROJ_TENSORS if i == 0 else ())
        for suffix, path, stored, shape in specs:
            tf1 = f"{ENCODE}/Layer_{i}/TransformerLayer/{path}"
            if stored == "concat":
                tfjs = f"module_apply_default/{tf1}/ConcatPartitions/concat"
            elif stored == "part":
                tfjs = f"module/{tf1}/part_0"
            else:
                tfjs = f"module_apply_default/{STACK}/Layer_{i}/TransformerLayer/{os.path.dirname(path)}/Tensordot/Reshape_1"
            wanted.append(Wanted(f"l{i}.{suffix}", tf1, tfjs,
                                 lambda d, i=i, shape=shape: shape(d["W"][i], d["D"], d["F"])))
    wanted.append(Wanted("head.weight", f"{HEAD}/weights", f"module/{HEAD}/weights", lambda d: [d["D"], d["D"]]))
    wanted.append(Wanted("head.bias", f"{HEAD}/bias", f"module/{HEAD}/bias", lambda d: [d["D"]]))
    return wanted


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConvertError(f"{path}: cannot read ({e.strerror})") from None


def count_layers(names):
    """Number of consecutive Layer_i present among the source's tensor names."""
    n = 0
    while any(f"/Layer_{n}/" in name for name in names):
        n += 1
    return n


# ---- sources -------------------------------------------------------------------------------------------

class TfjsSource:
    """A TF.js graph model: the weight buffer is the manifest entries concatenated, cut into shard files."""
    kind = "tfjs"

    def __init__(self, folder):
        self.folder = folder
        self.files = []  # (name relative to the folder, path) of every file read
        self.label = os.path.join(folder, "model.json")
        try:
            doc = json.loads(self._read("model.json"))
            groups = doc["weightsManifest"]
            self.entries = {}
            self.buffers = [self._group_buffer(g, group) for g, group in enumerate(groups)]
        except (ValueError, KeyError, TypeError) as e:
            raise ConvertError(f"{self.label}: not a TF.js graph model ({type(e).__name__}: {e})") from None

    def _read(self, name):
        path = self._inside(name)
        data = read_file(path)
        self.files.append((name, path))
        return data

    def _inside(self, name):
        """The path of a file the manifest names, which must lie in the model folder: a crafted model.json must not
        make the converter read (and copy into a .usew) files elsewhere, by an absolute path, '..' or a symlink."""
        if not isinstance(name, str) or not name or os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
            raise ConvertError(f"{self.label}: weight file {name!r} is not a plain name inside the model folder")
        path = os.path.join(self.folder, name)
        real, folder = os.path.realpath(path), os.path.realpath(self.folder)
        if os.path.commonpath([real, folder]) != folder:
            raise ConvertError(f"{self.label}: weight file {name!r} resolves to {real}, outside the model folder "
                               f"{folder} (a symbolic link?); copy the file into the folder")
        return path

    def _group_buffer(self, g, group):
        offset = 0
        for spec in group["weights"]:
            count = math.prod(spec["shape"])
            quantized = spec.get("quantization")
            width = TFJS_QUANTIZED_BYTES.get(quantized["dtype"]) if quantized else TFJS_ELEMENT_BYTES.get(spec["dtype"])
            if width is None:
                raise ConvertError(f"{self.label}: weight {spec['name']} has dtype {spec['dtype']} "
                                   f"{quantized or ''}, which this converter cannot place in the buffer")
            self.entries[spec["name"]] = (g, offset, spec)
            offset += count * width
        return self._read_shards(group["paths"], offset)

    def _read_shards(self, paths, total):
        """The group's buffer, checking every shard is present and exactly as long as its cut."""
        def fits(size):
            return (len(paths) - 1) * size < total <= len(paths) * size

        first = self._inside(paths[0])
        shard_bytes = total if len(paths) == 1 else TFJS_SHARD_BYTES
        if not fits(shard_bytes) and os.path.isfile(first):  # converted with another shard size
            shard_bytes = os.path.getsize(first)
        if not fits(shard_bytes):
            raise ConvertError(f"{self.label}: {len(paths)} shards of {shard_bytes} bytes cannot hold the "
                               f"manifest's {total} bytes")
        parts = []
        for k, name in enumerate(paths):
            expected = min(shard_bytes, total - k * shard_bytes)
            path = self._inside(name)
            if not os.path.isfile(path):
                raise ConvertError(f"{path}: missing weight shard (expected {expected} bytes, buffer bytes "
                                   f"{k * shard_bytes}..{k * shard_bytes + expected})")
            data = self._read(name)
            if len(data) != expected:
                raise ConvertError(f"{path}: {len(data)} bytes, expected {expected} "
                                   f"({'truncated' if len(data) < expected else 'too long'} shard)")
            parts.append(data)
        return b"".join(parts)

    def names(self):
        return list(self.entries)

    def tensor(self, wanted):
        """(shape, dtype name, bytes) of a model tensor, or None when the manifest lacks it."""
        return self._entry(wanted.tfjs_name)

    def _entry(self, name):
        if name not in self.entries:
            return None
        g, offset, spec = self.entries[name]
        if spec.get("quantization"):
            raise ConvertError(f"{self.label}: weight {name} is quantized ({spec['quantization'].get('dtype')}); "
                               f"convert from an unquantized model")
        nbytes = math.prod(spec["shape"]) * TFJS_ELEMENT_BYTES[spec["dtype"]]
        return list(spec["shape"]), spec["dtype"], self.buffers[g][offset:offset + nbytes]

    def constant(self, graph_name):
        """Values of a graph constant that the TF.js converter folded into the manifest, or None."""
        for name in self.entries:
            stripped = name
            for prefix in TFJS_NAME_PREFIXES:
                if stripped.startswith(prefix):
                    stripped = stripped[len(prefix):]
            if stripped == graph_name:
                shape, dtype, data = self._entry(name)
                return list(struct.unpack(f"<{len(data) // 4}{'f' if dtype == 'float32' else 'i'}", data))
        return None

    def timing_inv(self, n):
        name = f"module_apply_default/{TIMING}/ExpandDims_1"
        found = self._entry(name)
        if found is None:
            return None
        shape, dtype, data = found
        if shape != [1, n] or dtype != "float32":
            raise ConvertError(f"{self.label}: {name} is {dtype} {shape}, expected float32 [1, {n}]")
        return data

    def vocab_json(self):
        return self._read("vocab.json")

    def spm_model_path(self):
        return None


class HubSource:
    """A TF Hub TF1 module: TF1 variable names in a tensor bundle, the graph in saved_model.pb."""
    kind = "tf1-hub"

    def __init__(self, folder):
        self.folder = folder
        self.label = os.path.join(folder, "saved_model.pb")
        pb = read_file(self.label)
        self.files = [("saved_model.pb", self.label)]
        try:
            self.consts = tfgraph.graph_constants(pb)
        except pw.WireError as e:
            raise ConvertError(f"{self.label}: not a SavedModel ({e})") from None
        prefix = tfbundle.bundle_prefix(os.path.join(folder, "variables"))
        self.bundle = tfbundle.Bundle(prefix)
        self.files.append((os.path.relpath(self.bundle.index_path, folder), self.bundle.index_path))
        self.files += [(os.path.relpath(p, folder), p) for p in self.bundle.data_paths()]
        started = time.time()
        self.verified_bytes = self.bundle.verify_all()  # every tensor's CRC32C, used or not
        self.verify_seconds = time.time() - started

    def names(self):
        return self.bundle.names

    def tensor(self, wanted):
        if not self.bundle.has(wanted.tf1_name):
            return None
        entry, data = self.bundle.read(wanted.tf1_name)
        return list(entry.shape), entry.dtype_name, data

    def constant(self, graph_name):
        proto = self.consts.get(graph_name)
        if proto is None:
            return None
        try:
            return tfgraph.tensor_values(proto)[2]
        except (ValueError, pw.WireError) as e:
            raise ConvertError(f"{self.label}: Const {graph_name}: {e}") from None

    def timing_inv(self, n):
        """Computed as the module's graph computes it: the timing signal is not a variable here (SPEC 1.2)."""
        params = {}
        for key, node in (("log_range", "truediv/x"), ("min_timescale", "mul_1/x"), ("n", "range/limit")):
            values = self.constant(f"{TIMING}/{node}")
            if values is None or len(values) != 1:
                raise ConvertError(f"{self.label}: no scalar Const {TIMING}/{node} for the timing signal")
            params[key] = values[0]
        if params["n"] != n:
            raise ConvertError(f"{self.label}: timing signal has {params['n']} timescales, the embedding "
                               f"width needs {n}")
        values = timing_signal.inverse_timescales(n, params["log_range"], params["min_timescale"])
        return struct.pack(f"<{n}f", *values)

    def vocab_json(self):
        return None

    def spm_model_path(self):
        models = sorted(glob.glob(os.path.join(self.folder, "assets", "*.model")))
        if len(models) != 1:
            raise ConvertError(f"{os.path.join(self.folder, 'assets')}: expected one SentencePiece *.model, found "
                               f"{len(models)}; name it with --spm-model")
        return models[0]


def open_source(src):
    if os.path.isfile(src) and os.path.basename(src) in ("model.json", "saved_model.pb"):
        src = os.path.dirname(src) or "."
    if not os.path.isdir(src):
        raise ConvertError(f"{src}: no such folder (SRC is a TF.js model folder or a TF Hub module folder)")
    if os.path.isfile(os.path.join(src, "model.json")):
        return TfjsSource(src)
    if os.path.isfile(os.path.join(src, "saved_model.pb")):
        if not os.path.isfile(os.path.join(src, "variables", "variables.index")):
            raise ConvertError(f"{os.path.join(src, 'variables', 'variables.index')}: missing (a TF Hub module "
                               f"keeps its weights in variables/)")
        return HubSource(src)
    raise ConvertError(f"{src}: neither a TF.js graph model (model.json) nor a TF Hub module (saved_model.pb + "
                       f"variables/); it holds {sorted(os.listdir(src))[:10]}")


# ---- conversion ----------------------------------------------------------------------------------------

def read_model_tensors(source):
    """{usew name: (shape, bytes)} of every model tensor, 1x1 conv kernels flattened to [in, out]."""
    n_layers = count_layers(source.names())
    if n_layers == 0:
        raise ConvertError(f"{source.label}: unknown architecture: no {ENCODE}/Layer_0 tensors (not USE-lite); "
                           f"it holds {len(source.names())} tensors, e.g. {sorted(source.names())[:5]}")
    if n_layers > usew.MAX_LAYERS:
        raise ConvertError(f"{source.label}: {n_layers} layers, the format holds at most {usew.MAX_LAYERS}")
    wanted = model_tensors(n_layers)
    found, missing = {}, []
    for w in wanted:
        got = source.tensor(w)
        if got is None:
            missing.append(w.tf1_name if source.kind == "tf1-hub" else w.tfjs_name)
            continue
        shape, dtype, data = got
        if dtype != "float32":
            raise ConvertError(f"{source.label}: {w.name} is {dtype}, expected float32")
        if len(shape) == 4 and shape[:2] == [1, 1]:  # 1x1 convolution kernel [1,1,in,out]
            shape = shape[2:]
        found[w.name] = (shape, data)
    if "embed.table" in found:
        n = found["embed.table"][0][1] // 2
        timing = source.timing_inv(n)
        if timing is None:
            missing.append(f"module_apply_default/{TIMING}/ExpandDims_1")
        else:
            found["embed.timing_inv"] = ([n], timing)
    if missing:
        raise ConvertError(f"{source.label}: missing {len(missing)} tensors of USE-lite ({n_layers} layers): "
                           + ", ".join(missing))
    return n_layers, wanted, found


def model_dims(n_layers, wanted, found, label):
    """V, layer widths, D and F from the shapes, then every tensor's shape checked against them."""
    vocab_rows, width0 = found["embed.table"][0]
    d_model = found["l0.attn.out.weight"][0][-1]
    widths = [width0] + [d_model] * (n_layers - 1)  # later layers take the previous layer's output
    dims = {"V": vocab_rows, "W": widths, "D": d_model, "F": found["l0.ffn.up.weight"][0][-1]}
    wrong = [f"{w.name} {found[w.name][0]} (expected {w.shape_of(dims)})"
             for w in wanted if found[w.name][0] != w.shape_of(dims)]
    if width0 % 2 or found["embed.timing_inv"][0] != [width0 // 2]:
        wrong.append(f"embed.timing_inv {found['embed.timing_inv'][0]} (expected [{width0 // 2}])")
    if wrong:
        raise ConvertError(f"{label}: tensor shapes disagree with one USE-lite architecture: " + "; ".join(wrong))
    return dims


def architecture_constants(source, dims, n_layers):
    """n_heads, ln_eps, l2_floor and max_len, read from the graph's constants (SPEC 1)."""
    missing = []

    def scalar(name):
        values = source.constant(name)
        if values is None:
            missing.append(name)
            return None
        if len(values) != 1:
            raise ConvertError(f"{source.label}: constant {name} has {len(values)} values, expected 1")
        return values[0]

    # The graph's LayerNorms share one epsilon; TF.js keeps a single folded copy, the last layer's FFN one.
    q_scales = [scalar(f"{STACK}/Layer_{i}/TransformerLayer/MultiheadAttention/mul/y") for i in range(n_layers)]
    ln_eps = scalar(f"{STACK}/Layer_{n_layers - 1}/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x")
    l2_floor = scalar("Encoder_en/hidden_layers/l2_normalize/Maximum/y")
    max_len = scalar("Encoder_en/KonaTransformer/ClipToMaxLength/Less/y")
    if missing:
        raise ConvertError(f"{source.label}: missing {len(missing)} graph constants of USE-lite: " + ", ".join(missing))
    heads = set()
    for i, scale in enumerate(q_scales):  # q is scaled by 1/sqrt(head depth)
        depth = round(1.0 / scale ** 2) if scale > 0 else 0
        if not depth or dims["W"][i] % depth or abs(scale * math.sqrt(depth) - 1.0) > 1e-6:
            raise ConvertError(f"{source.label}: layer {i} q scale {scale} is not 1/sqrt(depth) for a head depth "
                               f"dividing {dims['W'][i]}")
        heads.add(dims["W"][i] // depth)
    if len(heads) != 1:
        raise ConvertError(f"{source.label}: q scales give different head counts per layer: {sorted(heads)}")
    return {"n_heads": heads.pop(), "ln_eps": ln_eps, "l2_floor": l2_floor, "max_len": max_len}


def tokenizer_tensors(source, spm_path, vocab_rows):
    """(tensors, header fields) of the tokenizer payload: tok.tfjs.vocab and/or tok.spm.*."""
    tensors = []
    fields = {"n_pieces": 0, "default_tokenizer": usew.TOK_NONE, "normalizer_flags": 0, "unk_id": 0}
    vocab = source.vocab_json()
    if vocab is not None:
        vocab_path = os.path.join(source.folder, "vocab.json")
        try:
            entries = json.loads(vocab)
            if not isinstance(entries, list) or not entries:
                raise ValueError("not a non-empty JSON array of [piece, score]")
        except ValueError as e:
            raise ConvertError(f"{vocab_path}: not a TF.js USE vocabulary ({e})") from None
        tensors.append(usew.Tensor("tok.tfjs.vocab", usew.U8, [len(vocab)], vocab))
        fields.update(n_pieces=len(entries), default_tokenizer=usew.TOK_TFJS)
    spm_path = spm_path or source.spm_model_path()
    if spm_path:
        model = spm_model.SpmModel(read_file(spm_path), spm_path)
        inside = os.path.abspath(spm_path).startswith(os.path.abspath(source.folder) + os.sep)
        source.files.append((os.path.relpath(spm_path, source.folder) if inside else os.path.basename(spm_path),
                             spm_path))
        if vocab is not None and len(model.pieces) != fields["n_pieces"]:
            raise ConvertError(f"{spm_path}: {len(model.pieces)} pieces, but vocab.json has {fields['n_pieces']}")
        pieces = b"".join(p + b"\0" for p, _, _ in model.pieces)
        n = len(model.pieces)
        tensors += [
            usew.Tensor("tok.spm.pieces", usew.U8, [len(pieces)], pieces),
            usew.Tensor("tok.spm.scores", usew.F32, [n], struct.pack(f"<{n}f", *(s for _, s, _ in model.pieces))),
            usew.Tensor("tok.spm.types", usew.U8, [n], bytes(t for _, _, t in model.pieces)),
            usew.Tensor("tok.spm.charsmap", usew.U8, [len(model.charsmap)], model.charsmap),
        ]
        fields.update(n_pieces=n, default_tokenizer=usew.TOK_SPM, normalizer_flags=model.normalizer_flags,
                      unk_id=model.unk_id)
    if fields["n_pieces"] > vocab_rows:
        raise ConvertError(f"{spm_path or source.label}: {fields['n_pieces']} tokenizer pieces but only "
                           f"{vocab_rows} embedding rows")
    return tensors, fields


# tools/make_test_model.py marks its folders with this file; its contents become provenance["test_weights"].
TEST_WEIGHTS_FILE = "TEST_WEIGHTS.json"


def test_weights_marker(source):
    """The test-weights marker of the source folder (a dict), or None for real weights."""
    path = os.path.join(source.folder, TEST_WEIGHTS_FILE)
    if not os.path.isfile(path):
        return None
    try:
        marker = json.loads(read_file(path))
    except ValueError as e:
        raise ConvertError(f"{path}: not JSON ({e})") from None
    if not isinstance(marker, dict):
        raise ConvertError(f"{path}: not a JSON object")
    source.files.append((TEST_WEIGHTS_FILE, path))
    return marker


def provenance(source):
    marker = test_weights_marker(source)
    sources = []
    for name, path in source.files:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        sources.append({"file": name, "bytes": os.path.getsize(path), "sha256": digest.hexdigest()})
    created = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    doc = {"format_version": usew.VERSION, "converter": CONVERTER, "source_kind": source.kind,
           "sources": sources, "created": created.isoformat().replace("+00:00", "Z")}
    if marker is not None:
        doc["test_weights"] = marker
    blob = json.dumps(doc, indent=1).encode()
    return usew.Tensor("meta.provenance", usew.U8, [len(blob)], blob)


def convert(src, out, spm_path=None):
    """Converts SRC into OUT; returns a one-line summary."""
    started = time.time()
    source = open_source(src)
    n_layers, wanted, found = read_model_tensors(source)
    dims = model_dims(n_layers, wanted, found, source.label)
    arch = architecture_constants(source, dims, n_layers)
    order = [w.name for w in wanted]
    order.insert(1, "embed.timing_inv")
    tensors = [usew.Tensor(name, usew.F32, *found[name]) for name in order]
    tok_tensors, tok_fields = tokenizer_tensors(source, spm_path, dims["V"])
    tensors += tok_tensors
    tensors.append(provenance(source))
    hparams = dict(n_layers=n_layers, d_model=dims["D"], d_ffn=dims["F"], vocab_rows=dims["V"],
                   pooling=usew.POOL_MEAN, flags=FLAGS, layer_width=dims["W"], **arch, **tok_fields)
    blob = usew.pack(hparams, tensors)
    try:
        usew.write_atomic(out, blob)
    except OSError as e:
        raise ConvertError(f"{out}: cannot write ({e.strerror})") from None
    tokenizer = {usew.TOK_SPM: "spm", usew.TOK_TFJS: "tfjs"}.get(tok_fields["default_tokenizer"], "none")
    checked = ""
    if source.kind == "tf1-hub":
        checked = f"; CRC32C of {source.verified_bytes:,} checkpoint bytes verified in {source.verify_seconds:.1f} s"
    return (f"{source.kind} {src} -> {out}: {len(tensors)} tensors ({len(order)} model, {len(tok_tensors)} "
            f"tokenizer, provenance), {len(blob):,} bytes; {n_layers} layers, widths {dims['W']}, d_model "
            f"{dims['D']}, {arch['n_heads']} heads, vocab_rows {dims['V']}, tokenizer {tokenizer}{checked}; "
            f"{time.time() - started:.1f} s")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="convert.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="TF.js model folder or TF Hub module folder")
    ap.add_argument("-o", "--out", required=True, help="the .usew file to write")
    ap.add_argument("--spm-model", help="SentencePiece .model to store as the tokenizer")
    args = ap.parse_args(argv)
    try:
        print("convert: " + convert(args.src, args.out, args.spm_model))
    except (ConvertError, tfbundle.BundleError, spm_model.SpmError, usew.UsewError) as e:
        print(f"convert: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
