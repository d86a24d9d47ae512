"""`userec embed` end to end on text: every row accounted for on every real export in ../shared/data and on
hand-made broken files, embeddings of real sentences equal the TF.js graph fed with the reference tokenizer's
ids, batch invariance, output formats, exit codes, bounded memory."""
import gzip
import json
import os
import subprocess
import tempfile

import numpy as np

import common
from common import BIN, DATA, SPM_MODEL, assert_close, need_shared, run
from oracle_client import oracle_embed

DRIVER = os.path.join(common.BUILD, "tests", "test_input")  # prints the reader's records (tests/c/test_input.c)

# (file under ../shared/data, embed options): one per real export.
REAL_EXPORTS = [
    ("products/myntra_products_catalog.csv", ["--text-col", "ProductName,Description", "--id-col", "ProductID"]),
    ("products/adidas_usa.csv", ["--text-col", "name,description", "--id-col", "sku"]),
    ("products/ikea.csv", ["--delimiter", ";", "--text-col", "name,short_description", "--id-col", "item_id"]),
    ("matching/abt-buy/Abt.csv", ["--text-col", "name,description", "--id-col", "id"]),
    ("matching/abt-buy/Buy.csv", ["--text-col", "name,description", "--id-col", "id"]),
    ("matching/amazon-google/Amazon.csv", ["--text-col", "title,description", "--id-col", "id"]),
    ("matching/amazon-google/GoogleProducts.csv", ["--text-col", "name,description", "--id-col", "id"]),
    ("movies/tmdb_5000_movies.csv", ["--text-col", "overview", "--id-col", "id"]),
    ("movies/netflix_titles.csv", ["--text-col", "title,description", "--id-col", "show_id"]),
    ("movies/imdb_top_1000.csv", ["--text-col", "Series_Title,Overview"]),
    ("books/books_cleaned.csv", ["--text-col", "title,description", "--id-col", "isbn13"]),
    ("talks/talks.json", ["--format", "jsonl", "--text-col", "name,description", "--id-col", "objectID"]),
    ("sts/stsbenchmark/sts-dev.csv", ["--format", "tsv", "--no-header", "--text-col", "6", "--id-col", "4"]),
]


def embed(model, path, args, out_name="out.npy", check=True, tmp=None):
    """Runs embed; returns (returncode, stderr, {suffix: path}) with outputs in a temp dir (kept: pass tmp)."""
    out = os.path.join(tmp, out_name)
    proc = run([BIN, "embed", "--model", model, "--input", path, "-o", out, *args], check=check)
    stem = out.rsplit(".", 1)[0]
    return proc, {"out": out, "ids": stem + ".ids", "rejects": stem + ".rejects.tsv"}


def reader_rows(path, args):
    """The input reader's own view of the file (tests/c/test_input.c as a driver): a list of records."""
    proc = run([DRIVER] + args + [path])
    return [json.loads(line) for line in proc.stdout.splitlines()]


def check_accounting(model, path, args, tmp):
    proc, files = embed(model, path, args + ["--max-reject-rate", "1"], tmp=tmp)
    rows = reader_rows(path, [a for a in args if a != "--strict"])
    vectors = np.load(files["out"])
    ids = open(files["ids"], "rb").read().splitlines()
    rejects = open(files["rejects"], "rb").read().splitlines()[1:]
    assert len(ids) == vectors.shape[0], (len(ids), vectors.shape)
    assert len(ids) + len(rejects) == len(rows), (path, len(ids), len(rejects), len(rows))
    accepted = [r["id"].encode("latin-1") for r in rows if r["reject"] is None]
    rejected_ids = [r.split(b"\t")[1] for r in rejects]
    # rows the reader accepted are embedded unless tokenising found nothing (or --strict refused them)
    assert set(ids) <= set(accepted) and len(ids) + len(rejected_ids) == len(rows)
    assert f"{len(rows)} rows read, {len(ids)} embedded, {len(rejects)} rejected" in proc.stderr, proc.stderr
    assert np.all(np.abs(np.linalg.norm(vectors, axis=1) - 1) < 1e-4)
    return proc.stderr, rows, rejects


