"""The texts the tokenizers are checked and measured on (tests/test_tokenizer.py, bench/tokenize_bench.py).

Every text is bytes, exactly as it sits in its file: Latin-1 catalogues stay Latin-1 (invalid UTF-8 on purpose),
CSV fields are cut out of the raw bytes.
"""
import csv
import gzip
import io
import json
import os
import random
import re
import struct
import sys

from common import DATA, SPM_MODEL

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import protowire as pw  # noqa: E402

MEGABYTE = 1 << 20

# Fields that are only numbers, dates, prices or ids carry no text worth tokenizing.
_NUMERIC = re.compile(rb"^[\d\s.,:;+\-/eE%$]*$")


def self_test_samples():
    """The .model file's own (input, expected pieces) pairs: ModelProto.self_test_data = 4 {samples = 1
    {input = 1, expected = 2}}, the pieces space-separated, as SentencePiece's own self-test checks them."""
    with open(SPM_MODEL, "rb") as f:
        model = pw.fields(f.read())
    samples = pw.fields(pw.first(model, 4, b"")).get(1, [])
    return [(pw.first(s, 1, b""), pw.first(s, 2, b"").decode("utf-8")) for s in map(pw.fields, samples)]


def _csv_fields(path, delimiter):
    # Latin-1 maps every byte to one character and back, so the fields come out as the file's own bytes.
    with open(path, "rb") as f:
        text = f.read().decode("latin-1")
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        for field in row:
            yield field.encode("latin-1")


def _tab_fields(path):
    """STS files: split on tabs with quoting off (csv would merge rows at stray quotes); CRLF ends a line."""
    with open(path, "rb") as f:
        for line in f.read().split(b"\n"):
            yield from (line[:-1] if line.endswith(b"\r") else line).split(b"\t")


def _json_strings(value):
    if isinstance(value, str):
        yield value.encode("utf-8")
    elif isinstance(value, list):
        for v in value:
            yield from _json_strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _json_strings(v)


def _file_fields(path):
    name = os.path.basename(path)
    if "/sts/" in path and (name.endswith(".csv") or name.startswith("SICK_")):
        return _tab_fields(path)
    if name.endswith(".csv"):
        return _csv_fields(path, ";" if name == "ikea.csv" else ",")
    if name.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            return _json_strings(json.load(f))
    if name.endswith(".json.gz"):
        with gzip.open(path) as f:
            lines = f.read().split(b"\n")
        return (s for line in lines if line.strip() for s in _json_strings(json.loads(line)))
    return None  # READMEs, licences, checksums: documentation, not catalogue text


def catalogue_texts():
    """Every distinct text field of every catalogue and benchmark under ../shared/data, sorted."""
    texts = set()
    for root, _, files in os.walk(DATA):
        for name in files:
            fields = _file_fields(os.path.join(root, name))
            if fields is not None:
                texts.update(f for f in fields if not _NUMERIC.match(f))
    return sorted(texts)


def _utf8(*strings):
    return [s.encode("utf-8") for s in strings]


