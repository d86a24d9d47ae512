"""Crafted and careless inputs (issue 13): each gets a clear error and the right exit code, never a crash, a hang
or a silently wrong output. Every test here reproduces a failure of an earlier build."""
import os
import struct
import sys
import tempfile

import numpy as np

import common
from common import BIN, ROOT, run

sys.path.insert(0, os.path.join(ROOT, "tools"))
import usew  # noqa: E402  (tools/ is not a package)


def patched_model(src, dst, hparams=None, tensor=None):
    """Writes src with hyper-parameters replaced and, when tensor = (name, index, value), one f32 element of that
    tensor replaced; every checksum is recomputed, so only the engine's own checks stand in the way."""
    with open(src, "rb") as f:
        hp, tensors = usew.parse(f.read(), src)
    hp.update(hparams or {})
    if tensor:
        name, index, value = tensor
        t = tensors[name]
        data = bytearray(t.data)
        struct.pack_into("<f", data, 4 * index, value)
        tensors[name] = usew.Tensor(t.name, t.dtype, t.shape, bytes(data))
    with open(dst, "wb") as f:
        f.write(usew.pack(hp, list(tensors.values())))
    return dst


def embed_ids(model, tmp):
    """`userec embed` of one id line with model: (CompletedProcess, files left in tmp/out)."""
    out = os.path.join(tmp, "out", "vectors.npy")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    proc = run([BIN, "embed", "--model", model, "--input", "-", "--format", "ids", "-o", out, "--quiet"],
               check=False, input="1 2 3\n")
    return proc, sorted(os.listdir(os.path.dirname(out)))


@common.quick
def test_model_with_too_many_layers_is_refused_without_touching_memory():
    """n_layers past the 8 the format holds, with valid checksums: the refusal path once walked n_layers layers of
    an 8-entry array (0xFFFFFFFF segfaulted)."""
    src = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        for layers in (9, 0xFFFFFFFF, 0):
            model = patched_model(src, os.path.join(tmp, f"layers{layers}.usew"), {"n_layers": layers})
            proc, left = embed_ids(model, tmp)
            assert proc.returncode == common.EXIT_DATAERR, (layers, proc.returncode, proc.stderr)
            assert "implausible hyper-parameters" in proc.stderr and f"layers {layers}," in proc.stderr, proc.stderr
            assert left == [], left


def test_non_finite_model_values_are_refused_naming_the_tensor():
    """A NaN or infinity in a table, or a NaN / non-positive ln_eps, once gave NaN vectors and exit 0."""
    src = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        cases = [("l1.ffn.up.weight", 70, float("nan"), "tensor 'l1.ffn.up.weight' holds nan at element 70 (row 1, column 6)"),
                 ("embed.table", 16 * 8001 + 3, float("-inf"), "tensor 'embed.table' holds -inf at element 128019 (row 8001, column 3)"),
                 ("head.bias", 0, float("inf"), "tensor 'head.bias' holds inf at element 0")]
        for name, index, value, expected in cases:
            model = patched_model(src, os.path.join(tmp, "bad.usew"), tensor=(name, index, value))
            proc, left = embed_ids(model, tmp)
            assert proc.returncode == common.EXIT_DATAERR and expected in proc.stderr, (name, proc.stderr)
            assert left == [], left
        for field, value in (("ln_eps", float("nan")), ("ln_eps", 0.0), ("ln_eps", -1e-6), ("l2_floor", float("inf"))):
            model = patched_model(src, os.path.join(tmp, "bad.usew"), {field: value})
            proc, left = embed_ids(model, tmp)
            assert proc.returncode == common.EXIT_DATAERR and "must be positive and finite" in proc.stderr, (field, proc.stderr)
            assert left == [], left
        proc, left = embed_ids(src, tmp)  # the same path with the untouched model works
        assert proc.returncode == 0 and np.isfinite(np.load(os.path.join(tmp, "out", "vectors.npy"))).all(), proc.stderr


