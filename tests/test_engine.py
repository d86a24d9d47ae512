"""The CPU engine against the real TF.js graph (the oracle) and an independent float64 forward pass, plus the
`embed --format ids` contract: batch invariance, clipping, rejects accounting, atomic outputs."""
import os
import tempfile
import time

import numpy as np

import common
from common import BIN, DATA, SPM_MODEL, assert_close, need_shared, run
from oracle_client import oracle_embed
from reference_forward import embed as reference_embed
from reference_forward import read_tfjs

VOCAB_ROWS = 8002


def oracle_sequences():
    """300+ id sequences: random ids of every length class from 0 to 200 (clipping at 128), real sentences
    tokenised by python3-sentencepiece, and repeated ids, including the two embedding rows past the 8000
    pieces. Mostly short, like real text: the TF.js CPU backend needs about 30 ms per token here."""
    need_shared("data/sts/stsbenchmark/sts-dev.csv")
    import sentencepiece

    rng = np.random.default_rng(20261127)
    lengths = [0, 1, 2, 127, 128, 129, 200] + list(rng.integers(0, 201, 20)) + list(rng.integers(0, 25, 120))
    seqs = [rng.integers(0, VOCAB_ROWS, n).tolist() for n in lengths]
    sp = sentencepiece.SentencePieceProcessor(model_file=SPM_MODEL)
    with open(os.path.join(DATA, "sts", "stsbenchmark", "sts-dev.csv"), encoding="utf-8") as f:
        sentences = [line.rstrip("\n").split("\t")[5] for line in f][:150]
    seqs += [sp.encode(s) for s in sentences]
    seqs += [[7] * n for n in (1, 5, 64, 130)] + [[0] * 10, [8000, 8001, 8000], [3] * 20, [VOCAB_ROWS - 1] * 128]
    seqs += [[], [], rng.integers(0, VOCAB_ROWS, 12).tolist()]  # empty sentences mid-batch
    return seqs


def write_ids(path, seqs):
    with open(path, "w") as f:
        f.writelines(" ".join(map(str, s)) + "\n" for s in seqs)


def engine_embed(model, seqs, *extra):
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        ids = os.path.join(tmp, "ids.txt")
        out = os.path.join(tmp, "out.npy")
        write_ids(ids, seqs)
        proc = run([BIN, "embed", "--model", model, "--input", ids, "--format", "ids", "-o", out, *extra])
        return np.load(out), proc.stderr


def test_engine_matches_tfjs_graph_and_float64_reference():
    model = common.test_usew()
    tfjs = common.tfjs_test_model()
    seqs = oracle_sequences()
    assert len(seqs) >= 300, len(seqs)
    got, summary = engine_embed(model, seqs)
    print(summary.strip())
    assert f"{len(seqs)} embedded" in summary and "0 rejected" in summary, summary
    clipped = sum(len(s) > 128 for s in seqs)
    assert f"{clipped} clipped" in summary, (clipped, summary)
    want = oracle_embed(tfjs, seqs)
    assert_close(f"engine vs TF.js graph, {len(seqs)} sequences", got, want, 1e-5)
    specs, buffer = read_tfjs(tfjs)
    assert_close("engine vs float64 reference", got, reference_embed(specs, buffer, seqs), 1e-5)
    norms = np.linalg.norm(got, axis=1)
    assert np.all(np.abs(norms - 1) < 1e-5), f"not unit vectors: {norms.min()}..{norms.max()}"


@common.quick
def test_slice_matches_tfjs_graph():
    """`make check`'s slice of the test above: a clipped sentence, empty ones, random ids and real sentences
    against the TF.js graph (cached in BUILD/oracle-cache after the first run)."""
    model = common.test_usew()
    seqs = oracle_sequences()
    seqs = [seqs[i] for i in (0, 1, 5)] + seqs[30:38] + seqs[160:170] + seqs[-3:]
    got, summary = engine_embed(model, seqs)
    assert f"{len(seqs)} embedded" in summary and "1 clipped" in summary, summary
    assert_close(f"engine vs TF.js graph, {len(seqs)} sequences", got, oracle_embed(common.tfjs_test_model(), seqs), 1e-5)


def test_batch_invariance():
    """A sentence's vector is the same alone (--batch-tokens 1: every sentence its own batch) as in a mixed
    batch of all lengths, within 1e-6."""
    model = common.test_usew()
    seqs = oracle_sequences()[::7]
    mixed, _ = engine_embed(model, seqs)
    alone, _ = engine_embed(model, seqs, "--batch-tokens", "1")
    assert_close("alone vs mixed batch", alone, mixed, 1e-6)
    reordered, _ = engine_embed(model, seqs[::-1], "--threads", "1")
    assert_close("reversed order, one thread", reordered[::-1], mixed, 1e-6)


def test_threads_and_batches_change_no_bit():
    """A batch of --threads N >= 2 and at least 2,048 tokens per thread is cut into one run of sentences per thread
    (engine/cpu/encoder_cpu.c); every thread count, cut and batch size gives the same bytes, down to every
    sentence alone, with empty sentences among the others."""
    model = common.test_usew()
    seqs = oracle_sequences() * 4
    for i in range(0, len(seqs), 37):
        seqs.insert(i, [])
    want, summary = engine_embed(model, seqs, "--threads", "1", "--batch-tokens", "30000")
    for extra in (["--threads", "2"], ["--threads", "3"], ["--threads", "4"], ["--threads", "5"],
                  ["--threads", "2", "--batch-tokens", "1"]):
        got, _ = engine_embed(model, seqs, "--batch-tokens", "30000", *extra)
        common.assert_same_bits(f"{' '.join(extra)} against one thread", got, want)
    print(f"{len(seqs)} sentences ({summary.strip()}): the same bits on 1 to 5 threads and one sentence per batch")


