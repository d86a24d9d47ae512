"""Both tokenizers against their references, zero mismatches allowed (docs/tokenizer.md):
spm mode against python3-sentencepiece with the real .model, tfjs mode against the npm package's own
Tokenizer with the real vocab.json (tests/tokenizer_oracle). Texts: tests/tokenizer_texts.py.
`userec tokenize --format jsonl` carries every text, NUL bytes and invalid UTF-8 included.
"""
import hashlib
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import tokenizer_texts as tt
import common
from common import BIN, BUILD, ROOT, SPM_MODEL, USE_LITE, need_shared, run

VOCAB_JSON = os.path.join(USE_LITE, "tfjs", "vocab.json")
ORACLE_DIR = os.path.join(ROOT, "tests", "tokenizer_oracle")


@lru_cache(maxsize=None)
def catalogue():
    need_shared("data")
    return tt.catalogue_texts()


def ours(kind, texts, pieces=False):
    """Our output lines for texts, through `userec tokenize --format jsonl` (stdout to a file, so that a
    long-running reference in this process cannot stall it)."""
    with tempfile.TemporaryDirectory(prefix="userec-tok-") as tmp:
        src, dst = os.path.join(tmp, "in.jsonl"), os.path.join(tmp, "out.txt")
        with open(src, "wb") as f:
            f.write(tt.to_jsonl(texts))
        cmd = [BIN, "tokenize", "--model", common.test_usew(), "--tokenizer", kind, "--input", src, "--format", "jsonl"]
        with open(dst, "wb") as out:
            proc = subprocess.run(cmd + (["--pieces"] if pieces else []), stdout=out, stderr=subprocess.PIPE)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
        with open(dst, "rb") as f:
            return f.read().decode("utf-8").split("\n")[:-1]


def sentencepiece_ids(texts):
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=SPM_MODEL)
    return [" ".join(map(str, ids)) for ids in sp.encode(texts, out_type=int, num_threads=os.cpu_count())]


def npm_tokenizer_ids(texts, exact=False):
    """The npm package's ids for texts. The package is slow (about 5 us per character), so the texts are
    shared out over one node process per core, and results are kept in BUILD/tokenizer-oracle-cache, named by
    a hash of everything they depend on."""
    need_shared("fixtures/use-lite/tfjs/vocab.json")
    records = tt.to_records(texts)
    h = hashlib.sha256()
    for path in (os.path.join(ORACLE_DIR, "tokenize.js"), os.path.join(ORACLE_DIR, "package-lock.json"), VOCAB_JSON):
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    h.update(b"exact" if exact else b"windowed")
    h.update(records)
    cached = os.path.join(BUILD, "tokenizer-oracle-cache", h.hexdigest() + ".txt")
    if not os.path.exists(cached):
        common.ensure_npm_packages(ORACLE_DIR, "the npm tokenizer reference")
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        workers = max(1, min(os.cpu_count() or 1, len(texts)))
        total = sum(len(t) + 4 for t in texts)
        chunks, start, size = [], 0, 0
        for i, t in enumerate(texts):  # cut into chunks of about equal bytes, in order
            size += len(t) + 4
            if size >= total * (len(chunks) + 1) / workers or i == len(texts) - 1:
                chunks.append(texts[start:i + 1])
                start = i + 1
        with tempfile.TemporaryDirectory(prefix="userec-tok-oracle-") as tmp:
            procs = []
            for k, chunk in enumerate(chunks):
                src, dst = os.path.join(tmp, f"{k}.rec"), os.path.join(tmp, f"{k}.txt")
                with open(src, "wb") as f:
                    f.write(tt.to_records(chunk))
                cmd = ["node", "--max-old-space-size=4096", os.path.join(ORACLE_DIR, "tokenize.js"), VOCAB_JSON,
                       src, dst] + (["--exact"] if exact else [])
                procs.append((cmd, dst, subprocess.Popen(cmd, stderr=subprocess.PIPE)))
            with open(cached + ".part", "wb") as out:
                for cmd, dst, proc in procs:
                    _, err = proc.communicate()
                    if proc.returncode != 0:
                        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}: {err.decode(errors='replace')}")
                    with open(dst, "rb") as f:
                        out.write(f.read())
        os.replace(cached + ".part", cached)
    with open(cached, "rb") as f:
        return f.read().decode("utf-8").split("\n")[:-1]


