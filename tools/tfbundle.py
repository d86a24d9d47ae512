"""Reads TensorFlow checkpoints (the tensor-bundle format of SavedModel `variables/`) without TensorFlow.

SPEC section 5. `<prefix>.index` is a LevelDB-format table (blocks optionally snappy-compressed, each with a
masked CRC32C) mapping tensor names to BundleEntryProto; `<prefix>.data-NNNNN-of-MMMMM` hold the bytes.
Every tensor read is checked against its masked CRC32C; partitioned variables are reassembled from their
slices; TF2 object-graph keys are mapped back to variable names; mod-sharded embedding tables are rejoined.
Errors are BundleError with one line naming the file and the problem.
"""
import os
import struct

import protowire as pw
import snappy
from crc32c import crc32c, mask, masked_crc32c

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_BYTES = 48
BLOCK_TRAILER_BYTES = 5  # compression type byte + masked CRC32C
NO_COMPRESSION, SNAPPY = 0, 1
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
TF2_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"

# TensorFlow DataType numbers -> (name, bytes per element); 0 bytes marks variable-length strings.
DTYPES = {1: ("float32", 4), 2: ("float64", 8), 3: ("int32", 4), 4: ("uint8", 1), 5: ("int16", 2),
          6: ("int8", 1), 7: ("string", 0), 9: ("int64", 8), 10: ("bool", 1), 14: ("bfloat16", 2),
          19: ("float16", 2)}
STRING = 7


class BundleError(ValueError):
    pass


# ---- LevelDB table -------------------------------------------------------------------------------------

def _handle(buf, pos, where):
    try:
        offset, pos = pw.read_varint(buf, pos)
        size, pos = pw.read_varint(buf, pos)
    except pw.WireError as e:
        raise BundleError(f"{where}: bad block handle ({e})") from None
    return offset, size, pos


class Table:
    """A whole LevelDB-format table in memory: .entries [(key, value)] in order, .blocks [(offset, size, type)]."""

    def __init__(self, path):
        self.path = path
        self.blob = _read_file(path)
        if len(self.blob) < FOOTER_BYTES:
            raise BundleError(f"{path}: {len(self.blob)} bytes, too short for a table footer ({FOOTER_BYTES})")
        footer = self.blob[-FOOTER_BYTES:]
        magic = struct.unpack_from("<II", footer, 40)
        if magic[0] | magic[1] << 32 != TABLE_MAGIC:
            raise BundleError(f"{path}: not a LevelDB-format table (bad footer magic)")
        _, _, pos = _handle(footer, 0, f"{path} footer")  # metaindex: TensorFlow writes no filters
        index_offset, index_size, _ = _handle(footer, pos, f"{path} footer")
        self.blocks = []
        self.entries = []
        for _, handle in self._block_entries(index_offset, index_size, "index block"):
            offset, size, _ = _handle(handle, 0, f"{path} index block")
            self.entries += self._block_entries(offset, size, f"data block at {offset}")

    def _block_entries(self, offset, size, what):
        end = offset + size + BLOCK_TRAILER_BYTES
        if end > len(self.blob) - FOOTER_BYTES:
            raise BundleError(f"{self.path}: {what} ({size} bytes) runs past the end of the file")
        raw = self.blob[offset:offset + size]
        kind = self.blob[offset + size]
        stored = struct.unpack_from("<I", self.blob, offset + size + 1)[0]
        if masked_crc32c(self.blob[offset:offset + size + 1]) != stored:
            raise BundleError(f"{self.path}: {what} fails its CRC32C check (file damaged)")
        self.blocks.append((offset, size, kind))
        if kind == SNAPPY:
            try:
                raw = snappy.decompress(raw)
            except snappy.SnappyError as e:
                raise BundleError(f"{self.path}: {what}: bad snappy data ({e})") from None
        elif kind != NO_COMPRESSION:
            raise BundleError(f"{self.path}: {what}: unknown compression type {kind}")
        return _parse_block(raw, f"{self.path}: {what}")