def edge_cases():
    """Hand-made texts for every rule of both tokenizers and every class of invalid UTF-8."""
    cases = _utf8(
        "", " ", "   ", "\t", "\n", "\r\n", " \t\n\r\x0b\x0c ", "\u3000", "\u00a0", "\u2003x\u2003",
        "a\tb", "a\nb", "a\r\nb", "line one\nline two\n", "a  b", "a" + " " * 100 + "b", "  leading", "trailing   ",
        "\u2581", "a\u2581", "\u2581a", "\u2581\u2581", " \u2581 ", "x \u2581 y",
        "😀", "I ❤️ NY 👍🏽", "👨‍👩‍👧‍👦 family", "🇯🇵 🇫🇷", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛", "𐍈 gothic", "🀄🃏",
        "e\u0301", "e\u0301\u0316", "a\u0316\u0301", "\u00c5 A\u030a \u212b", "\u0301 alone", "\u0301\u0301\u0301",
        "e" + "\u0301\u0316" * 50 + " o" + "\u0308\u0323\u031b" * 20, "\u0345\u0314" * 40 + "\u03b1",
        "ｆｕｌｌｗｉｄｔｈ １２３", "ﬁ ﬂ ﬀ", "①②③ ⑴ ⒜", "㎏ ㍻ ㌀", "½ ¼ ⅞", "x² H₂O", "Ⅻ ⅻ", "ǆ Ǆ", "ﷺ", "\u1e9b\u0323",
        "한국어 텍스트", "\u1112\u1161\u11ab\u1100\u116e\u11af", "中文字符", "日本語のテキスト ｶﾀｶﾅ",
        "مرحبا بالعالم", "שלום עולם", "abc \u200fRTL\u200e mark", "\u202eevil\u202c",
        "a\u200bb", "a\u200cb", "a\u200db", "\ufeffBOM first", "a\ufeffb", "a\u2060b", "a\u00adb", "\u200b",
        "a\x01b", "\x7f", "\x1b[31mred\x1b[0m", "a\u0085b", "a\u2028b\u2029c",
        "\x00", "a\x00b", "\x00\x00\x00", " \x00 ",
        "“smart quotes” and ‘single’", "He said: “Hi.”", ",” .” ?”", "”5", "12:30 :00 :30 :) :( :-) ://",
        "http://example.com/a?b=c", "e-mail@example.com", "C++ & C#", "$3.50 / €4 / ¥500",
        "extra_token_id_1", "extra_token_id_2extra_token_id_3", "<s> </s> <unk>", "\ufffd", "\ufffd\ufffd x",
        "a" * 1000, "supercalifragilisticexpialidocious" * 20, "1234567890" * 50,
        "g" * 37, "gg gg ggg", "." * 40, "!" * 25, "-" * 30, "ab" * 200, "The the THE tHe",
        "The quick brown fox jumps over the lazy dog.", "How old are you?",
    )
    cases += [
        b"\x80", b"\xbf", b"a\x80b", b"\x80\x80\x80", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf",
        b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80",
        b"\xc3", b"a\xc3", b"\xe2\x82", b"\xe2\x82 x", b"\xf0\x9f\x98", b"\xf0\x9f", b"\xf0", b"x\xf0\x9f\x98",
        b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"\xfe\xff", b"\xff\xfe",
        b"caf\xe9", b"na\xefve", b"\xe9t\xe9 \xe0 Paris", b"\xef\xbb\xbf", b"\xc3\xa9\xe9\xc3",
    ]
    cases += [bytes([b]) for b in range(256)]
    cases += [bytes([b, b]) + b" " + bytes([b]) + b"x" for b in range(0x80, 0x100)]
    # Every lead byte of a multi-byte form against the continuation bytes at the edges of its ranges.
    edges = [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF]
    for lead in [0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5]:
        for b2 in edges:
            for b3 in edges:
                cases.append(bytes([lead, b2, b3]) + b"a")
                cases.append(bytes([lead, b2, b3, 0x80]) + b" z")
    return cases


def all_two_byte_texts():
    """Every 2-byte sequence: all invalid UTF-8 classes that fit in two bytes, and every 2-byte character."""
    return [bytes([a, b]) for a in range(256) for b in range(256)]


def code_point_sweeps():
    """Every code point of planes 0-3 and 14-16 (4-13 hold nothing up to Unicode 17), 128 to a text, each
    alone between spaces; and each code point of planes 0-1 after an 'e' and before U+0316 (combining class
    220), which exercises canonical reordering and composition around it."""
    planes = list(range(0, 0x40000)) + list(range(0xE0000, 0x110000))
    cps = [cp for cp in planes if not 0xD800 <= cp < 0xE000]
    texts = [" ".join(map(chr, cps[i:i + 128])).encode("utf-8") for i in range(0, len(cps), 128)]
    low = [cp for cp in cps if cp < 0x20000]
    texts += ["".join(f"e{chr(cp)}\u0316 " for cp in low[i:i + 128]).encode("utf-8") for i in range(0, len(low), 128)]
    return texts


def big_texts(catalogue):
    """Three 1 MB texts: catalogue text run together, a seeded mix of every kind of edge case, one letter."""
    joined = bytearray()
    for t in catalogue:
        if len(joined) >= MEGABYTE:
            break
        joined += t + b" "
    rng = random.Random(20240601)
    parts = edge_cases() + catalogue[::997]
    mixed = bytearray()
    while len(mixed) < MEGABYTE:
        mixed += rng.choice(parts) + rng.choice([b" ", b"", b"  ", b"\n", b"\t"])
    return [bytes(joined[:MEGABYTE]), bytes(mixed[:MEGABYTE]), b"x" * MEGABYTE]


def _json_escape(match):
    c = match.group()
    return b"\\" + c if c in (b'"', b"\\") else b"\\u%04x" % c[0]


def to_jsonl(texts):
    """`userec tokenize --format jsonl` input: one JSON string per line; bytes that JSON does not need to
    escape are written as they are, invalid UTF-8 included."""
    return b"".join(b'"' + re.sub(rb'[\x00-\x1f"\\]', _json_escape, t) + b'"\n' for t in texts)


def to_records(texts):
    """tests/tokenizer_oracle/tokenize.js input: each text preceded by its length, uint32 little-endian."""
    return b"".join(struct.pack("<I", len(t)) + t for t in texts)
