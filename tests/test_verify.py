"""`userec verify`: the real USE-lite's published outputs (weights/published.json, built into the binary) tell the
real model from any other. Real weights cannot be had here, so the "matches" path is exercised with figures of the
test weights computed independently: the float64 NumPy forward pass for the vectors, python3-sentencepiece for the
ids, NumPy for the STS Benchmark correlation."""
import json
import os
import sys
import tempfile

import numpy as np

import common
from common import BIN, DATA, ROOT, SPM_MODEL, need_shared, run
from reference_forward import embed as reference_embed
from reference_forward import read_tfjs

PUBLISHED = os.path.join(ROOT, "weights", "published.json")
STS_DEV = os.path.join(DATA, "sts", "stsbenchmark", "sts-dev.csv")


def published():
    with open(PUBLISHED, encoding="utf-8") as f:
        return json.load(f)


@common.quick
def test_the_test_weights_are_not_the_real_use_lite():
    """The built-in figures, on the test weights: a plain 'not the real USE-lite' and exit 1; the tokenizer, which is
    the real one, gives the published ids."""
    proc = run([BIN, "verify", common.test_usew()], check=False)
    print(proc.stdout)
    assert proc.returncode == common.EXIT_DATAERR, (proc.returncode, proc.stderr)
    assert "is not the real USE-lite (TF Hub google/universal-sentence-encoder-lite/2): 4 of 4 checks differ" in proc.stdout
    assert proc.stdout.count("tokenizer (spm): the published ids") == 3, proc.stdout
    assert "STS Benchmark dev: not checked (give --sts" in proc.stdout


@common.quick
def test_built_in_figures_are_weights_published_json():
    """The figures compiled into userec are exactly the documented file (with its sources), and they are the ones of
    ../shared/fixtures/use-lite/PUBLISHED.md; the published texts' ids are python3-sentencepiece's."""
    proc = run([BIN, "verify", "--show-reference"])
    with open(PUBLISHED, encoding="utf-8") as f:
        assert proc.stdout == f.read()
    ref = published()
    need_shared("fixtures/use-lite/PUBLISHED.md")
    with open(os.path.join(common.USE_LITE, "PUBLISHED.md"), encoding="utf-8") as f:
        source = f.read()
    for k in range(1, 5):
        for value in ref[f"leading_{k}"]:
            assert repr(value) in source, (k, value)
        if f"text_{k}" in ref:
            assert f"`{ref[f'text_{k}']}`" in source, k
    assert repr(ref["sts_dev_pearson"]) in source and "[1394, 920, 2683]" in source
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=SPM_MODEL)
    for k in range(1, 4):
        assert sp.encode(ref[f"text_{k}"]) == ref[f"ids_{k}"], k