def test_every_real_export_is_accounted_for():
    need_shared("data")
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-embed-") as tmp:
        for rel, args in REAL_EXPORTS:
            summary, rows, rejects = check_accounting(model, os.path.join(DATA, rel), args, tmp)
            print(f"{rel}: {summary.strip().splitlines()[-1][:160]}")
            assert "0 clipped" in summary or rel.endswith(("adidas_usa.csv", "myntra_products_catalog.csv",
                                                           "books_cleaned.csv", "Abt.csv", "Amazon.csv",
                                                           "GoogleProducts.csv", "Buy.csv", "tmdb_5000_movies.csv",
                                                           "talks.json")), summary
        magazine = os.path.join(tmp, "magazine.jsonl")
        with gzip.open(os.path.join(DATA, "products", "meta_Magazine_Subscriptions.json.gz")) as src, \
                open(magazine, "wb") as dst:
            dst.write(src.read())
        summary, rows, _ = check_accounting(model, magazine, ["--text-col", "title,description", "--id-col", "asin"], tmp)
        print(f"magazine: {summary.strip().splitlines()[-1][:160]}")


def test_latin1_exports_are_repaired_or_rejected_with_strict():
    need_shared("data/matching/amazon-google/GoogleProducts.csv")
    model = common.tiny_usew()
    path = os.path.join(DATA, "matching", "amazon-google", "GoogleProducts.csv")
    args = ["--text-col", "name,description", "--id-col", "id"]
    with tempfile.TemporaryDirectory(prefix="userec-embed-") as tmp:
        summary, rows, _ = check_accounting(model, path, args, tmp)
        invalid = sum(1 for r in rows if r["invalid_utf8"])
        assert invalid > 0 and f"{invalid} repaired" in summary, (invalid, summary)
        summary, _, rejects = check_accounting(model, path, args + ["--strict"], tmp)
        assert sum(b"invalid UTF-8 (--strict)" in r for r in rejects) == invalid, summary
        proc, _ = embed(model, path, args + ["--strict"], check=False, tmp=tmp)
        assert proc.returncode == common.EXIT_DATAERR and "more than --max-reject-rate" in proc.stderr, proc.stderr


BROKEN_CSV = (b"id,name,description\r\n"
              b"1,Mug,\"Blue mug, 300 ml\"\r\n"
              b"2,Short row\r\n"
              b"3,,\r\n"
              b"4,Bad \xff\xfe bytes,ok\r\n"
              b"5,\"multi\nline\",\"says \"\"hi\"\"\"\r\n"
              b"\r\n"
              b"6,Last,\"never closed\r\n"
              b"7,swallowed,by the open quote\r\n")


def test_broken_csv_rows_are_each_reported():
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-embed-") as tmp:
        path = os.path.join(tmp, "broken.csv")
        with open(path, "wb") as f:
            f.write(BROKEN_CSV)
        args = ["--text-col", "name,description", "--id-col", "id"]
        proc, files = embed(model, path, args, check=False, tmp=tmp)
        assert proc.returncode == common.EXIT_DATAERR, proc.stderr  # 4 of 7 rows rejected: nothing is published
        assert "3\t2\tmissing column 'description'" in proc.stderr and sorted(os.listdir(tmp)) == ["broken.csv"], proc.stderr
        proc, files = embed(model, path, args + ["--max-reject-rate", "1"], tmp=tmp)
        ids = open(files["ids"]).read().split()
        rejects = [r.split("\t") for r in open(files["rejects"]).read().splitlines()]
        assert ids == ["1", "4", "5"], ids
        assert rejects[0] == ["line", "id", "reason"]
        assert [r[:2] for r in rejects[1:]] == [["3", "2"], ["4", "3"], ["8", ""], ["9", ""]], rejects
        reasons = [r[2] for r in rejects[1:]]
        assert reasons[0] == "missing column 'description'" and "empty text" in reasons[1], reasons
        assert "empty line" in reasons[2], reasons
        assert reasons[3] == "unterminated quoted field starting at line 9", reasons
        assert "7 rows read, 3 embedded, 4 rejected" in proc.stderr and "1 repaired" in proc.stderr, proc.stderr


