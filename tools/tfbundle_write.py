#!/usr/bin/env python3
"""Writes TensorFlow tensor bundles (checkpoints) the way TensorFlow's BundleWriter does, for tests.

No real USE-lite variables.data can be had on the build machines, only the real variables.index. This
writer makes a TF1 module of the test weights so that both source kinds of tools/convert.py can be checked
against the same weights:

    python3 tools/tfbundle_write.py TFJS_DIR OUT_DIR --like TFHUB_DIR [--no-snappy]

writes OUT_DIR/variables/variables.{index,data-00000-of-00001} holding TFJS_DIR's weights under TFHUB_DIR's
variable names, shapes and slices (same keys, 16-way partitions, data offsets as the real index; masked
CRC32Cs of the new bytes), and links TFHUB_DIR's saved_model.pb and assets/ into OUT_DIR.

Table layout as TensorFlow's table_builder: prefix-compressed keys with a restart every 16 entries, 256 KiB
data blocks, snappy only where it saves at least 1/8, an empty metaindex block, an index block (one restart
per entry) keyed by shortest separators, and the 48-byte footer. Standard library only.
"""
import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert  # noqa: E402
import protowire as pw  # noqa: E402
import snappy  # noqa: E402
import tfbundle  # noqa: E402
from crc32c import crc32c, mask, masked_crc32c  # noqa: E402

BLOCK_SIZE = 262144
RESTART_INTERVAL = 16
DT_FLOAT = 1


class _BlockBuilder:
    """One table block: keys share a prefix with the previous key, except at a restart point."""

    def __init__(self, restart_interval):
        self.interval = restart_interval
        self.buffer = bytearray()
        self.restarts = [0]
        self.counter = 0
        self.last_key = b""

    def add(self, key, value):
        shared = 0
        if self.counter < self.interval:
            limit = min(len(key), len(self.last_key))
            while shared < limit and key[shared] == self.last_key[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buffer))
            self.counter = 0
        self.buffer += pw.varint(shared) + pw.varint(len(key) - shared) + pw.varint(len(value))
        self.buffer += key[shared:] + value
        self.last_key = key
        self.counter += 1

    def finish(self):
        return bytes(self.buffer) + struct.pack(f"<{len(self.restarts) + 1}I", *self.restarts, len(self.restarts))


def _shortest_separator(start, limit):
    """A short key k with start <= k < limit (LevelDB's BytewiseComparator::FindShortestSeparator)."""
    n = 0
    while n < min(len(start), len(limit)) and start[n] == limit[n]:
        n += 1
    if n < min(len(start), len(limit)) and start[n] < 0xFF and start[n] + 1 < limit[n]:
        return start[:n] + bytes([start[n] + 1])
    return start


def _short_successor(key):
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes([byte + 1])
    return key


def table_bytes(entries, use_snappy=True, block_size=BLOCK_SIZE):
    """A LevelDB-format table of (key, value) pairs given in increasing key order."""
    out = bytearray()

    def write_block(contents):
        kind = tfbundle.NO_COMPRESSION
        if use_snappy:
            packed = snappy.compress(contents)
            if len(packed) < len(contents) - len(contents) // 8:
                contents, kind = packed, tfbundle.SNAPPY
        handle = pw.varint(len(out)) + pw.varint(len(contents))
        out.extend(contents + bytes([kind]) + struct.pack("<I", masked_crc32c(contents + bytes([kind]))))
        return handle

    index = _BlockBuilder(1)
    block = _BlockBuilder(RESTART_INTERVAL)
    pending = None  # (last key, handle) of a written block; its index key needs the next block's first key
    last_key = None
    for key, value in entries:
        if last_key is not None and key <= last_key:
            raise ValueError(f"table keys out of order: {key!r} after {last_key!r}")
        if pending:
            index.add(_shortest_separator(pending[0], key), pending[1])
            pending = None
        block.add(key, value)
        last_key = key
        if len(block.buffer) + 4 * len(block.restarts) + 4 >= block_size:
            pending = (key, write_block(block.finish()))
            block = _BlockBuilder(RESTART_INTERVAL)
    if block.buffer:
        pending = (last_key, write_block(block.finish()))
    metaindex_handle = write_block(_BlockBuilder(RESTART_INTERVAL).finish())
    if pending:
        index.add(_short_successor(pending[0]), pending[1])
    index_handle = write_block(index.finish())
    magic = struct.pack("<II", tfbundle.TABLE_MAGIC & 0xFFFFFFFF, tfbundle.TABLE_MAGIC >> 32)
    out += (metaindex_handle + index_handle).ljust(tfbundle.FOOTER_BYTES - 8, b"\0") + magic
    return bytes(out)