def _sts_pairs():
    """(gold scores, sentences 1, sentences 2) of the lines of exactly 7 tab-separated fields (docs/verify.md)."""
    gold, first, second = [], [], []
    with open(STS_DEV, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 7:
                gold.append(float(fields[4]))
                first.append(fields[5])
                second.append(fields[6])
    return np.array(gold), first, second


def _sts_pearson_of_test_weights(model, tmp):
    """The notebook's figure for the test weights: vectors from `userec embed` (SentencePiece ids), everything else
    (which lines count, cosine, -arccos, Pearson) computed here."""
    gold, first, second = _sts_pairs()
    lines = os.path.join(tmp, "sts.txt")
    with open(lines, "w", encoding="utf-8") as f:
        for a, b in zip(first, second):
            f.write(f"{a}\n{b}\n")
    out = os.path.join(tmp, "sts.npy")
    run([BIN, "embed", "--model", model, "--input", lines, "-o", out, "--tokenizer", "spm", "--quiet"])
    v = np.load(out).astype(np.float64)
    cos = np.clip((v[0::2] * v[1::2]).sum(1), -1, 1)
    return float(np.corrcoef(-np.arccos(cos), gold)[0, 1]), len(gold)


def test_verify_matches_figures_computed_from_the_test_weights():
    """Fed figures of the test weights themselves, verify must say they match; one figure moved by twice the
    tolerance, or the STS figure by 0.002, and it must say plainly that they do not."""
    need_shared("data/sts/stsbenchmark/sts-dev.csv")
    model = common.test_usew()
    specs, buffer = read_tfjs(common.tfjs_test_model())
    ref = published()
    ref["model"] = "the test weights (seed 1)"
    vectors = reference_embed(specs, buffer, [ref[f"ids_{k}"] for k in range(1, 5)])
    for k in range(1, 5):
        ref[f"leading_{k}"] = [float(x) for x in vectors[k - 1][:len(ref[f"leading_{k}"])]]
    with tempfile.TemporaryDirectory(prefix="userec-verify-") as tmp:
        ref["sts_dev_pearson"], n_pairs = _sts_pearson_of_test_weights(model, tmp)
        path = os.path.join(tmp, "ref.json")

        def verify(figures):
            with open(path, "w", encoding="utf-8") as f:
                json.dump(figures, f)
            proc = run([BIN, "verify", model, "--reference", path, "--sts", STS_DEV], check=False)
            print(proc.stdout)
            return proc

        proc = verify(ref)
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert "IS the test weights (seed 1): all 5 checks match" in proc.stdout
        assert f"{n_pairs} pairs of {STS_DEV} (22 other lines left out)" in proc.stdout
        moved = json.loads(json.dumps(ref))
        moved["leading_2"][1] += 2 * ref["leading_tolerance"]
        proc = verify(moved)
        assert proc.returncode == common.EXIT_DATAERR and "is not the test weights (seed 1): 1 of 5 checks differ" in proc.stdout
        moved = json.loads(json.dumps(ref))
        moved["sts_dev_pearson"] += 0.002
        proc = verify(moved)
        assert proc.returncode == common.EXIT_DATAERR and "1 of 5 checks differ" in proc.stdout
        assert "Pearson correlation" in proc.stdout and "DIFFERS (tolerance 0.001)" in proc.stdout
        moved = json.loads(json.dumps(ref))
        moved["ids_1"] = [184, 147, 1341, 425]  # ids the tokenizer does not give for "Elephant"
        proc = verify(moved)
        assert proc.returncode == common.EXIT_DATAERR and "DIFFERENT ids from the published ones" in proc.stdout


def test_verify_refuses_bad_references_and_arguments():
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-verify-") as tmp:
        path = os.path.join(tmp, "ref.json")
        ref = published()
        cases = [({k: v for k, v in ref.items() if k != "model"}, "no 'model'"),
                 ({**ref, "cases": 17}, "'cases' must be a whole number from 1 to 16"),
                 ({**ref, "leading_2": ["x"]}, "'leading_2' holds 'x', not a number"),
                 ({**ref, "ids_1": [-1]}, "'ids_1' holds -1, not a token id"),
                 ({k: v for k, v in ref.items() if k != "leading_3"}, "case 3 needs 'ids_3' and 'leading_3'")]
        for figures, expected in cases:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(figures, f)
            proc = run([BIN, "verify", model, "--reference", path], check=False)
            assert proc.returncode == common.EXIT_DATAERR and expected in proc.stderr, (expected, proc.stderr)
        with open(path, "w") as f:
            f.write("{not json")
        proc = run([BIN, "verify", model, "--reference", path], check=False)
        assert proc.returncode == common.EXIT_DATAERR and path in proc.stderr, proc.stderr
        proc = run([BIN, "verify"], check=False)
        assert proc.returncode == common.EXIT_USAGE and "exactly one MODEL.usew" in proc.stderr
        proc = run([BIN, "verify", os.path.join(tmp, "missing.usew")], check=False)
        assert proc.returncode == common.EXIT_NOINPUT and "missing.usew" in proc.stderr
        # tiny widths: 32 components, the figures ask for fewer; a plain "not the real USE-lite"
        proc = run([BIN, "verify", model], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "is not the real USE-lite" in proc.stdout, proc.stdout
    assert "verify" in run([BIN, "help"]).stdout
