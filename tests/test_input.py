"""The input readers (engine/input.h) on the real exports in ../shared/data, compared row by row with what
Python's csv and json modules read from the same bytes, plus a generated 50 MB CSV full of broken rows.

The reader runs through the test driver BUILD/tests/test_input (tests/c/test_input.c given arguments),
which prints one JSON line per record with every byte >= 0x80 written as \\u00XX, so .encode("latin-1")
gives back the exact bytes. Files are compared as bytes (Latin-1 files read as bytes, never decoded)."""
import csv
import gzip
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile

import common

DRIVER = os.path.join(common.BUILD, "tests", "test_input")
BOM = b"\xef\xbb\xbf"
BLANK = " \t\n\r\v\f"  # what the reader counts as white space (ASCII only)
csv.field_size_limit(sys.maxsize)


def run_driver(path, args, summary=False, stdin=None):
    if not os.access(DRIVER, os.X_OK):
        raise AssertionError(f"{DRIVER} is not built (make BUILD=... builds tests/c/test_input.c)")
    cmd = [DRIVER] + list(args) + (["--summary"] if summary else []) + [path]
    proc = subprocess.run(cmd, stdin=stdin, capture_output=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return [json.loads(line) for line in proc.stdout.decode("ascii").splitlines()]


def reader_records(path, args):
    """The reader's records as (line, id bytes, text bytes, reject, invalid_utf8)."""
    return [(r["line"], r["id"].encode("latin-1"), r["text"].encode("latin-1"), r["reject"], r["invalid_utf8"])
            for r in run_driver(path, args)]


def is_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def expected_row(line, row, get, text_cols, id_col, missing="column"):
    """The record Python's reading implies for data row number row: get(name) is a column's bytes, or None
    when the row lacks it. Returns (line, id, text, reject)."""
    ident = get(id_col) if id_col else str(row).encode()
    if ident is None:
        return (line, b"", b"", f"missing {missing} '{id_col}'")
    bad_id = id_col and any(c in ident for c in b"\t\n\r\0")  # the reader blanks such ids
    shown_id = b"" if bad_id else ident
    values = [get(name) for name in text_cols]
    for name, value in zip(text_cols, values):
        if value is None:
            return (line, shown_id, b"", f"missing {missing} '{name}'")
    text = b" ".join(values)
    if bad_id:
        return (line, b"", b"", "the id holds a tab, a line break or a NUL byte")
    if not ident:
        return (line, b"", b"", "empty id")
    if not text.strip(BLANK.encode()):
        return (line, ident, b"", "empty text")
    return (line, ident, text, None)


def expected_csv(path, text_cols, id_col=None, delimiter=","):
    """Python's csv module over the file's bytes (Latin-1 maps each byte to one character, so nothing is
    decoded); a record's line is the reader's line_num before it, plus 1."""
    raw = open(path, "rb").read()
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    reader = csv.reader(io.StringIO(raw.decode("latin-1"), newline=""), delimiter=delimiter)
    header = [name.encode("latin-1") for name in next(reader)]
    column = {name: i for i, name in enumerate(header)}
    out, line = [], reader.line_num + 1
    for row in reader:
        fields = [f.encode("latin-1") for f in row]
        if not fields:
            out.append((line, str(len(out)).encode() if not id_col else b"", b"", "empty line"))
        else:
            def get(name):
                i = column[name.encode("utf-8")]
                return fields[i] if i < len(fields) else None

            out.append(expected_row(line, len(out), get, text_cols, id_col))
        line = reader.line_num + 1
    return out


def compare(label, got, want):
    """got: reader records; want: expected (line, id, text, reject). Prints the counts; fails on the first
    difference, showing both sides."""
    rejected = sum(1 for r in got if r[3])
    invalid = sum(1 for r in got if r[4])
    print(f"{label}: {len(got)} rows ({len(want)} by Python), {len(got) - rejected} accepted, {rejected} rejected, "
          f"{invalid} with invalid UTF-8")
    for i, (g, w) in enumerate(zip(got, want)):
        if g[:4] != w:
            raise AssertionError(f"{label}: row {i} differs\n  reader: {g[:4]!r:.600}\n  python: {w!r:.600}")
        if g[4] != (not is_utf8(g[2])):
            raise AssertionError(f"{label}: row {i}: invalid_utf8 is {g[4]} for {g[2]!r:.200}")
    if len(got) != len(want):
        raise AssertionError(f"{label}: {len(got)} rows read, Python reads {len(want)}")
    return rejected, invalid


def check_csv(rel, text_cols, id_col=None, delimiter=",", expect_rows=None, expect_invalid=None):
    common.need_shared(os.path.join("data", rel))
    path = os.path.join(common.DATA, rel)
    args = ["--format", "csv", "--text-col", ",".join(text_cols)]
    args += ["--id-col", id_col] if id_col else []
    args += ["--delimiter", delimiter] if delimiter != "," else []
    got = reader_records(path, args)
    _, invalid = compare(rel, got, expected_csv(path, text_cols, id_col, delimiter))
    if expect_rows is not None and len(got) != expect_rows:
        raise AssertionError(f"{rel}: {len(got)} rows, data/SOURCES.md says {expect_rows}")
    if expect_invalid is not None and (invalid > 0) != expect_invalid:
        raise AssertionError(f"{rel}: {invalid} rows flagged with invalid UTF-8")


@common.quick
def test_myntra():
    check_csv("products/myntra_products_catalog.csv", ["Description"], "ProductID", expect_rows=12491,
              expect_invalid=False)


def test_myntra_throughput_and_stdin():
    common.need_shared("data/products/myntra_products_catalog.csv")
    path = os.path.join(common.DATA, "products/myntra_products_catalog.csv")
    args = ["--format", "csv", "--text-col", "Description", "--id-col", "ProductID"]
    best = min((run_driver(path, args, summary=True)[-1] for _ in range(5)), key=lambda s: s["seconds"])
    print(f"myntra: {best['bytes'] / 1e6:.2f} MB in {best['seconds'] * 1e3:.1f} ms = "
          f"{best['bytes'] / 1e6 / best['seconds']:.0f} MB/s, peak RSS {best['max_rss_kb']} KiB")
    if best["bytes"] != os.path.getsize(path) or best["size"] != os.path.getsize(path):
        raise AssertionError(f"bytes read {best['bytes']}, size {best['size']}, file {os.path.getsize(path)}")
    def through_pipe(summary):
        with open(path, "rb") as f:
            cat = subprocess.Popen(["cat"], stdin=f, stdout=subprocess.PIPE)
            records = run_driver("-", args, summary=summary, stdin=cat.stdout)
            cat.stdout.close()
            cat.wait()
        return records

    piped, piped_summary = through_pipe(False), through_pipe(True)[-1]
    if piped != run_driver(path, args):
        raise AssertionError("reading the file through stdin gives other records")
    if piped_summary["size"] != 0 or piped_summary["bytes"] != os.path.getsize(path):
        raise AssertionError(f"a pipe's size is unknown (0) and all its bytes are read: {piped_summary}")
    print(f"stdin: {len(piped)} records, identical to reading the file")


def test_adidas():
    check_csv("products/adidas_usa.csv", ["name", "description"], "sku", expect_rows=845)


def test_ikea_semicolon():
    check_csv("products/ikea.csv", ["name", "short_description"], "item_id", delimiter=";", expect_rows=3694)


def test_abt_buy_latin1():
    check_csv("matching/abt-buy/Abt.csv", ["name", "description"], "id", expect_rows=1081, expect_invalid=True)
    check_csv("matching/abt-buy/Buy.csv", ["name", "description"], "id", expect_rows=1092)


def test_amazon_google_latin1():
    check_csv("matching/amazon-google/Amazon.csv", ["title", "description"], "id", expect_rows=1363,
              expect_invalid=True)
    check_csv("matching/amazon-google/GoogleProducts.csv", ["name", "description"], "id", expect_rows=3226,
              expect_invalid=True)


@common.quick
def test_tmdb():
    check_csv("movies/tmdb_5000_movies.csv", ["overview"], "id", expect_rows=4803)


def test_netflix():
    check_csv("movies/netflix_titles.csv", ["description"], "show_id", expect_rows=8807)


def test_books():
    check_csv("books/books_cleaned.csv", ["title", "description"], "isbn13", expect_rows=5197)


def test_imdb():
    check_csv("movies/imdb_top_1000.csv", ["Overview"], "Series_Title", expect_rows=1000)


@common.quick
def test_sts_tsv():
    """STS Benchmark: no header, tab-separated, quotes are plain text (data/SOURCES.md: quoting OFF)."""
    common.need_shared("data/sts/stsbenchmark")
    for name, rows in [("sts-train.csv", 5749), ("sts-dev.csv", 1500), ("sts-test.csv", 1379)]:
        path = os.path.join(common.DATA, "sts/stsbenchmark", name)
        got = reader_records(path, ["--format", "tsv", "--no-header", "--text-col", "6,7", "--id-col", "4"])
        lines = open(path, "rb").read().decode("latin-1").split("\n")
        if lines[-1] == "":
            lines.pop()
        want = []
        for i, row in enumerate(csv.reader([l.rstrip("\r") for l in lines], delimiter="\t", quoting=csv.QUOTE_NONE)):
            fields = [f.encode("latin-1") for f in row]
            col = lambda n: fields[int(n) - 1] if int(n) <= len(fields) else None
            want.append((i + 1, b"", b"", "empty line") if not fields else expected_row(i + 1, i, col, ["6", "7"], "4"))
        compare(name, got, want)
        if len(got) != rows:
            raise AssertionError(f"{name}: {len(got)} rows, expected {rows}")


def test_sick_tsv_with_header():
    common.need_shared("data/sts/sick2014/SICK_train.txt")
    path = os.path.join(common.DATA, "sts/sick2014/SICK_train.txt")
    got = reader_records(path, ["--format", "tsv", "--text-col", "sentence_A,sentence_B", "--id-col", "pair_ID"])
    lines = open(path, "rb").read().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    header = lines[0].rstrip(b"\r").split(b"\t")
    want = []
    for i, l in enumerate(lines[1:]):
        fields = l.rstrip(b"\r").split(b"\t")
        get = lambda name: fields[header.index(name.encode())] if header.index(name.encode()) < len(fields) else None
        want.append(expected_row(i + 2, i, get, ["sentence_A", "sentence_B"], "pair_ID"))
    compare("SICK_train.txt", got, want)


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(value, repair=True):
    """A JSON value as the reader turns it into text (None when it is not text); repair: lone surrogates
    become U+FFFD."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value) if repair else value
    if isinstance(value, list):
        if any(isinstance(v, (list, dict)) for v in value):
            return None
        return " ".join(json_text(v, repair) for v in value if v is not None)
    return None  # an object


def expected_json(objects, text_keys, id_key):
    """objects: (line, object parsed by Python's json) pairs; the ids in these files are strings."""
    want = []
    for line, obj in objects:
        def get(name):
            if name not in obj:
                return None
            text = obj[name] if name == id_key else json_text(obj[name])
            return text.encode("utf-8")

        want.append(expected_row(line, len(want), get, text_keys, id_key, missing="key"))
    return want


def load_json_literal(text):
    """json.loads keeping numbers as written, as the reader does."""
    return json.loads(text, parse_int=str, parse_float=str)


def test_magazine_jsonl():
    common.need_shared("data/products/meta_Magazine_Subscriptions.json.gz")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "magazine.jsonl")
        with gzip.open(os.path.join(common.DATA, "products/meta_Magazine_Subscriptions.json.gz"), "rb") as f:
            data = f.read()
        open(path, "wb").write(data)
        text_keys = ["title", "description"]
        got = reader_records(path, ["--format", "jsonl", "--text-col", ",".join(text_keys), "--id-col", "asin"])
        objects = [(i + 1, load_json_literal(l)) for i, l in enumerate(data.decode("utf-8").split("\n")) if l]
        compare("magazine jsonl", got, expected_json(objects, text_keys, "asin"))
        if len(got) != 3385:
            raise AssertionError(f"{len(got)} rows, data/SOURCES.md says 3385")


@common.quick
def test_talks_json_array():
    """talks.json is one pretty-printed JSON array, not JSON lines: the jsonl reader sees the leading '[' and
    reads the array's objects one by one (a record's line is where its object starts)."""
    common.need_shared("data/talks/talks.json")
    path = os.path.join(common.DATA, "talks/talks.json")
    got = reader_records(path, ["--format", "jsonl", "--text-col", "name,description", "--id-col", "objectID"])
    talks = json.load(open(path, encoding="utf-8"), parse_int=str, parse_float=str)
    # the file is printed with a 2-space indent: each element of the array opens with a line "  {"
    starts = [i + 1 for i, line in enumerate(open(path, "rb").read().split(b"\n")) if line == b"  {"]
    if len(starts) != len(talks):
        raise AssertionError(f"{len(starts)} '  {{' lines for {len(talks)} talks: the layout assumption is wrong")
    compare("talks.json", got, expected_json(zip(starts, talks), ["name", "description"], "objectID"))
    if len(got) != 2356:
        raise AssertionError(f"{len(got)} rows, data/SOURCES.md says 2356")


@common.quick
def test_random_csv_like_python():
    """400 random snippets of quotes, delimiters, CR, LF, NUL and Latin-1 bytes: the same rows as Python's csv,
    except that a quote left open at the end rejects the last row (Python silently ends the field there)."""
    rng = random.Random(5)
    pieces = ['"', ",", "\r", "\n", "a", " ", "\xe9", "\x00", '""', '"a"', "\r\n", "b,c", "\t"]
    unterminated = rows = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "random.csv")
        for case in range(400):
            data = ("id,t\r\n" + "".join(rng.choice(pieces) for _ in range(rng.randrange(40)))).encode("latin-1")
            open(path, "wb").write(data)
            got = reader_records(path, ["--format", "csv", "--text-col", "t", "--id-col", "id"])
            want = expected_csv(path, ["t"], "id")
            if got and got[-1][3] and got[-1][3].startswith("unterminated quoted field"):
                unterminated += 1
                got, want = got[:-1], want[:-1]
            if [g[:4] for g in got] != want or any(g[4] != (not is_utf8(g[2])) for g in got):
                compare(repr(data), got, want)  # raises, showing the first difference
            rows += len(got)
    print(f"400 random files, {rows} rows equal to Python's; {unterminated} end in an open quote")