def _show(text):
    return repr(text) if len(text) <= 4000 else f"{len(text)} bytes starting {text[:300]!r}"


def assert_same(label, texts, got, want):
    """Fails on the first text whose output differs, showing the text, ours and theirs."""
    print(f"{label}: {len(texts)} texts compared")
    if len(got) != len(texts) or len(want) != len(texts):
        raise AssertionError(f"{label}: {len(texts)} texts but {len(got)} lines from us, {len(want)} from the reference")
    bad = [i for i in range(len(texts)) if got[i] != want[i]]
    if bad:
        i = bad[0]
        ours_ids, their_ids = got[i].split(" "), want[i].split(" ")
        first = next((k for k, (a, b) in enumerate(zip(ours_ids, their_ids)) if a != b), min(len(ours_ids), len(their_ids)))
        raise AssertionError(
            f"{label}: {len(bad)} of {len(texts)} texts differ; the first is #{i}: {_show(texts[i])}\n"
            f"  first difference at token {first} of {len(ours_ids)} (ours) / {len(their_ids)} (theirs)\n"
            f"  ours:   {got[i] if len(got[i]) <= 8000 else ' '.join(ours_ids[max(0, first - 20):first + 20])}\n"
            f"  theirs: {want[i] if len(want[i]) <= 8000 else ' '.join(their_ids[max(0, first - 20):first + 20])}")


def _compare_in_parallel(label, kind, texts, reference):
    """Runs ours and the reference at the same time (they use different processes), then compares."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        mine = pool.submit(ours, kind, texts)
        theirs = reference(texts)
        assert_same(label, texts, mine.result(), theirs)


def _unescape_pieces(line):
    """Pieces of one `--pieces` output line: split on spaces, then undo \\\\ and \\xNN."""
    out = []
    for piece in line.split(" ") if line else []:
        raw, i = bytearray(), 0
        while i < len(piece):
            if piece.startswith("\\\\", i):
                raw += b"\\"
                i += 2
            elif piece.startswith("\\x", i):
                raw.append(int(piece[i + 2:i + 4], 16))
                i += 4
            else:
                raw += piece[i].encode("utf-8")
                i += 1
        out.append(bytes(raw))
    return out


@common.quick
def test_spm_self_test_samples():
    """The 100 samples stored in the .model: our pieces equal SentencePiece's stored expectation, and our ids
    equal python3-sentencepiece's."""
    need_shared("fixtures/use-lite")
    samples = tt.self_test_samples()
    if len(samples) != 100:
        raise AssertionError(f"{SPM_MODEL}: {len(samples)} self-test samples, expected 100")
    texts = [s for s, _ in samples]
    pieces = [b" ".join(_unescape_pieces(line)).decode("utf-8") for line in ours("spm", texts, pieces=True)]
    assert_same("spm pieces vs the model's self-test expectations", texts, pieces, [e for _, e in samples])
    assert_same("spm ids vs python3-sentencepiece (self-test samples)", texts, ours("spm", texts),
                sentencepiece_ids(texts))


def test_spm_matches_sentencepiece_on_catalogues():
    _compare_in_parallel("spm vs python3-sentencepiece, catalogue texts", "spm", catalogue(), sentencepiece_ids)


def test_spm_matches_sentencepiece_on_edge_cases():
    texts = tt.edge_cases() + tt.all_two_byte_texts() + tt.code_point_sweeps() + tt.big_texts(catalogue())
    _compare_in_parallel("spm vs python3-sentencepiece, edge cases, byte pairs, code points, 1 MB texts", "spm",
                         texts, sentencepiece_ids)


