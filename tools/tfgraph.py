"""Reads the Const nodes of a TensorFlow SavedModel's graph (saved_model.pb), standard library only.

The converter takes USE-lite's architecture constants (LayerNorm epsilon, q scales, L2 floor, maximum length,
timing-signal parameters) from here for TF Hub modules, as the TF.js converter did when it folded them into
the weight manifest.
"""
import math
import struct

import protowire as pw

TF_FLOAT, TF_INT32, TF_INT64 = 1, 3, 9
VALUE_FIELD = {TF_FLOAT: 5, TF_INT32: 7, TF_INT64: 10}  # TensorProto's repeated value field per dtype


def graph_constants(saved_model_pb):
    """{node name: TensorProto bytes} for every Const node of the SavedModel's first MetaGraphDef."""
    saved_model = pw.fields(saved_model_pb)
    meta_graph = pw.fields(pw.first(saved_model, 2, b""))  # SavedModel.meta_graphs
    graph = pw.fields(pw.first(meta_graph, 2, b""))  # MetaGraphDef.graph_def
    consts = {}
    for node_bytes in graph.get(1, []):
        node = pw.fields(node_bytes)
        if pw.first(node, 2, b"") != b"Const":
            continue
        for entry_bytes in node.get(5, []):  # map<string, AttrValue> entries
            entry = pw.fields(entry_bytes)
            if pw.first(entry, 1) == b"value":
                attr = pw.fields(pw.first(entry, 2, b""))
                consts[pw.first(node, 1).decode()] = pw.first(attr, 8, b"")
    return consts


def tensor_values(tensor_proto):
    """Decodes a TensorProto (float, int32 or int64) into (dtype, shape, flat list of values)."""
    msg = pw.fields(tensor_proto)
    dtype = pw.first(msg, 1, 0)
    shape = [pw.first(pw.fields(d), 1, 0) for d in pw.fields(pw.first(msg, 2, b"")).get(2, [])]
    count = math.prod(shape)
    code = {TF_FLOAT: "f", TF_INT32: "i", TF_INT64: "q"}.get(dtype)
    if code is None:
        raise ValueError(f"unsupported TensorProto dtype {dtype}")
    if 4 in msg:  # tensor_content: raw little-endian bytes
        values = list(struct.unpack(f"<{count}{code}", pw.first(msg, 4)))
    elif dtype == TF_FLOAT:
        values = []
        for v in msg.get(VALUE_FIELD[TF_FLOAT], []):  # packed bytes or single fixed32 values
            raw = v if isinstance(v, bytes) else struct.pack("<I", v)
            values += struct.unpack(f"<{len(raw) // 4}f", raw)
    else:
        values = []
        for v in msg.get(VALUE_FIELD[dtype], []):  # packed bytes or single varints
            values += pw.packed_varints(v) if isinstance(v, bytes) else [v]
        values = [pw.signed32(v) for v in values]
    if 0 < len(values) < count:  # TF stores a run of equal trailing values once
        values += [values[-1]] * (count - len(values))
    if len(values) != count:
        raise ValueError(f"TensorProto holds {len(values)} values for shape {shape}")
    return dtype, shape, values