def _npy_with_header(path, header, payload):
    """A version 1.0 .npy with header (a dict literal as text) padded as numpy pads it, then payload."""
    body = header.encode("latin1")
    body += b" " * (-(10 + len(body) + 1) % 64) + b"\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body + payload)
    return path


def related(emb, tmp, *extra):
    out = os.path.join(tmp, "related.csv")
    return run([BIN, "related", "--emb", emb, "-o", out, "-k", "3", "--quiet", *extra], check=False, timeout=60)


def test_npy_header_is_parsed_not_searched():
    """A 3-D array was read as its first two dimensions, and a decoy could hide 'fortran_order': True."""
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        cube = os.path.join(tmp, "cube.npy")
        np.save(cube, np.ones((20, 16, 32), "<f4"))
        proc = related(cube, tmp)
        assert proc.returncode == common.EXIT_DATAERR, (proc.returncode, proc.stderr)
        assert "found a 3-D '<f4' array of shape (20, 16, 32)" in proc.stderr, proc.stderr
        data = rng.standard_normal((4, 8)).astype("<f4")
        refused = {
            "fortran": ("{'descr': '<f4', 'fortran_order': True, 'shape': (4, 8), }", "found a Fortran-order 2-D"),
            "decoy": ("{'descr': '<f4', 'fortran_order': True, 'shape': (4, 8), 'x': \"'fortran_order': False\"}",
                      "unknown key 'x'"),
            "twice": ("{'descr': '<f4', 'fortran_order': True, 'fortran_order': False, 'shape': (4, 8), }",
                      "key 'fortran_order' appears twice"),
            "big_endian": ("{'descr': '>f4', 'fortran_order': False, 'shape': (4, 8), }", "found a 2-D '>f4' array"),
            "vector": ("{'descr': '<f4', 'fortran_order': False, 'shape': (32,), }", "found a 1-D '<f4' array of shape (32,)"),
            "not_a_tuple": ("{'descr': '<f4', 'fortran_order': False, 'shape': (32), }", "a comma after a single dimension"),
            "no_shape": ("{'descr': '<f4', 'fortran_order': False}", "no 'shape' key"),
            "longer": ("{'descr': '<f4', 'fortran_order': False, 'shape': (5, 8), }", "truncated"),
            "shorter": ("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 8), }", "32 bytes after the (3, 8) array"),
        }
        for name, (header, expected) in refused.items():
            proc = related(_npy_with_header(os.path.join(tmp, name + ".npy"), header, data.tobytes()), tmp)
            assert proc.returncode == common.EXIT_DATAERR and expected in proc.stderr, (name, proc.stderr)
        # what numpy writes is read, in every header version, with double quotes, an L suffix, no trailing comma
        want = run([BIN, "related", "--emb", _npy_with_header(os.path.join(tmp, "v1.npy"),
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 8), }", data.tobytes()),
                    "-o", os.path.join(tmp, "want.csv"), "-k", "3", "--quiet"])
        want = open(os.path.join(tmp, "want.csv")).read()
        variants = {"quotes": '{"descr": "<f4", "fortran_order": False, "shape": (4L, 8L)}'}
        for name, header in variants.items():
            proc = related(_npy_with_header(os.path.join(tmp, name + ".npy"), header, data.tobytes()), tmp)
            assert proc.returncode == 0 and open(os.path.join(tmp, "related.csv")).read() == want, (name, proc.stderr)
        for version in ((2, 0), (3, 0)):
            path = os.path.join(tmp, f"v{version[0]}.npy")
            with open(path, "wb") as f:
                np.lib.format.write_array(f, data, version=version)
            proc = related(path, tmp)
            assert proc.returncode == 0 and open(os.path.join(tmp, "related.csv")).read() == want, (version, proc.stderr)