def _parse_block(raw, where):
    """Entries of one uncompressed block: prefix-compressed keys, then the restart array (not needed here)."""
    if len(raw) < 4:
        raise BundleError(f"{where}: block of {len(raw)} bytes is too short")
    n_restarts = struct.unpack_from("<I", raw, len(raw) - 4)[0]
    limit = len(raw) - 4 - 4 * n_restarts
    if limit < 0:
        raise BundleError(f"{where}: restart count {n_restarts} does not fit the block")
    entries, key, pos = [], b"", 0
    try:
        while pos < limit:
            shared, pos = pw.read_varint(raw, pos)
            unshared, pos = pw.read_varint(raw, pos)
            value_len, pos = pw.read_varint(raw, pos)
            if shared > len(key) or pos + unshared + value_len > limit:
                raise BundleError(f"{where}: corrupt entry at byte {pos}")
            key = key[:shared] + raw[pos:pos + unshared]
            pos += unshared
            entries.append((key, raw[pos:pos + value_len]))
            pos += value_len
    except pw.WireError as e:
        raise BundleError(f"{where}: corrupt entry ({e})") from None
    return entries


# ---- slice keys (TensorFlow's OrderedCode) -------------------------------------------------------------

def _num_increasing(value):
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes([len(body)]) + body


def _signed_num_increasing(value):
    magnitude = ~value if value < 0 else value
    length = magnitude.bit_length() // 7 + 1  # n bytes carry 7n-1 value bits plus a sign
    if length == 1:
        return bytes([(0x80 ^ value) & 0xFF])
    body = bytearray((value & ((1 << 80) - 1)).to_bytes(10, "big")[-length:])
    header = (0xFF00 >> length) & 0xFF if length <= 8 else 0xFF  # `length` leading one bits
    body[0] ^= header
    if length > 8:
        body[1] ^= (0xFF00 >> (length - 8)) & 0xFF
    return bytes(body)


def _ordered_string(data):
    return data.replace(b"\xff", b"\xff\x00").replace(b"\x00", b"\x00\xff") + b"\x00\x01"


def slice_key(name, extents):
    """TensorFlow's EncodeTensorNameSlice: the index key of one slice; extents = [(start, length or -1)]."""
    key = _num_increasing(0) + _ordered_string(name.encode()) + _num_increasing(len(extents))
    for start, length in extents:
        key += _signed_num_increasing(start) + _signed_num_increasing(length)
    return key


# ---- bundle --------------------------------------------------------------------------------------------

class Entry:
    """One BundleEntryProto."""

    def __init__(self, name, value, where):
        try:
            msg = pw.fields(value)
            shape_msg = pw.fields(pw.first(msg, 2, b""))
            self.shape = [pw.signed32(pw.first(pw.fields(d), 1, 0)) for d in shape_msg.get(2, [])]
            self.slices = [[(pw.signed32(pw.first(e, 1, 0)), pw.signed32(pw.first(e, 2, -1)))
                            for e in map(pw.fields, pw.fields(s).get(1, []))] for s in msg.get(7, [])]
        except pw.WireError as e:
            raise BundleError(f"{where}: entry {name!r} is not a BundleEntryProto ({e})") from None
        self.name = name
        self.dtype = pw.first(msg, 1, 0)
        self.shard_id = pw.first(msg, 3, 0)
        self.offset = pw.first(msg, 4, 0)
        self.size = pw.first(msg, 5, 0)
        self.crc32c = pw.first(msg, 6)

    @property
    def dtype_name(self):
        return DTYPES.get(self.dtype, (f"dtype{self.dtype}", 0))[0]