@common.quick
def test_spm_pieces_match_sentencepiece():
    import sentencepiece

    texts = tt.edge_cases() + catalogue()[::50]
    sp = sentencepiece.SentencePieceProcessor(model_file=SPM_MODEL)
    # sentencepiece returns bytes pieces for some bytes inputs and str for others.
    want = [" ".join(p if isinstance(p, str) else p.decode("utf-8") for p in pieces)
            for pieces in sp.encode(texts, out_type=str)]
    got = [b" ".join(_unescape_pieces(line)).decode("utf-8") for line in ours("spm", texts, pieces=True)]
    assert_same("spm --pieces vs SentencePiece's EncodeAsPieces", texts, got, want)


def test_tfjs_matches_npm_tokenizer_on_self_tests_and_edge_cases():
    texts = [s for s, _ in tt.self_test_samples()] + tt.edge_cases() + tt.all_two_byte_texts()
    _compare_in_parallel("tfjs vs the npm Tokenizer, self-tests, edge cases, byte pairs", "tfjs", texts,
                         npm_tokenizer_ids)


def test_tfjs_matches_npm_tokenizer_on_catalogues():
    _compare_in_parallel("tfjs vs the npm Tokenizer, catalogue texts", "tfjs", catalogue(), npm_tokenizer_ids)


def test_tfjs_matches_npm_tokenizer_on_code_points_and_1mb_texts():
    texts = tt.code_point_sweeps() + tt.big_texts(catalogue())
    _compare_in_parallel("tfjs vs the npm Tokenizer, every code point, 1 MB texts", "tfjs", texts, npm_tokenizer_ids)


def test_tfjs_oracle_window_changes_nothing():
    """tokenize.js bounds the package's symbols.slice(i) for speed; on a sample it must give exactly what the
    untouched package gives (--exact, quadratic, so short texts only)."""
    texts = [s for s, _ in tt.self_test_samples()] + [t for t in tt.edge_cases() + catalogue()[::97] if len(t) < 3000]
    assert_same("npm Tokenizer, windowed slice vs untouched", texts, npm_tokenizer_ids(texts),
                npm_tokenizer_ids(texts, exact=True))


