"""userec for Python: USE-lite sentence vectors and exact cosine top-k, through the C library (libuserec.so).

    import userec
    m = userec.Model("weights/use-lite.usew")
    vectors = m.encode(["a warm winter jacket", "red running shoes"])   # float32 [2, 512], unit rows
    index, scores = userec.related(vectors, k=10)                       # int32 / float32 [2, 10]

Needs only the standard library and numpy. The shared library is found, in this order, at $USEREC_LIB, in the
build folder of the source tree this file sits in (build/libuserec.so), beside an installed copy of this file
(PREFIX/lib when this file is PREFIX/lib/python3/dist-packages/userec.py), then wherever the dynamic loader
finds libuserec.so.0. Every failure raises userec.Error, whose message names the file or input and the problem.
"""
import ctypes
import ctypes.util
import os
import threading

import numpy as np

__all__ = ["Error", "Model", "related", "version", "library_path"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_DEVICES = {"cpu": 0, "cuda": 1, "auto": 2}
_PRECISIONS = {"fp32": 0, "tf32": 1, "bf16": 2}
_TOKENIZERS = {"default": 0, "spm": 1, "tfjs": 2}
_GROUP_RULES = {"any": 0, "same": 1, "other": 2}
_TOPK_EMPTY = -1


class Error(Exception):
    """A failed userec call; .status is the library's userec_status (userec.h), .status_name its name."""

    def __init__(self, status, status_name, message):
        super().__init__(message)
        self.status = status
        self.status_name = status_name


class _Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * 512)]


class _ModelInfo(ctypes.Structure):
    _fields_ = [("dim", ctypes.c_uint32), ("max_len", ctypes.c_uint32), ("vocab_rows", ctypes.c_uint32),
                ("n_layers", ctypes.c_uint32), ("flops_per_token", ctypes.c_double),
                ("flops_per_sentence", ctypes.c_double)]


class _TextCounts(ctypes.Structure):
    _fields_ = [("texts", ctypes.c_size_t), ("tokens", ctypes.c_size_t), ("clipped", ctypes.c_size_t),
                ("invalid_utf8", ctypes.c_size_t)]


class _TopkOptions(ctypes.Structure):
    _fields_ = [("k", ctypes.c_size_t), ("exclude_self", ctypes.c_int), ("device", ctypes.c_int),
                ("precision", ctypes.c_int), ("progress", ctypes.c_void_p), ("progress_arg", ctypes.c_void_p),
                ("use_min_score", ctypes.c_int), ("min_score", ctypes.c_float), ("use_max_score", ctypes.c_int),
                ("max_score", ctypes.c_float), ("group_rule", ctypes.c_int), ("item_group", ctypes.c_void_p),
                ("query_group", ctypes.c_void_p), ("query_offset", ctypes.c_size_t), ("devices", ctypes.c_void_p)]


def _candidates():
    if os.environ.get("USEREC_LIB"):
        yield os.environ["USEREC_LIB"]
        return
    yield os.path.join(os.path.dirname(_HERE), "build", "libuserec.so")
    yield os.path.join(os.path.dirname(os.path.dirname(_HERE)), "libuserec.so.0")
    found = ctypes.util.find_library("userec")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({e})")
    raise ImportError("userec: libuserec.so not found; build it (`make`), install it (`make install`) or set "
                      "USEREC_LIB. Tried: " + "; ".join(tried))


_lib, library_path = _load()
_P, _S, _I = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
_ERR = ctypes.POINTER(_Error)
_sigs = {
    "userec_version": (ctypes.c_char_p, []),
    "userec_status_name": (ctypes.c_char_p, [_I]),
    "userec_load": (_P, [ctypes.c_char_p, _ERR]),
    "userec_free": (None, [_P]),
    "userec_info": (_ModelInfo, [_P]),
    "userec_encoder_open": (_P, [_P, _I, _I, _P, _ERR]),
    "userec_encoder_close": (None, [_P]),
    "userec_encoder_name": (ctypes.c_char_p, [_P]),
    "userec_encoder_encode_texts": (_I, [_P, _I, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_S), _S, _P,
                                         ctypes.POINTER(_TextCounts), _ERR]),
    "userec_topk_search": (_I, [_P, _S, _P, _S, _S, ctypes.POINTER(_TopkOptions), _P, _P, _ERR]),
}
for _name, (_res, _args) in _sigs.items():
    _fn = getattr(_lib, _name)
    _fn.restype, _fn.argtypes = _res, _args


def version():
    """The version of the loaded library, e.g. '0.4.0'."""
    return _lib.userec_version().decode()


def _raise(err):
    raise Error(err.status, _lib.userec_status_name(err.status).decode(), err.message.decode("utf-8", "replace"))


def _choice(table, value, what):
    if value not in table:
        raise ValueError(f"{what} is one of {', '.join(table)}, not {value!r}")
    return table[value]