def test_embed_rejects_are_accounted_for():
    model = common.test_usew()
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        ids = os.path.join(tmp, "ids.txt")
        with open(ids, "wb") as f:
            f.write(b"5 6 7\n12 x 3\n\n8002\n-1\n9 9\x00 9\n1 2\r\n" + b"4 " * 300 + b"\n")
        out = os.path.join(tmp, "out.npy")
        proc = run([BIN, "embed", "--model", model, "--input", ids, "--format", "ids", "-o", out], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "max-reject-rate" in proc.stderr, proc.stderr
        assert "4 of 8 rows (50.00%) were rejected" in proc.stderr and "2\t1\t'x' is not a token id" in proc.stderr
        assert sorted(os.listdir(tmp)) == ["ids.txt"], os.listdir(tmp)  # a failed run publishes nothing
        proc = run([BIN, "embed", "--model", model, "--input", ids, "--format", "ids", "-o", out, "--max-reject-rate", "1"])
        assert "8 rows read, 4 embedded, 4 rejected, 1 clipped" in proc.stderr, proc.stderr
        vectors = np.load(out)
        kept = open(os.path.join(tmp, "out.ids")).read().split()
        rejects = open(os.path.join(tmp, "out.rejects.tsv")).read().splitlines()
        assert kept == ["0", "2", "6", "7"], kept
        assert vectors.shape == (4, 512), vectors.shape
        assert rejects[0] == "line\tid\treason", rejects
        got = [r.split("\t")[:2] for r in rejects[1:]]
        assert got == [["2", "1"], ["4", "3"], ["5", "4"], ["6", "5"]], rejects
        assert "'x' is not a token id" in rejects[1] and "outside 0..8001" in rejects[2], rejects
        assert len(kept) + len(rejects) - 1 == 8
        with_empty, _ = engine_embed(model, [[5, 6, 7], [], [1, 2]])
        assert_close("accepted rows equal a clean run", vectors[:3], with_empty, 1e-6)
        proc = run([BIN, "embed", "--model", model, "--input", ids, "--format", "ids", "-o", out,
                    "--max-reject-rate", "0.5"])
        assert proc.returncode == 0


def test_embed_failure_leaves_previous_output_untouched():
    model = common.test_usew()
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        out = os.path.join(tmp, "out.npy")
        with open(out, "wb") as f:
            f.write(b"previous")
        proc = run([BIN, "embed", "--model", os.path.join(tmp, "missing.usew"), "--input", "-", "--format", "ids",
                    "-o", out], check=False, input="1 2 3\n")
        assert proc.returncode == common.EXIT_NOINPUT and "missing.usew" in proc.stderr, proc.stderr
        assert open(out, "rb").read() == b"previous"
        assert sorted(os.listdir(tmp)) == ["out.npy"], os.listdir(tmp)
        run([BIN, "embed", "--model", model, "--input", "-", "--format", "ids", "-o", out], input="1 2 3\n")
        assert np.load(out).shape == (1, 512)
        assert sorted(os.listdir(tmp)) == ["out.embed.json", "out.ids", "out.npy", "out.rejects.tsv"], os.listdir(tmp)


@common.quick
def test_bad_model_files_are_refused_with_a_hint():
    model = common.test_usew()
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        blob = open(model, "rb").read()
        cases = {
            "truncated.usew": (blob[: len(blob) // 2], "truncated"),
            "json.usew": (b'{"modelTopology": {}}', "wrong magic"),
            "flipped.usew": (blob[:-100] + bytes([blob[-100] ^ 1]) + blob[-99:], "checksum mismatch"),
            "empty.usew": (b"", "empty file"),
        }
        for name, (data, expected) in cases.items():
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            proc = run([BIN, "info", path], check=False)
            assert proc.returncode == common.EXIT_DATAERR, (name, proc.returncode, proc.stderr)
            assert expected in proc.stderr and path in proc.stderr, (name, proc.stderr)
            assert "convert.py" in proc.stderr, (name, proc.stderr)
        proc = run([BIN, "info", tmp], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "is a directory" in proc.stderr, proc.stderr


@common.quick
def test_info_describes_the_model():
    model = common.test_usew()
    out = run([BIN, "info", model]).stdout
    for expected in ("format version 1", "all ", "widths 256 512 -> d_model 512, 4 heads, ffn 1536",
                     "8002 embedding rows, 8000 tokenizer pieces", "emb_twice", "l0.proj.weight",
                     "tok.spm.charsmap", '"source_kind"', "engine         runs this model"):
        assert expected in out, (expected, out)


def test_another_seed_converted_from_tfjs_matches_the_graph():
    """Issue 2's acceptance: test weights of another seed, converted with the real SentencePiece model, embed
    fresh random sequences (a seed drawn from the clock, printed) like the real graph does."""
    seed = int(time.time()) % 100000
    model = common.test_usew(seed=2)
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(0, VOCAB_ROWS, n).tolist() for n in rng.integers(0, 60, 30)] + [[1, 2, 3], [9] * 140]
    print(f"sequence seed {seed}")
    got, _ = engine_embed(model, seqs)
    assert_close("seed-2 model vs TF.js graph", got, oracle_embed(common.tfjs_test_model(seed=2), seqs), 1e-5)