@common.quick
def test_cli_lines_args_and_stdin():
    """--format lines: split on \\n only, CRLF's \\r and an opening BOM dropped; arguments and stdin give the
    same ids as the reference."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=SPM_MODEL)
    lines = ["Hello world.", "", "  spaced   out  ", "tab\there", "caf\u00e9 \u2014 na\u00efve", "last"]
    want = [" ".join(map(str, sp.encode(t))) for t in lines]
    data = "\ufeff" + "\r\n".join(lines[:-1]) + "\r\n" + lines[-1]  # CRLF, no final newline, BOM first
    model = common.test_usew()
    proc = run([BIN, "tokenize", "--model", model, "--input", "-"], input=data)
    assert_same("tokenize --input - (CRLF, BOM)", lines, proc.stdout.split("\n")[:-1], want)
    proc = run([BIN, "tokenize", "--model", model, "--tokenizer", "spm", "--"] + lines)
    assert_same("tokenize TEXT...", lines, proc.stdout.split("\n")[:-1], want)


def test_cli_refuses_bad_use():
    model = common.test_usew()
    cases = [
        ([BIN, "tokenize", "--model", model], "give either --input FILE or texts"),
        ([BIN, "tokenize", "--model", model, "--tokenizer", "bpe", "x"], "--tokenizer wants spm or tfjs"),
        ([BIN, "tokenize", "--model", os.path.join(BUILD, "no-such.usew"), "x"], "no-such.usew", common.EXIT_NOINPUT),
        ([BIN, "tokenize", "--model", model, "--input", "-", "--format", "jsonl"], "stdin>:1: byte 0: expected a JSON string",
         common.EXIT_DATAERR),
    ]
    for cmd, message, *code in cases:
        want = code[0] if code else common.EXIT_USAGE
        proc = run(cmd, check=False, input="not json\n")
        if proc.returncode != want or message not in proc.stderr:
            raise AssertionError(f"{cmd[1:]}: exit {proc.returncode}, stderr {proc.stderr!r}; expected {want} and {message!r}")
    proc = run([BIN, "tokenize", "--model", model, "--tokenizer", "tfjs", "a\udcffb"], check=False)
    if proc.returncode != 0 or "1 of 1 texts held invalid UTF-8" not in proc.stderr:
        raise AssertionError(f"invalid UTF-8 argument: exit {proc.returncode}, stderr {proc.stderr!r}")


def _first_ids(kind, texts, n):
    """`userec tokenize --max-ids n` of texts: (lines, {text index: capped_at}, stderr)."""
    with tempfile.TemporaryDirectory(prefix="userec-tok-") as tmp:
        src = os.path.join(tmp, "in.jsonl")
        with open(src, "wb") as f:
            f.write(tt.to_jsonl(texts))
        proc = run([BIN, "tokenize", "--model", common.test_usew(), "--tokenizer", kind, "--input", src, "--format",
                    "jsonl", "--max-ids", str(n)])
    capped = {}
    for line in proc.stderr.splitlines():
        if "tokenized as its first" in line:  # "text K: ... tokenized as its first N bytes"
            capped[int(line.split("text ")[1].split(":")[0]) - 1] = int(line.split("its first ")[1].split(" ")[0])
    return proc.stdout.split("\n")[:-1], capped, proc.stderr


def _long_texts():
    """Texts of 1 MB and more: the big texts of the full comparisons, plus what stresses a whitespace cut: a MB
    of leading spaces, words separated by no-break spaces (NFKC and the charsmap make them spaces) or by tabs
    (spaces to SentencePiece, not to the npm package), one unbroken run after a few words, and invalid UTF-8
    only near the end, past what the first ids need."""
    words = tt.big_texts(catalogue())[0]
    return tt.big_texts(catalogue()) + [
        b" " * MEGA + words[:20000], words.replace(b" ", "\u00a0".encode()), words.replace(b" ", b"\t"),
        b"the first words then " + b"x9" * MEGA, words + b"\xff\xfe tail"]


MEGA = 1 << 20


def test_first_ids_of_long_texts_match_the_references():
    """Issue 13: the tokenizer reads a long text only as far as its first max_len + 1 ids need (embed's memory no
    longer follows the text's length). Those ids must be exactly the references' first ids of the whole text; a
    text cut at the documented cap (one unbroken run) must give exactly the references' ids of that prefix."""
    texts = _long_texts()

    def invalid(t):
        try:
            t.decode("utf-8")
            return False
        except UnicodeDecodeError:
            return True

    n_invalid = sum(map(invalid, texts))
    assert invalid(texts[-1]) and n_invalid < len(texts), n_invalid
    # the texts that must be cut at whitespace (never capped), per tokenizer: tabs are whitespace to spm only
    spaced = {"spm": {0, 3, 4, 5, 7}, "tfjs": {0, 3, 4, 7}}
    for kind, reference in (("spm", sentencepiece_ids), ("tfjs", npm_tokenizer_ids)):
        got, capped, stderr = _first_ids(kind, texts, 128)
        want = reference(texts)
        prefixes = reference([texts[i][:capped[i]] for i in sorted(capped)]) if capped else []
        for k, i in enumerate(sorted(capped)):
            want[i] = prefixes[k]
        print(f"{kind}: {len(texts)} texts of {min(map(len, texts))}+ bytes; capped (no whitespace cut): {sorted(capped)}")
        assert_same(f"{kind} --max-ids 128 vs the reference's first 128 ids", texts, got,
                    [" ".join(line.split(" ")[:128]) for line in want])
        assert {2, 6} <= set(capped) and not spaced[kind] & set(capped), capped
        assert f"{n_invalid} of {len(texts)} texts held invalid UTF-8" in stderr, stderr