def test_special_files_are_refused_without_blocking():
    """A FIFO as --model blocked forever; /dev/zero was 'empty file'. Models, .npy and ids files must be regular."""
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo)
        emb = os.path.join(tmp, "items.npy")
        np.save(emb, np.eye(3, 8, dtype="<f4"))
        out = os.path.join(tmp, "out.npy")
        cases = [
            ([BIN, "embed", "--model", fifo, "--input", "-", "--format", "ids", "-o", out], "is a FIFO (named pipe)"),
            ([BIN, "embed", "--model", "/dev/zero", "--input", "-", "--format", "ids", "-o", out], "is a character device"),
            ([BIN, "tokenize", "--model", fifo, "hello"], "is a FIFO (named pipe)"),
            ([BIN, "info", "/dev/zero"], "is a character device"),
            ([BIN, "related", "--emb", fifo, "-o", os.path.join(tmp, "r.csv")], "is a FIFO (named pipe)"),
            ([BIN, "related", "--emb", emb, "--ids", fifo, "-o", os.path.join(tmp, "r.csv")], "is a FIFO (named pipe)"),
            ([BIN, "query", "--model", model, "--emb", emb, "--ids", "/dev/zero", "x"], "is a character device"),
        ]
        for cmd, expected in cases:
            proc = run(cmd, check=False, input="1 2\n", timeout=30)
            assert proc.returncode in (common.EXIT_NOINPUT, common.EXIT_USAGE) and expected in proc.stderr, (cmd, proc.stderr)
            assert "not a regular file" in proc.stderr, proc.stderr
        assert sorted(os.listdir(tmp)) == ["fifo", "items.npy"], os.listdir(tmp)


@common.quick
def test_no_output_replaces_an_input():
    """`embed --model m.usew ... -o m.usew` replaced the model with JSONL and exited 0; only embed's --input was
    protected. Every command's every output (and the files written beside -o) against every input, by inode."""
    model_src = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        def path(name):
            return os.path.join(tmp, name)

        with open(model_src, "rb") as f, open(path("m.usew"), "wb") as g:
            g.write(f.read())
        with open(path("in.txt"), "w") as f:
            f.write("red shoes\nblue shirt\n")
        run([BIN, "embed", "--model", path("m.usew"), "--input", path("in.txt"), "-o", path("items.npy"), "--quiet"])
        with open(path("catalog.csv"), "w") as f:
            f.write("id,title\n0,red shoes\n1,blue shirt\n")
        os.link(path("items.ids"), path("items-ids.csv"))  # another name for the same file
        os.symlink(path("m.usew"), path("link.jsonl"))
        os.link(path("in.txt"), path("in.ids"))  # `-o in.npy` writes in.ids beside it
        before = {n: open(path(n), "rb").read() for n in os.listdir(tmp)}
        p = path
        embed = [BIN, "embed", "--model", p("m.usew"), "--input", p("in.txt"), "--quiet"]
        cases = [
            (embed + ["-o", p("m.usew"), "--format-out", "jsonl"], f"-o {p('m.usew')} is the --model file"),
            (embed + ["-o", p("link.jsonl")], f"-o {p('link.jsonl')} is the --model file"),
            (embed + ["-o", p("in.npy")], f"-o {p('in.npy')} would also write {p('in.ids')}, which is the --input file"),
            ([BIN, "related", "--emb", p("items.npy"), "--ids", p("items.ids"), "-o", p("items-ids.csv")],
             f"-o {p('items-ids.csv')} is the --ids file ({p('items.ids')})"),
            ([BIN, "query", "--model", p("m.usew"), "--emb", p("items.npy"), "--catalog", p("catalog.csv"),
              "--text-col", "title", "-o", p("catalog.csv"), "shoes"], f"-o {p('catalog.csv')} is the --catalog file"),
            ([BIN, "query", "--model", p("m.usew"), "--emb", p("items.npy"), "-o", p("m.usew"), "shoes"],
             f"-o {p('m.usew')} is the --model file"),
        ]
        for cmd, expected in cases:
            proc = run(cmd, check=False)
            assert proc.returncode == common.EXIT_USAGE and expected in proc.stderr, (cmd, proc.stderr)
        after = {n: open(path(n), "rb").read() for n in os.listdir(tmp)}
        assert after == before, sorted(set(after) ^ set(before))


