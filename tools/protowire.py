"""Minimal protobuf wire-format decoding (standard library only).

Enough to read SentencePiece ModelProto, TensorFlow GraphDef/NodeDef/TensorProto, BundleEntryProto and
TrackableObjectGraph without the protobuf package: messages decode into {field_number: [values]}, where a
value is an int (varint, fixed32, fixed64) or bytes (length-delimited: a string, bytes or a nested message
that the caller decodes again with `fields`).
"""

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    pass


def read_varint(buf, pos):
    """Returns (value, next_pos) for the varint starting at pos."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def fields(buf):
    """Decodes one message into {field_number: [value, ...]} in wire order."""
    out = {}
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            value, pos = read_varint(buf, pos)
        elif wire_type == FIXED64:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire_type == FIXED32:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wire_type == LENGTH:
            size, pos = read_varint(buf, pos)
            value, pos = bytes(buf[pos:pos + size]), pos + size
        else:
            raise WireError(f"unsupported wire type {wire_type} for field {number}")
        if pos > end:
            raise WireError(f"field {number} runs past the end of the message")
        out.setdefault(number, []).append(value)
    return out


def first(msg, number, default=None):
    """The first value of a field, or default when absent."""
    values = msg.get(number)
    return values[0] if values else default


def packed_varints(value):
    """Decodes a packed repeated varint field's bytes into a list of ints."""
    out, pos = [], 0
    while pos < len(value):
        v, pos = read_varint(value, pos)
        out.append(v)
    return out


def signed32(v):
    """Interprets a decoded varint as int32/int64 two's complement."""
    return v - (1 << 64) if v >= 1 << 63 else v


# ---- encoding (used by test writers) ----

def varint(value):
    """The varint bytes of a non-negative int (negative int64 values as their 10-byte two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        if value < 0x80:
            out.append(value)
            return bytes(out)
        out.append((value & 0x7F) | 0x80)
        value >>= 7


def field(number, value, wire_type=None):
    """One encoded field: an int as a varint (or fixed32 with wire_type=FIXED32), bytes length-delimited."""
    if isinstance(value, (bytes, bytearray)):
        return varint(number << 3 | LENGTH) + varint(len(value)) + bytes(value)
    if wire_type == FIXED32:
        return varint(number << 3 | FIXED32) + (value & 0xFFFFFFFF).to_bytes(4, "little")
    return varint(number << 3 | VARINT) + varint(value)