def test_text_embeddings_equal_the_graph_fed_with_sentencepiece_ids():
    """issue 3's end-to-end check: embed --format lines on real sentences = the TF.js graph on
    python3-sentencepiece's ids, within 1e-5; and --tokenizer tfjs = the graph on the npm tokenizer's ids."""
    need_shared("data/sts/stsbenchmark/sts-test.csv")
    import sentencepiece

    from test_tokenizer import npm_tokenizer_ids

    with open(os.path.join(DATA, "sts", "stsbenchmark", "sts-test.csv"), encoding="utf-8") as f:
        sentences = [line.rstrip("\n").split("\t")[6] for line in f][:60]
    sentences += ["  Tabs\tand   runs  of spaces ", "Émoji 🎉 and “smart quotes”: 12:30"]
    model = common.test_usew()
    sp = sentencepiece.SentencePieceProcessor(model_file=SPM_MODEL)
    with tempfile.TemporaryDirectory(prefix="userec-embed-") as tmp:
        path = os.path.join(tmp, "sentences.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(s + "\n" for s in sentences)
        for kind, ids in (("spm", [sp.encode(s) for s in sentences]), ("tfjs", [list(map(int, line.split())) for line in npm_tokenizer_ids([s.encode() for s in sentences])])):
            embed(model, path, ["--tokenizer", kind], tmp=tmp)
            got = np.load(os.path.join(tmp, "out.npy"))
            assert_close(f"embed --tokenizer {kind} vs the graph on reference ids", got,
                         oracle_embed(common.tfjs_test_model(), ids), 1e-5)


def test_same_vector_whatever_batch_size_threads_or_neighbours():
    need_shared("data/movies/netflix_titles.csv")
    model = common.test_usew()
    with tempfile.TemporaryDirectory(prefix="userec-embed-") as tmp:
        path = os.path.join(tmp, "rows.csv")
        with open(os.path.join(DATA, "movies", "netflix_titles.csv"), "rb") as f:
            head = b"".join(f.readlines()[:61])
        with open(path, "wb") as f:
            f.write(head)
        args = ["--text-col", "description", "--id-col", "show_id"]
        embed(model, path, args, tmp=tmp)
        base = np.load(os.path.join(tmp, "out.npy"))
        for extra in (["--batch-tokens", "1"], ["--batch-tokens", "500", "--threads", "1"]):
            embed(model, path, args + extra, tmp=tmp)
            assert_close(f"batch invariance {' '.join(extra)}", np.load(os.path.join(tmp, "out.npy")), base, 1e-6)
        reversed_path = os.path.join(tmp, "reversed.csv")
        lines = head.splitlines(True)
        with open(reversed_path, "wb") as f:
            f.write(lines[0] + b"".join(lines[:0:-1]))
        embed(model, reversed_path, args, tmp=tmp)
        assert_close("reversed neighbours", np.load(os.path.join(tmp, "out.npy"))[::-1], base, 1e-6)


@common.quick
def test_output_formats_float16_and_jsonl():
    model = common.test_usew()
    with tempfile.TemporaryDirectory(prefix="userec-embed-") as tmp:
        path = os.path.join(tmp, "t.txt")
        with open(path, "w") as f:
            f.write('A "quoted" id\tcomes\nsecond line\n')
        embed(model, path, [], tmp=tmp)
        f32 = np.load(os.path.join(tmp, "out.npy"))
        embed(model, path, ["--dtype", "float16"], out_name="half.npy", tmp=tmp)
        f16 = np.load(os.path.join(tmp, "half.npy"))
        assert f16.dtype == np.float16 and os.path.getsize(os.path.join(tmp, "half.npy")) < 0.55 * os.path.getsize(
            os.path.join(tmp, "out.npy"))
        assert_close("float16 output", f16.astype(np.float32), f32.astype(np.float16).astype(np.float32), 0)
        jsonl_dir = os.path.join(tmp, "jsonl")
        os.mkdir(jsonl_dir)
        embed(model, path, [], out_name="out.jsonl", tmp=jsonl_dir)
        rows = [json.loads(line) for line in open(os.path.join(jsonl_dir, "out.jsonl"), encoding="utf-8")]
        assert [r["id"] for r in rows] == ["0", "1"], rows
        assert_close("jsonl output", np.array([r["embedding"] for r in rows], dtype=np.float32), f32, 0)
        assert sorted(os.listdir(jsonl_dir)) == ["out.jsonl", "out.jsonl.embed.json", "out.jsonl.rejects.tsv"], os.listdir(jsonl_dir)


@common.quick
def test_bad_options_fail_clearly_and_write_nothing():
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-embed-") as tmp:
        path = os.path.join(tmp, "x.csv")
        with open(path, "w") as f:
            f.write("a,b\n1,2\n")
        cases = [
            (["--text-col", "nope"], "nope"),
            ([], "needs --text-col"),
            (["--text-col", "b", "--tokenizer", "bert"], "--tokenizer wants spm or tfjs"),
            (["--text-col", "b", "--format", "xml"], "--format wants"),
        ]
        for args, expected in cases:
            proc, _ = embed(model, path, args, check=False, tmp=tmp)
            assert proc.returncode != 0 and expected in proc.stderr, (args, proc.stderr)
        assert sorted(os.listdir(tmp)) == ["x.csv"], os.listdir(tmp)


def test_an_output_that_is_the_input_is_refused():
    """`-o X.npy` writes X.ids, X.rejects.tsv and X.embed.json beside it: with one of them as the input, the
    job must refuse before reading, not replace its own input."""
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-embed-") as tmp:
        for name, out in [("items.ids", "items.npy"), ("items.rejects.tsv", "items.npy"),
                          ("items.jsonl.rejects.tsv", "items.jsonl"), ("items.npy", "items.npy"),
                          ("items.embed.json", "items.npy"), ("items.jsonl.embed.json", "items.jsonl")]:
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                f.write("5 6 7\n8 9\n")
            proc = run([BIN, "embed", "--model", model, "--input", path, "--format", "ids", "-o", os.path.join(tmp, out)],
                       check=False)
            assert proc.returncode == common.EXIT_USAGE and "is the --input file" in proc.stderr and name in proc.stderr, (name, proc.stderr)
            assert open(path).read() == "5 6 7\n8 9\n", name
            assert sorted(os.listdir(tmp)) == [name], os.listdir(tmp)
            os.remove(path)


def test_memory_stays_flat_as_the_input_grows():
    """Peak RSS for 20x more rows stays within 2x (bench/embed_memory.sh measures 10k vs 1M on the full model)."""
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-embed-") as tmp:
        peaks = []
        for n in (10_000, 200_000):
            path = os.path.join(tmp, f"{n}.csv")
            with open(path, "w") as f:
                f.write("id,text\n")
                f.writelines(f"{i},item {i} is a {'red blue green'.split()[i % 3]} thing\n" for i in range(n))
            peaks.append(common.peak_rss_kb([BIN, "embed", "--model", model, "--input", path, "--text-col", "text",
                                      "--id-col", "id", "-o", os.path.join(tmp, "o.npy"), "--quiet"]))
            assert np.load(os.path.join(tmp, "o.npy"), mmap_mode="r").shape[0] == n
        print(f"peak RSS: 10k rows {peaks[0]} kB, 200k rows {peaks[1]} kB")
        assert peaks[1] < 2 * peaks[0], peaks


def test_generated_50mb_file_with_nasty_rows_is_fully_accounted_for():
    """About 50 MB of CSV: a million rows, every 97th short, every 89th with empty text, every 83rd with
    invalid UTF-8, quoted newlines and doubled quotes throughout, and an unterminated quote at the very end."""
    model = common.tiny_usew()
    rng = np.random.default_rng(5)
    words = "red blue green soft warm steel cotton mug lamp chair shoe bottle book toy garden kettle".split()
    with tempfile.TemporaryDirectory(prefix="userec-embed-") as tmp:
        path = os.path.join(tmp, "big.csv")
        expect = {"rows": 0, "short": 0, "empty": 0, "invalid": 0}
        with open(path, "wb") as f:
            f.write(b"id,name,description\n")
            i = 0
            while f.tell() < 50_000_000:
                picked = " ".join(words[j] for j in rng.integers(0, len(words), 6)).encode()
                if i % 97 == 0:
                    f.write(b"%d,only a name\n" % i)
                    expect["short"] += 1
                elif i % 89 == 0:
                    f.write(b"%d,,\n" % i)
                    expect["empty"] += 1
                elif i % 83 == 0:
                    f.write(b"%d,bad \xff\xc3 bytes,%s\n" % (i, picked))
                    expect["invalid"] += 1
                else:
                    f.write(b'%d,"a ""quoted""\nname",%s\n' % (i, picked))
                i += 1
            f.write(b'%d,last,"never closed\n' % i)
            expect["rows"] = i + 1
        size_mb = os.path.getsize(path) / 1e6
        proc, files = embed(model, path, ["--text-col", "name,description", "--id-col", "id", "--max-reject-rate",
                                          "0.05"], tmp=tmp)
        rejected = expect["short"] + expect["empty"] + 1
        assert (f"{expect['rows']} rows read, {expect['rows'] - rejected} embedded, {rejected} rejected" in proc.stderr
                and f"{expect['invalid']} repaired" in proc.stderr), (expect, proc.stderr)
        reasons = [r.split(b"\t")[2] for r in open(files["rejects"], "rb").read().splitlines()[1:]]
        assert reasons.count(b"missing column 'description'") == expect["short"], reasons[:5]
        assert reasons.count(b"empty text") == expect["empty"] and b"unterminated" in reasons[-1], reasons[-3:]
        assert np.load(files["out"], mmap_mode="r").shape[0] == expect["rows"] - rejected
        print(f"{size_mb:.1f} MB, {expect}: {proc.stderr.strip().splitlines()[-1][:200]}")


def test_a_real_export_sample_equals_the_graph():
    """A sample of a real CSV export through `embed` (csv reader, column joining, spm tokenizer, encoder) equals
    the TF.js graph fed with python3-sentencepiece's ids of the same joined texts, within 1e-5."""
    need_shared("data/movies/netflix_titles.csv")
    import csv

    import sentencepiece

    with open(os.path.join(DATA, "movies", "netflix_titles.csv"), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[100:115]
    sp = sentencepiece.SentencePieceProcessor(model_file=SPM_MODEL)
    ids = [sp.encode(r["title"] + " " + r["description"]) for r in rows]
    with tempfile.TemporaryDirectory(prefix="userec-embed-") as tmp:
        path = os.path.join(tmp, "sample.csv")
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        embed(common.test_usew(), path, ["--text-col", "title,description", "--id-col", "show_id"], tmp=tmp)
        assert open(os.path.join(tmp, "out.ids")).read().split() == [r["show_id"] for r in rows]
        assert_close("netflix sample vs the graph", np.load(os.path.join(tmp, "out.npy")),
                     oracle_embed(common.tfjs_test_model(), ids), 1e-5)


def test_gzip_inputs_are_read_directly():
    """A .gz export (the Amazon metadata ships as .json.gz) embeds exactly like its decompressed copy, from a file
    or a pipe, the format guessed through the .gz; concatenated members are read on; corrupt or truncated data
    fails naming the file, and nothing is written."""
    need_shared("data/products/meta_Magazine_Subscriptions.json.gz")
    model = common.tiny_usew()
    src = os.path.join(DATA, "products", "meta_Magazine_Subscriptions.json.gz")
    args = ["--text-col", "title,description", "--id-col", "asin", "--max-reject-rate", "1"]
    with tempfile.TemporaryDirectory(prefix="userec-gz-") as tmp:
        plain = os.path.join(tmp, "magazine.jsonl")
        with gzip.open(src) as f, open(plain, "wb") as out:
            out.write(f.read())
        _, want = embed(model, plain, args, "plain.npy", tmp=tmp)
        _, got = embed(model, src, args, "gz.npy", tmp=tmp)
        for kind in ("out", "ids", "rejects"):
            assert open(want[kind], "rb").read() == open(got[kind], "rb").read(), kind
        with open(src, "rb") as f:
            piped = run([BIN, "embed", "--model", model, "--input", "-", "--format", "jsonl", *args, "-o",
                         os.path.join(tmp, "piped.npy")], stdin=f)
        assert open(os.path.join(tmp, "piped.npy"), "rb").read() == open(want["out"], "rb").read(), piped.stderr
        # two members, as `cat a.gz b.gz` makes: every row of both
        lines = open(plain, "rb").read().splitlines(keepends=True)
        double = os.path.join(tmp, "double.jsonl.gz")
        with open(double, "wb") as f:
            f.write(gzip.compress(b"".join(lines[:100])) + gzip.compress(b"".join(lines[100:])))
        proc, files = embed(model, double, args, "double.npy", tmp=tmp)
        assert open(files["out"], "rb").read() == open(want["out"], "rb").read(), proc.stderr
        # truncated and corrupt
        data = open(src, "rb").read()
        for name, broken, why in (("cut.json.gz", data[:len(data) // 2], "ends early"),
                                  ("bad.json.gz", data[:5000] + bytes(100) + data[5100:], "corrupt gzip data")):
            path = os.path.join(tmp, name)
            open(path, "wb").write(broken)
            proc = run([BIN, "embed", "--model", model, "--input", path, *args, "-o", os.path.join(tmp, name + ".npy")],
                       check=False)
            assert proc.returncode == common.EXIT_DATAERR and path in proc.stderr and why in proc.stderr, proc.stderr
            assert not os.path.exists(os.path.join(tmp, name + ".npy"))