class Bundle:
    """A checkpoint: Bundle('…/variables/variables'). .entries maps index keys to Entry; .names lists the
    TF variable names (TF1 names, or for TF2 object-graph checkpoints the graph's full names)."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.index_path = prefix + ".index"
        self.table = Table(self.index_path)
        if not self.table.entries or self.table.entries[0][0] != b"":
            raise BundleError(f"{self.index_path}: no bundle header (empty key) in the table")
        header = pw.fields(self.table.entries[0][1])
        self.num_shards = pw.first(header, 1, 1)
        if pw.first(header, 2, 0) != 0:
            raise BundleError(f"{self.index_path}: big-endian checkpoint, not supported")
        self.entries = {}
        self.slice_values = {}
        for key, value in self.table.entries[1:]:
            if key[:1] == b"\x00":  # slice keys start with OrderedCode's 0
                self.slice_values[key] = value
            else:
                name = key.decode("utf-8", "replace")
                self.entries[name] = Entry(name, value, self.index_path)
        self._data = {}
        self._verified = set()  # (shard, offset, size) already CRC-checked
        self.keys_by_name = self._variable_names()

    @property
    def names(self):
        return list(self.keys_by_name)

    def data_path(self, shard_id):
        return f"{self.prefix}.data-{shard_id:05d}-of-{self.num_shards:05d}"

    def _shard(self, shard_id):
        if shard_id not in self._data:
            self._data[shard_id] = _read_file(self.data_path(shard_id))
        return self._data[shard_id]

    def data_paths(self):
        return [self.data_path(i) for i in range(self.num_shards)]

    def _raw(self, entry, label, check_crc=True):
        """The stored bytes of one entry, CRC-checked unless the caller checks it (string tensors)."""
        if entry.shard_id >= self.num_shards:
            raise BundleError(f"{self.index_path}: {label} is in shard {entry.shard_id}, bundle has {self.num_shards}")
        data = self._shard(entry.shard_id)
        path = self.data_path(entry.shard_id)
        if entry.offset + entry.size > len(data):
            raise BundleError(f"{path}: {label} needs bytes {entry.offset}..{entry.offset + entry.size}, "
                              f"file has {len(data)} (truncated?)")
        raw = data[entry.offset:entry.offset + entry.size]
        span = (entry.shard_id, entry.offset, entry.size)
        if check_crc and span not in self._verified:
            self._check_crc(entry, label, crc32c(raw))
            self._verified.add(span)
        return raw

    def _check_crc(self, entry, label, crc):
        if entry.crc32c is not None and mask(crc) != entry.crc32c:
            raise BundleError(f"{self.data_path(entry.shard_id)}: tensor {label} fails its CRC32C check "
                              f"(bytes {entry.offset}..{entry.offset + entry.size} damaged)")

    def _variable_names(self):
        """TF variable name -> index key. TF2 checkpoints name tensors by object path; the object graph
        gives each variable's full_name."""
        if OBJECT_GRAPH_KEY not in self.entries:
            return {name: name for name in self.entries}
        graph = pw.fields(self.read_strings(OBJECT_GRAPH_KEY)[0])
        names = {}
        for node in graph.get(1, []):
            for attribute in pw.fields(node).get(2, []):
                attr = pw.fields(attribute)
                key = pw.first(attr, 3, b"").decode()
                if key in self.entries:
                    names[pw.first(attr, 2, key.encode()).decode() or key] = key
        for key in self.entries:  # anything the graph does not name keeps its key
            if key not in names.values():
                names[key] = key
        return names

    def read_strings(self, key):
        """A string tensor: varint64 lengths, masked CRC32C of the lengths, then the bytes. TensorFlow's
        checksum covers each length as a little-endian uint32 (uint64 above 4 GiB), not as its varint."""
        entry = self.entries[key]
        raw = self._raw(entry, key, check_crc=False)
        count = 1
        for d in entry.shape:
            count *= d
        lengths, pos, crc = [], 0, 0
        for _ in range(count):
            n, pos = pw.read_varint(raw, pos)
            lengths.append(n)
            crc = crc32c(struct.pack("<I" if n <= 0xFFFFFFFF else "<Q", n), crc)
        if struct.unpack_from("<I", raw, pos)[0] != mask(crc):
            raise BundleError(f"{self.data_path(entry.shard_id)}: string tensor {key} has a bad length checksum")
        crc = crc32c(raw[pos:], crc)  # the length checksum and the string bytes
        self._check_crc(entry, key, crc)
        pos += 4
        out = []
        for n in lengths:
            out.append(raw[pos:pos + n])
            pos += n
        return out

    def has(self, name):
        """Whether read(name) finds the variable (whole, sliced or mod-sharded)."""
        return name in self.keys_by_name or bool(self._mod_shards(name))

    def read(self, name):
        """(Entry, bytes) of a numeric variable by TF name, slices reassembled, every piece CRC-checked."""
        key = self.keys_by_name.get(name)
        if key is None:
            shards = self._mod_shards(name)
            if shards:
                return self._join_mod_shards(name, shards)
            raise BundleError(f"{self.index_path}: no tensor named {name}")
        entry = self.entries[key]
        width = DTYPES.get(entry.dtype, (None, 0))[1]
        if not width:
            raise BundleError(f"{self.index_path}: tensor {name} has dtype {entry.dtype_name}, not numeric")
        if not entry.slices:
            raw = self._raw(entry, name)
            expected = element_count(entry.shape) * width
            if len(raw) != expected:
                raise BundleError(f"{self.index_path}: tensor {name} {entry.shape} holds {len(raw)} bytes, "
                                  f"expected {expected}")
            return entry, raw
        return entry, self._assemble(entry, width)

    def _assemble(self, entry, width):
        out = bytearray(element_count(entry.shape) * width)
        covered = 0
        for extents in entry.slices:
            extents = extents + [(0, -1)] * (len(entry.shape) - len(extents))
            key = slice_key(entry.name, extents)
            label = f"{entry.name} slice {extents}"
            if key not in self.slice_values:
                raise BundleError(f"{self.index_path}: {label} has no entry")
            piece = self._raw(Entry(label, self.slice_values[key], self.index_path), label)
            starts = [s for s, _ in extents]
            lengths = [n if n >= 0 else dim for (_, n), dim in zip(extents, entry.shape)]
            if len(piece) != element_count(lengths) * width:
                raise BundleError(f"{self.index_path}: {label} holds {len(piece)} bytes, expected "
                                  f"{element_count(lengths) * width}")
            _place(out, piece, entry.shape, starts, lengths, width)
            covered += len(piece)
        if covered != len(out):
            raise BundleError(f"{self.index_path}: slices of {entry.name} cover {covered} of {len(out)} bytes")
        return bytes(out)

    def _mod_shards(self, name):
        shards = []
        while f"{name}/sharded_{len(shards)}" in self.keys_by_name:
            shards.append(f"{name}/sharded_{len(shards)}")
        return shards

    def _join_mod_shards(self, name, shard_names):
        """Rejoins an embedding table split with TF1's mod partitioning: row r is row r // N of shard r % N."""
        parts = [self.read(n) for n in shard_names]
        first = parts[0][0]
        row_bytes = len(parts[0][1]) // max(first.shape[0], 1)
        rows = sum(e.shape[0] for e, _ in parts)
        out = bytearray(rows * row_bytes)
        n = len(parts)
        for s, (entry, raw) in enumerate(parts):
            if entry.shape[1:] != first.shape[1:] or entry.shape[0] != len(range(s, rows, n)):
                raise BundleError(f"{self.index_path}: {shard_names[s]} {entry.shape} does not fit a mod-"
                                  f"sharded table of {rows} rows in {n} shards")
            for i, r in enumerate(range(s, rows, n)):
                out[r * row_bytes:(r + 1) * row_bytes] = raw[i * row_bytes:(i + 1) * row_bytes]
        joined = Entry(name, b"", self.index_path)
        joined.dtype, joined.shape = first.dtype, [rows] + first.shape[1:]
        return joined, bytes(out)

    def verify_all(self):
        """Reads every stored tensor once (CRC checks); returns the number of bytes checked."""
        total = 0
        for key, entry in self.entries.items():
            if entry.dtype == STRING:
                self.read_strings(key)
                total += entry.size
            elif not entry.slices and entry.size:
                total += len(self._raw(entry, key))
        for key, value in self.slice_values.items():
            entry = Entry(repr(key), value, self.index_path)
            total += len(self._raw(entry, f"slice {key!r}"))
        return total


def element_count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _place(out, piece, shape, starts, lengths, width):
    """Copies a row-major slice into the row-major whole tensor."""
    if not shape:
        out[:] = piece
        return
    inner = element_count(shape[1:]) * width
    if all(s == 0 and n == d for s, n, d in zip(starts[1:], lengths[1:], shape[1:])):
        # contiguous: a band of whole rows (how TF partitions along axis 0)
        out[starts[0] * inner:(starts[0] + lengths[0]) * inner] = piece
        return
    piece_inner = element_count(lengths[1:]) * width
    for i in range(lengths[0]):
        sub = bytearray(out[(starts[0] + i) * inner:(starts[0] + i + 1) * inner])
        _place(sub, piece[i * piece_inner:(i + 1) * piece_inner], shape[1:], starts[1:], lengths[1:], width)
        out[(starts[0] + i) * inner:(starts[0] + i + 1) * inner] = sub


def _read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise BundleError(f"{path}: cannot read ({e.strerror})") from None


def bundle_prefix(variables_dir):
    """The checkpoint prefix inside a SavedModel's variables/ folder."""
    return os.path.join(variables_dir, "variables")