def test_random_jsonl_like_python():
    """Random objects written by json.dumps (escapes, non-ASCII, lone surrogates, numbers, arrays, null)."""
    rng = random.Random(3)
    alphabet = "ab \"\\/\n\t\x01\u00e9\u4e2d\U0001F600\ud800\udfff"

    def value(depth=0):
        kind = rng.randrange(7 if depth == 0 else 5)
        if kind < 2:
            return "".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
        if kind == 2:
            return rng.choice([0, -12, 3.5, 1e-7, 12345678901234567890])
        if kind == 3:
            return rng.choice([None, True, False])
        if kind == 4:
            return {"k": "v"}
        return [value(depth + 1) for _ in range(rng.randrange(4))]

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "random.jsonl")
        lines = []
        for i in range(300):
            obj = {"id": f"r{i}", "pad": [1, {"x": None}]}
            for key in ("a", "b"):
                if rng.randrange(8):
                    obj[key] = value()
            lines.append(json.dumps(obj, ensure_ascii=rng.randrange(2) == 0))
        data = "\n".join(lines).encode("utf-8", "surrogatepass")
        open(path, "wb").write(data)
        got = reader_records(path, ["--format", "jsonl", "--text-col", "a,b", "--id-col", "id"])
    want, want_flags = [], []
    for i, line in enumerate(lines):
        obj = load_json_literal(line)
        row = None
        for key in ("a", "b"):  # the reader reports the first key that is missing or holds no text
            if key not in obj:
                row = (i + 1, obj["id"].encode(), b"", f"missing key '{key}'")
            elif json_text(obj[key]) is None:
                what = "is a JSON object" if isinstance(obj[key], dict) else "holds an array or object inside its array"
                row = (i + 1, obj["id"].encode(), b"", f"key '{key}' {what}, not text")
            if row:
                break
        if row is None:
            row = expected_row(i + 1, i, lambda k: obj[k].encode() if k == "id" else json_text(obj[k]).encode(),
                               ["a", "b"], "id", missing="key")
        want.append(row)
        raw = " ".join(json_text(obj[k], repair=False) for k in ("a", "b")) if row[3] is None else ""
        want_flags.append(int(bool(LONE_SURROGATE.search(raw))))
    for g, w, flag in zip(got, want, want_flags):
        if g[:4] != w or g[4] != flag:
            raise AssertionError(f"line {w[0]}: {lines[w[0] - 1]!r}\n  reader: {g!r}\n  python: {w!r} {flag}")
    if len(got) != len(want):
        raise AssertionError(f"{len(got)} rows, Python {len(want)}")
    print(f"300 random JSON lines equal to Python's json: {sum(1 for w in want if not w[3])} accepted, "
          f"{sum(want_flags)} with a lone surrogate (U+FFFD, flagged)")