def test_tokenizer_memory_does_not_follow_the_text_length():
    """A 60 MB text took 2.1 GB per tokenizer thread to keep 128 tokens. Now the tokenizer reads as far as the first
    max_len + 1 tokens need (docs/limits.md): a 30 MB spaced text, a 30 MB unbroken one and 30 MB of U+FDFA (18
    code points each under NFKC) cost little more than holding their bytes."""
    model = common.tiny_usew()
    words = b" ".join(w.encode() for w in ("red", "cotton", "shirt", "with", "long", "sleeves", "and", "buttons"))
    texts = {"spaced": (words + b" ") * (30_000_000 // (len(words) + 1)), "unbroken": b"x" * 30_000_000,
             "fdfa": "\ufdfa".encode() * 10_000_000}
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        def peak_mb(kind, text):
            path = os.path.join(tmp, "in.txt")
            with open(path, "wb") as f:
                f.write(text + b"\nsecond row\n")
            return common.peak_rss_kb([BIN, "embed", "--model", model, "--input", path, "-o", os.path.join(tmp, "o.npy"),
                                       "--tokenizer", kind, "--threads", "2", "--quiet"]) / 1024

        for kind in ("spm", "tfjs"):
            base = peak_mb(kind, b"a short text")
            for name, text in texts.items():
                extra = peak_mb(kind, text) - base
                print(f"{kind} {name}: {extra:.0f} MB over the short-text run for a {len(text) / 1e6:.0f} MB text")
                # the reader's record and the window's copy hold the text twice; the tokenizer adds a few MB
                assert extra < 2.5 * len(text) / 2**20 + 40, (kind, name, extra)


@common.quick
def test_issue_13_repros_end_cleanly():
    """The issue's reproductions that other tests cover in depth, in one list: each ends with its exit code and
    message. `make fuzz` runs this file again on the CLI built with AddressSanitizer and UBSan, where any memory
    error aborts (ASAN_OPTIONS=abort_on_error=1) instead of passing for an exit code."""
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        emb, ids = os.path.join(tmp, "v.npy"), os.path.join(tmp, "v.ids")
        np.save(emb, np.random.default_rng(1).standard_normal((20, 32)).astype("<f4"))
        with open(ids, "wb") as f:
            f.write(b"".join(b"caf\xe9 %d\n" % i for i in range(20)))
        out_csv, out_jsonl = os.path.join(tmp, "r.csv"), os.path.join(tmp, "r.jsonl")
        cases = [
            ([BIN, "query", "--model", model, "--emb", emb, "-k", "4611686018427387904", "x"], common.EXIT_USAGE,
             "-k wants an integer from 1 to 2147483647"),
            ([BIN, "query", "--model", model, "--emb", emb, ""], common.EXIT_USAGE, "text 1 is empty"),
            ([BIN, "query", "--model", model, "--emb", emb, "-k", "2147483647", "shoes"], 0, ""),
            ([BIN, "related", "--emb", emb, "-k", "10000000", "-o", out_csv, "--threads", "1"], 0, ""),
            ([BIN, "related", "--emb", emb, "--ids", ids, "-k", "3", "-o", out_jsonl], 0, "held invalid UTF-8"),
            ([BIN, "related", "--emb", emb, "-o", out_csv, "--threads", "4294967297"], common.EXIT_USAGE,
             "--threads wants an integer from 1 to 1024"),
            ([BIN, "embed", "--model", model, "--input", "-", "-o", os.path.join(tmp, "e.npy"), "--threads",
              "99999999999"], common.EXIT_USAGE, "--threads wants an integer from 1 to 1024"),
            ([BIN, "tokenize", "--model", model, "--max-ids", "0", "x"], common.EXIT_USAGE,
             "--max-ids wants an integer from 1 to 2147483647"),
            ([BIN, "verify", model], common.EXIT_DATAERR, ""),
        ]
        for cmd, rc, expected in cases:
            proc = run(cmd, check=False, input="red shoes\n", timeout=120)
            assert proc.returncode == rc and expected in proc.stderr, (cmd[1:], proc.returncode, proc.stderr[-1500:])
        with open(out_csv) as f:
            assert sum(1 for _ in f) == 1 + 20 * 19