class Model:
    """A loaded .usew model. Read-only and shareable across threads; each (device, precision) gets one encoder,
    used by one call at a time."""

    def __init__(self, path):
        err = _Error()
        self._handle = _lib.userec_load(os.fsencode(path), ctypes.byref(err))
        if not self._handle:
            _raise(err)
        info = _lib.userec_info(self._handle)
        self.path = path
        self.dim, self.max_len, self.vocab_rows, self.n_layers = info.dim, info.max_len, info.vocab_rows, info.n_layers
        self._encoders = {}
        self._lock = threading.Lock()

    def close(self):
        """Frees the encoders and the model (also done when the object is collected)."""
        handle, self._handle = getattr(self, "_handle", None), None
        for enc in getattr(self, "_encoders", {}).values():
            _lib.userec_encoder_close(enc)
        self._encoders = {}
        if handle:
            _lib.userec_free(handle)

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _encoder(self, device, precision):
        key = (_choice(_DEVICES, device, "device"), _choice(_PRECISIONS, precision, "precision"))
        if key not in self._encoders:
            err = _Error()
            enc = _lib.userec_encoder_open(self._handle, key[0], key[1], None, ctypes.byref(err))
            if not enc:
                _raise(err)
            self._encoders[key] = enc
        return self._encoders[key]

    def encoder_name(self, device="cpu", precision="fp32"):
        """Where encode(device=..., precision=...) runs, e.g. 'cpu fp32' or 'cuda:0 NVIDIA H100 80GB HBM3 bf16'."""
        with self._lock:
            return _lib.userec_encoder_name(self._encoder(device, precision)).decode()

    def encode(self, texts, device="cpu", precision="fp32", tokenizer="default"):
        """float32 [len(texts), dim]: one unit vector per text (str, encoded as UTF-8, or bytes). device is
        cpu, cuda or auto (the GPU when one is usable); precision fp32, tf32 (the GPU's) or bf16 (the GPU's, and
        the CPU's where it has avx512_bf16); tokenizer default, spm or tfjs. A text without tokens gets the empty sentence's vector."""
        if not self._handle:
            raise Error(4, "bad input", "the model is closed")
        data = [t.encode("utf-8") if isinstance(t, str) else bytes(t) for t in texts]
        n = len(data)
        out = np.empty((n, self.dim), dtype=np.float32)
        if not n:
            return out
        ptrs = (ctypes.c_char_p * n)(*data)
        lens = (ctypes.c_size_t * n)(*map(len, data))
        counts, err = _TextCounts(), _Error()
        kind = _choice(_TOKENIZERS, tokenizer, "tokenizer")
        with self._lock:
            st = _lib.userec_encoder_encode_texts(self._encoder(device, precision), kind, ptrs, lens, n,
                                                  out.ctypes.data, ctypes.byref(counts), ctypes.byref(err))
        if st:
            _raise(err)
        return out


def related(vectors, k=10, queries=None, exclude_self=None, device="cpu", precision="fp32", min_score=None,
            max_score=None, groups=None, query_groups=None, group_rule="any"):
    """Exact cosine top-k: for each query row, the k item rows (of vectors) with the highest dot product.

    Without queries it is all-pairs (each row of vectors is a query, and never its own neighbour unless
    exclude_self=False). Returns (index int32 [n_queries, k], scores float32 [n_queries, k]), best first, equal
    scores by lower index; ranks without a candidate hold index -1 and score -inf. device cpu, cuda or auto;
    precision fp32 (exact) or bf16 (GPU).

    Filters (CPU only; the result is the k best candidates that pass them all, in the same order): min_score
    leaves out scores below it, max_score scores above it (near-duplicates of the query); group_rule "same" keeps
    only items whose groups[item] equals the query's group, "other" only items of another group. groups holds one
    integer per item; query_groups one per query (all-pairs: the items' own)."""
    items = np.ascontiguousarray(vectors, dtype=np.float32)
    if items.ndim != 2:
        raise ValueError(f"vectors must be 2-D, not of shape {items.shape}")
    q = items if queries is None else np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != items.shape[1]:
        raise ValueError(f"queries of shape {q.shape} do not match vectors of shape {items.shape}")
    if exclude_self is None:
        exclude_self = queries is None
    if k < 1:
        raise ValueError("k must be at least 1")
    rule = _choice(_GROUP_RULES, group_rule, "group_rule")
    item_groups = query_group_array = None
    if rule:
        if groups is None:
            raise ValueError(f"group_rule={group_rule!r} needs groups")
        item_groups = np.ascontiguousarray(groups, dtype=np.int32)
        query_group_array = item_groups if queries is None and query_groups is None else \
            np.ascontiguousarray(query_groups, dtype=np.int32)
        if item_groups.shape != (items.shape[0],) or query_group_array.shape != (q.shape[0],):
            raise ValueError("groups needs one integer per item and query_groups one per query")
    index = np.empty((q.shape[0], k), dtype=np.int32)
    scores = np.empty((q.shape[0], k), dtype=np.float32)
    opt = _TopkOptions(k, int(bool(exclude_self)), _choice(_DEVICES, device, "device"),
                       _choice(_PRECISIONS, precision, "precision"), None, None,
                       min_score is not None, 0.0 if min_score is None else min_score,
                       max_score is not None, 0.0 if max_score is None else max_score, rule,
                       None if item_groups is None else item_groups.ctypes.data,
                       None if query_group_array is None else query_group_array.ctypes.data)
    err = _Error()
    if _lib.userec_topk_search(q.ctypes.data, q.shape[0], items.ctypes.data, items.shape[0], items.shape[1],
                               ctypes.byref(opt), index.ctypes.data, scores.ctypes.data, ctypes.byref(err)):
        _raise(err)
    return index, scores