def nasty_csv(path, target_bytes, seed=7):
    """Writes a CSV of about target_bytes full of awkward rows; returns the reject and invalid UTF-8 counts
    the reader must report, known from what was written."""
    rng = random.Random(seed)
    words = ["soft", "cotton", "\u00e9t\u00e9", "blue", "\u5c0f", "lamp", "oak", "x" * 40, "steel", "\u2603"]
    counts = {"rows": 0, "empty line": 0, "missing column 'text'": 0, "empty text": 0, "unterminated": 0,
              "invalid_utf8": 0}
    with open(path, "wb") as f:
        f.write(b"id,text,category\r\n")
        size, n = 0, 0
        while size < target_bytes:
            kind = rng.randrange(100)
            text = " ".join(rng.choice(words) for _ in range(rng.randrange(3, 30))).encode()
            if kind < 2:
                row = b"\r\n"
                counts["empty line"] += 1
            elif kind < 4:
                row = b"%d\r\n" % n
                counts["missing column 'text'"] += 1
            elif kind < 6:
                row = b'%d,"  ",cat\r\n' % n
                counts["empty text"] += 1
            elif kind < 9:
                row = b'%d,caf\xe9 %s,cat\r\n' % (n, text)  # Latin-1 inside UTF-8
                counts["invalid_utf8"] += 1
            elif kind < 14:
                row = b'%d,"%s ""quoted""\r\nsecond line, with comma",cat\r\n' % (n, text)
            elif kind < 18:
                row = b'%d,bare "quotes" %s,cat\n' % (n, text)
            elif kind < 19:
                row = b'%d,nul\x00byte %s,cat\n' % (n, text)
            else:
                row = b"%d,%s,cat\r\n" % (n, text)
            f.write(row)
            size += len(row)
            n += 1
        f.write(b'%d,"unbalanced quote runs to the end\r\n%d,never,closed\r\n' % (n, n + 1))
        counts["unterminated"] = 1
        counts["rows"] = n + 1
    return counts


