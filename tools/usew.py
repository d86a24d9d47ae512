"""Writes and reads .usew weight files exactly as engine/usew.h lays them out (docs/format.md).

    [header: 256 bytes][tensor table: n x 128-byte records][data: every tensor 64-byte aligned]

Every part carries a CRC-32 (zlib.crc32). Standard library only; used by tools/convert.py and the tests.
"""
import os
import struct
import tempfile
import zlib

MAGIC = b"USEW\x89\r\n\x1a"
VERSION = 1
HEADER_BYTES = 256
RECORD_BYTES = 128
NAME_BYTES = 80
ALIGN = 64
MAX_LAYERS = 8
MAX_DIMS = 4

F32, F16, BF16, I32, U8 = 0, 1, 2, 3, 4
DTYPE_SIZE = {F32: 4, F16: 2, BF16: 2, I32: 4, U8: 1}

TOK_NONE, TOK_SPM, TOK_TFJS = 0, 1, 2
POOL_MEAN = 0
# enum usew_flags: the architecture quirks an engine must implement (docs/format.md)
F_PRE_LN, F_EMB_TWICE, F_TIMING_SIGNAL, F_L0_RESIDUAL_PROJ, F_TANH_HEAD, F_L2_NORMALIZE = (1 << b for b in range(6))
FLAGS_KNOWN = 0x3F
N_ADD_DUMMY_PREFIX, N_REMOVE_EXTRA_WHITESPACES, N_ESCAPE_WHITESPACES = 1, 2, 4

# Header fields after the fixed preamble: (name, byte offset, struct code), per enum usew_header_offsets.
HPARAM_FIELDS = (
    ("n_layers", 40, "I"), ("d_model", 44, "I"), ("n_heads", 48, "I"), ("d_ffn", 52, "I"),
    ("vocab_rows", 56, "I"), ("n_pieces", 60, "I"), ("max_len", 64, "I"), ("pooling", 68, "I"),
    ("flags", 72, "I"), ("default_tokenizer", 76, "I"), ("normalizer_flags", 80, "I"),
    ("ln_eps", 84, "f"), ("l2_floor", 88, "f"), ("unk_id", 92, "I"),
)
LAYER_WIDTH_OFFSET = 96
HEADER_CRC_OFFSET = 252


class UsewError(ValueError):
    pass


class Tensor:
    """One named tensor: dtype (F32 ... U8), shape (list of ints) and its little-endian bytes."""

    def __init__(self, name, dtype, shape, data):
        self.name, self.dtype, self.shape, self.data = name, dtype, list(shape), bytes(data)
        count = 1
        for d in self.shape:
            count *= d
        if len(self.data) != count * DTYPE_SIZE[dtype]:
            raise UsewError(f"tensor {name} {self.shape}: {len(self.data)} bytes, expected {count * DTYPE_SIZE[dtype]}")
        if len(name.encode()) >= NAME_BYTES or "\0" in name:
            raise UsewError(f"tensor name {name!r} must be 1..{NAME_BYTES - 1} bytes without NUL")
        if len(self.shape) > MAX_DIMS:
            raise UsewError(f"tensor {name} has {len(self.shape)} dimensions, at most {MAX_DIMS}")


