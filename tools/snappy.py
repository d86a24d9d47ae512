"""Snappy raw-block format (standard library only): what LevelDB-format tables use for compressed blocks.

`decompress` reads any valid block (literals and 1-, 2- and 4-byte-offset copies, overlapping copies included).
`compress` writes a valid block with a simple greedy matcher; tests use it to write snappy tables like TensorFlow's.
"""
import protowire


class SnappyError(ValueError):
    pass


def _length_preamble(buf):
    """The uncompressed length that starts a block (a varint of at most 5 bytes) and where the data starts."""
    try:
        length, pos = protowire.read_varint(buf, 0)
    except protowire.WireError as e:
        raise SnappyError(f"bad length preamble: {e}")
    if pos > 5:
        raise SnappyError("length preamble longer than 5 bytes")
    return length, pos


def decompress(buf):
    """Returns the uncompressed bytes of one raw snappy block; raises SnappyError on malformed input."""
    expected, pos = _length_preamble(buf)
    out = bytearray()
    end = len(buf)
    while pos < end:
        tag = buf[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal; lengths above 60 are stored in 1-4 extra bytes
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                if pos + extra > end:
                    raise SnappyError("truncated literal length")
                length = int.from_bytes(buf[pos:pos + extra], "little")
                pos += extra
            length += 1
            if pos + length > end:
                raise SnappyError(f"literal of {length} bytes runs past the end of the block")
            out += buf[pos:pos + length]
            pos += length
            continue
        if kind == 1:
            if pos + 1 > end:
                raise SnappyError("truncated copy")
            length = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | buf[pos]
            pos += 1
        else:
            width = 2 if kind == 2 else 4
            if pos + width > end:
                raise SnappyError("truncated copy")
            length = (tag >> 2) + 1
            offset = int.from_bytes(buf[pos:pos + width], "little")
            pos += width
        if offset == 0 or offset > len(out):
            raise SnappyError(f"copy offset {offset} points before the start of the output ({len(out)} bytes)")
        start = len(out) - offset
        if offset >= length:
            out += out[start:start + length]
        else:  # overlapping copy repeats the last `offset` bytes
            pattern = bytes(out[start:])
            out += (pattern * (length // offset + 1))[:length]
    if len(out) != expected:
        raise SnappyError(f"block decodes to {len(out)} bytes, its preamble says {expected}")
    return bytes(out)


def _literal(out, data):
    n = len(data) - 1
    if n < 60:
        out.append(n << 2)
    else:
        width = (n.bit_length() + 7) // 8
        out.append((59 + width) << 2)
        out += n.to_bytes(width, "little")
    out += data


def compress(data):
    """Returns a raw snappy block of data: greedy 4-byte matches within 64 KiB, copies with 2-byte offsets."""
    data = bytes(data)
    n = len(data)
    out = bytearray(protowire.varint(n))  # the length preamble
    last_seen = {}
    literal_start = pos = 0
    while pos + 4 <= n:
        key = data[pos:pos + 4]
        candidate = last_seen.get(key)
        last_seen[key] = pos
        if candidate is None or pos - candidate > 0xFFFF:
            pos += 1
            continue
        length = 4
        while pos + length < n and length < 64 and data[candidate + length] == data[pos + length]:
            length += 1
        if literal_start < pos:
            _literal(out, data[literal_start:pos])
        out.append(((length - 1) << 2) | 2)
        out += (pos - candidate).to_bytes(2, "little")
        pos += length
        literal_start = pos
    if literal_start < n:
        _literal(out, data[literal_start:])
    return bytes(out)