def _shape_proto(shape):
    return b"".join(pw.field(2, pw.field(1, d)) for d in shape)


def _entry_proto(dtype, shape, offset=0, size=0, crc=None, slices=()):
    """BundleEntryProto as proto3 serialises it: zero-valued scalars left out."""
    msg = pw.field(1, dtype) + pw.field(2, _shape_proto(shape))
    if offset:
        msg += pw.field(4, offset)
    if size:
        msg += pw.field(5, size)
    if crc is not None:
        msg += pw.field(6, crc, pw.FIXED32)
    for extents in slices:
        msg += pw.field(7, b"".join(pw.field(1, (pw.field(1, s) if s else b"") + (pw.field(2, n) if n >= 0 else b""))
                                    for s, n in extents))
    return msg


class Variable:
    """A variable to save: TF dtype number, shape, row-major bytes, and optional slices [[(start, length)]]
    (bands along axis 0, as TF1's partitioners cut them)."""

    def __init__(self, name, dtype, shape, data, slices=None):
        self.name, self.dtype, self.shape, self.data, self.slices = name, dtype, list(shape), bytes(data), slices

    def piece(self, extents):
        """(shape, bytes) of one slice."""
        (start, length), rest = extents[0], extents[1:]
        if any(s != 0 or n not in (-1, d) for (s, n), d in zip(rest, self.shape[1:])):
            raise ValueError(f"{self.name}: only slices along axis 0 are supported, got {extents}")
        row = len(self.data) // self.shape[0]
        return [length] + self.shape[1:], self.data[start * row:(start + length) * row]


def write_bundle(prefix, variables, use_snappy=True):
    """Writes prefix.index and prefix.data-00000-of-00001; data in name order, each variable's slices in
    the order given (as TF1's Saver writes them)."""
    entries = {b"": pw.field(1, 1) + pw.field(3, pw.field(1, 1))}  # num_shards 1, version {producer 1}
    data = bytearray()
    for var in sorted(variables, key=lambda v: v.name):
        key = var.name.encode()
        if not var.slices:
            entries[key] = _entry_proto(var.dtype, var.shape, len(data), len(var.data), mask(crc32c(var.data)))
            data += var.data
            continue
        entries[key] = _entry_proto(var.dtype, var.shape, slices=var.slices)
        for extents in var.slices:
            shape, piece = var.piece(extents)
            entries[tfbundle.slice_key(var.name, extents)] = _entry_proto(var.dtype, shape, len(data), len(piece),
                                                                         mask(crc32c(piece)))
            data += piece
    with open(f"{prefix}.data-00000-of-00001", "wb") as f:
        f.write(data)
    with open(f"{prefix}.index", "wb") as f:
        f.write(table_bytes(sorted(entries.items()), use_snappy))


def module_from_tfjs(tfjs_dir, like_dir, out_dir, use_snappy=True):
    """A TF1 module folder holding tfjs_dir's weights in like_dir's checkpoint layout (see the module doc)."""
    source = convert.TfjsSource(tfjs_dir)
    layout = tfbundle.Bundle(tfbundle.bundle_prefix(os.path.join(like_dir, "variables")))
    by_tf1_name = {w.tf1_name: w for w in convert.model_tensors(convert.count_layers(layout.names))}
    variables = []
    for name, entry in layout.entries.items():
        if name not in by_tf1_name:
            raise ValueError(f"{layout.index_path}: variable {name} has no TF.js counterpart")
        shape, _, data = source.tensor(by_tf1_name[name])
        if entry.dtype != DT_FLOAT or len(data) != 4 * tfbundle.element_count(entry.shape):
            raise ValueError(f"{tfjs_dir}: {by_tf1_name[name].tfjs_name} {shape} does not fill {name} {entry.shape}")
        variables.append(Variable(name, entry.dtype, entry.shape, data, entry.slices or None))
    os.makedirs(os.path.join(out_dir, "variables"), exist_ok=True)
    write_bundle(tfbundle.bundle_prefix(os.path.join(out_dir, "variables")), variables, use_snappy)
    for name in ("saved_model.pb", "assets"):
        link = os.path.join(out_dir, name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.abspath(os.path.join(like_dir, name)), link)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tfjs_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--like", required=True, help="the real TF Hub module folder whose layout to copy")
    ap.add_argument("--no-snappy", action="store_true", help="write uncompressed table blocks")
    args = ap.parse_args()
    try:
        module_from_tfjs(args.tfjs_dir, args.like, args.out_dir, not args.no_snappy)
    except (ValueError, OSError, convert.ConvertError) as e:
        sys.exit(f"tfbundle_write: {e}")


if __name__ == "__main__":
    main()