def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def pack(hparams, tensors):
    """The bytes of a whole .usew file. hparams holds every HPARAM_FIELDS name plus layer_width (list)."""
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise UsewError(f"duplicate tensor names: {sorted({n for n in names if names.count(n) > 1})}")
    if len(hparams["layer_width"]) > MAX_LAYERS:
        raise UsewError(f"{len(hparams['layer_width'])} layers, at most {MAX_LAYERS}")
    table_end = HEADER_BYTES + RECORD_BYTES * len(tensors)
    offset = _align(table_end)
    records, chunks = [], []
    for t in tensors:
        record = bytearray(RECORD_BYTES)
        record[0:len(t.name.encode())] = t.name.encode()
        shape = t.shape + [0] * (MAX_DIMS - len(t.shape))
        struct.pack_into("<II4IQQI", record, NAME_BYTES, t.dtype, len(t.shape), *shape, offset, len(t.data),
                         zlib.crc32(t.data))
        records.append(bytes(record))
        chunks.append((offset, t.data))
        offset = _align(offset + len(t.data))
    file_bytes = chunks[-1][0] + len(chunks[-1][1]) if chunks else table_end
    table = b"".join(records)

    header = bytearray(HEADER_BYTES)
    header[0:8] = MAGIC
    struct.pack_into("<IIQQII", header, 8, VERSION, HEADER_BYTES, file_bytes, HEADER_BYTES, len(tensors),
                     zlib.crc32(table))
    for name, at, code in HPARAM_FIELDS:
        struct.pack_into("<" + code, header, at, hparams[name])
    widths = list(hparams["layer_width"]) + [0] * (MAX_LAYERS - len(hparams["layer_width"]))
    struct.pack_into(f"<{MAX_LAYERS}I", header, LAYER_WIDTH_OFFSET, *widths)
    struct.pack_into("<I", header, HEADER_CRC_OFFSET, zlib.crc32(header[:HEADER_CRC_OFFSET]))

    out = bytearray(file_bytes)
    out[0:HEADER_BYTES] = header
    out[HEADER_BYTES:table_end] = table
    for at, data in chunks:
        out[at:at + len(data)] = data
    return bytes(out)


def write_atomic(path, blob):
    """Writes blob to path through a temporary file in the same folder, fsynced, then renamed over path:
    a reader never sees a half-written model, and a failed write leaves the old file in place."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def parse(blob, label="usew"):
    """(hparams dict, {name: Tensor}) of a .usew image; checks magic, version, sizes, alignment and every CRC."""
    if len(blob) < HEADER_BYTES:
        raise UsewError(f"{label}: {len(blob)} bytes, shorter than the {HEADER_BYTES}-byte header")
    if blob[:8] != MAGIC:
        raise UsewError(f"{label}: not a .usew file (bad magic)")
    version, header_bytes, file_bytes, table_offset, n_tensors, table_crc = struct.unpack_from("<IIQQII", blob, 8)
    if version != VERSION or header_bytes != HEADER_BYTES or table_offset != HEADER_BYTES:
        raise UsewError(f"{label}: version {version}, header {header_bytes} bytes, table at {table_offset}")
    if file_bytes != len(blob):
        raise UsewError(f"{label}: header says {file_bytes} bytes, file has {len(blob)}")
    if zlib.crc32(blob[:HEADER_CRC_OFFSET]) != struct.unpack_from("<I", blob, HEADER_CRC_OFFSET)[0]:
        raise UsewError(f"{label}: header CRC mismatch")
    table_end = HEADER_BYTES + RECORD_BYTES * n_tensors
    if table_end > len(blob) or zlib.crc32(blob[HEADER_BYTES:table_end]) != table_crc:
        raise UsewError(f"{label}: tensor table CRC mismatch or table past the end")
    hparams = {name: struct.unpack_from("<" + code, blob, at)[0] for name, at, code in HPARAM_FIELDS}
    hparams["layer_width"] = list(struct.unpack_from(f"<{MAX_LAYERS}I", blob, LAYER_WIDTH_OFFSET))
    tensors = {}
    for i in range(n_tensors):
        at = HEADER_BYTES + RECORD_BYTES * i
        name = blob[at:at + NAME_BYTES].split(b"\0", 1)[0].decode()
        dtype, ndim, *rest = struct.unpack_from("<II4IQQI", blob, at + NAME_BYTES)
        shape, (offset, nbytes, crc) = rest[:ndim], rest[4:]
        if offset % ALIGN or offset + nbytes > len(blob):
            raise UsewError(f"{label}: tensor {name} at {offset} (+{nbytes}) misaligned or past the end")
        data = blob[offset:offset + nbytes]
        if zlib.crc32(data) != crc:
            raise UsewError(f"{label}: tensor {name} CRC mismatch")
        tensors[name] = Tensor(name, dtype, shape, data)
    return hparams, tensors