def check_nasty(path, counts):
    records = run_driver(path, ["--format", "csv", "--text-col", "text", "--id-col", "id"], summary=True)
    summary = records.pop()
    reasons = {}
    for r in records:
        key = "unterminated" if r["reject"].startswith("unterminated quoted field") else r["reject"]
        reasons[key] = reasons.get(key, 0) + 1
    want = {k: v for k, v in counts.items() if k not in ("rows", "invalid_utf8")}
    print(f"{os.path.getsize(path) / 1e6:.1f} MB: {summary['rows']} rows, {summary['rejected']} rejected "
          f"{reasons}, {summary['invalid_utf8']} invalid UTF-8, {summary['seconds']:.2f} s "
          f"({summary['bytes'] / 1e6 / summary['seconds']:.0f} MB/s), peak RSS {summary['max_rss_kb']} KiB")
    if summary["rows"] != counts["rows"] or reasons != want or summary["invalid_utf8"] != counts["invalid_utf8"]:
        raise AssertionError(f"accounting: got {summary} {reasons}, wrote {counts}")
    if len(records) != summary["rejected"]:
        raise AssertionError(f"{len(records)} rejected rows listed, {summary['rejected']} counted")
    last = records[-1]
    if last["row"] != counts["rows"] - 1 or not last["reject"].endswith(f"line {last['line']}"):
        raise AssertionError(f"the unterminated quote is not the last row, reported at its line: {last}")
    return summary["max_rss_kb"]


def test_generated_50mb_bounded_memory():
    with tempfile.TemporaryDirectory() as tmp:
        small, big = os.path.join(tmp, "small.csv"), os.path.join(tmp, "big.csv")
        rss_small = check_nasty(small, nasty_csv(small, 5 << 20))
        rss_big = check_nasty(big, nasty_csv(big, 50 << 20))
        print(f"peak RSS: {rss_small} KiB for 5 MB, {rss_big} KiB for 50 MB")
        if rss_big > 2 * rss_small or rss_big > 64 << 10:
            raise AssertionError(f"memory grows with the input: {rss_small} KiB -> {rss_big} KiB")
