"""Reads a SentencePiece ModelProto (SPEC 4.1) with the standard library, for the .usew tokenizer payload.

ModelProto: pieces = 1 {piece = 1, score = 2, type = 3}, normalizer_spec = 3 {name = 1,
precompiled_charsmap = 2, add_dummy_prefix = 3, remove_extra_whitespaces = 4, escape_whitespaces = 5}.
Absent fields take proto2 defaults: type NORMAL (1), score 0, the three normalizer switches true.
"""
import struct

import protowire as pw

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
ADD_DUMMY_PREFIX, REMOVE_EXTRA_WHITESPACES, ESCAPE_WHITESPACES = 1, 2, 4  # enum usew_normalizer_flags


class SpmError(ValueError):
    pass


class SpmModel:
    """pieces: [(piece bytes, score float, type int)] in id order; charsmap: bytes; normalizer_flags: int."""

    def __init__(self, blob, label):
        try:
            model = pw.fields(blob)
            self.pieces = []
            for raw in model.get(1, []):
                piece = pw.fields(raw)
                score = struct.unpack("<f", struct.pack("<I", pw.first(piece, 2, 0)))[0]
                self.pieces.append((pw.first(piece, 1, b""), score, pw.first(piece, 3, NORMAL)))
            normalizer = pw.fields(pw.first(model, 3, b""))
        except (pw.WireError, struct.error) as e:
            raise SpmError(f"{label}: not a SentencePiece model ({e})") from None
        if not self.pieces:
            raise SpmError(f"{label}: not a SentencePiece model (no pieces)")
        bad = [i for i, (p, _, t) in enumerate(self.pieces) if not p or b"\0" in p or not NORMAL <= t <= BYTE]
        if bad:
            raise SpmError(f"{label}: pieces {bad[:10]} are empty, contain NUL or have an unknown type")
        unknown = [i for i, (_, _, t) in enumerate(self.pieces) if t == UNKNOWN]
        if len(unknown) != 1:
            raise SpmError(f"{label}: expected exactly one <unk> piece, found {len(unknown)}")
        self.unk_id = unknown[0]
        self.normalizer_name = pw.first(normalizer, 1, b"").decode("utf-8", "replace")
        self.charsmap = pw.first(normalizer, 2, b"")
        self.normalizer_flags = 0
        for field, flag in ((3, ADD_DUMMY_PREFIX), (4, REMOVE_EXTRA_WHITESPACES), (5, ESCAPE_WHITESPACES)):
            if pw.first(normalizer, field, 1):
                self.normalizer_flags |= flag
