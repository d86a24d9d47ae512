"""`userec related` filters (--min-score, --dedupe-above, --only-same, --only-other; engine/topk/topk_cpu.c) against a
float64 NumPy brute force: each list must be the k best neighbours that pass every filter, in the usual order.

The engine scores in fp32 (docs/topk.md): a score may differ from its float64 cosine by TOL. The thresholds are
put where no pair scores within 4 TOL of them, so whether a pair passes a score filter is never a rounding
question; near-ties among the candidates themselves are judged as in test_topk.py (sorted float64 scores agree
within 2 TOL)."""
import csv
import json
import os
import tempfile

import numpy as np

import common

TOL = (16 + 16) * 2.0 ** -24  # the fp32 summation bound of docs/topk.md at d = 16


def _catalogue(tmp, n, rng):
    """A CSV catalogue of n items with ids, a category (3 values, one of them empty) and a brand (5 values)."""
    cats = ["shoes", "", "bags"]
    rows = [{"id": f"item-{i}", "name": f"product {i}", "category": cats[int(rng.integers(3))],
             "brand": f"brand {int(rng.integers(5))}"} for i in range(n)]
    path = os.path.join(tmp, "catalogue.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "name", "category", "brand"])
        w.writeheader()
        w.writerows(rows)
    return path, rows


def _vectors(rng, n, dim):
    """Unit vectors with exact duplicates (rows 5 and 9 equal row 3; row 12 equals row 7) so that --dedupe-above and
    the tie order have something to act on."""
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x[5] = x[9] = x[3]
    x[12] = x[7]
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _threshold_in_a_gap(scores, target):
    """A threshold near target with no score within 4 TOL of it."""
    flat = np.sort(scores.ravel())
    for step in range(2000):
        for s in (target + step * 1e-4, target - step * 1e-4):
            j = np.searchsorted(flat, s)
            near = flat[max(j - 1, 0):j + 1]
            if near.size == 0 or np.min(np.abs(near - s)) > 4 * TOL:
                return float(np.float32(s))
    raise AssertionError(f"no gap near {target}")


def _run_related(tmp, x, ids, k, extra, out="out.jsonl"):
    np.save(os.path.join(tmp, "items.npy"), x)
    with open(os.path.join(tmp, "items.ids"), "w") as f:
        f.write("".join(i + "\n" for i in ids))
    cmd = [common.BIN, "related", "--emb", os.path.join(tmp, "items.npy"), "--ids", os.path.join(tmp, "items.ids"),
           "-k", str(k), "-o", os.path.join(tmp, out), "--quiet"] + list(extra)
    return common.run(cmd, check=False)


def _read_jsonl(path, ids):
    row = {name: r for r, name in enumerate(ids)}
    with open(path) as f:
        docs = [json.loads(line) for line in f]
    return [[row[n] for n in d["neighbors"]] for d in docs], [d["scores"] for d in docs]


def _check(label, x, k, got_index, got_score, passes):
    """passes[q, j]: whether item j passes every filter for query q (self excluded)."""
    ref = x.astype(np.float64) @ x.astype(np.float64).T
    unfiltered = np.argsort(-np.where(np.eye(len(x), dtype=bool), -np.inf, ref), axis=1, kind="stable")[:, :k]
    changed = int(sum(not passes[q, unfiltered[q]].all() for q in range(len(x))))
    assert changed, f"{label}: the filter leaves every unfiltered list as it is: the case tests nothing"
    checked = short = 0
    for q in range(len(x)):
        idx, sc = np.array(got_index[q], dtype=np.int64), np.array(got_score[q])
        cand = np.flatnonzero(passes[q])
        want = min(k, cand.size)
        assert len(idx) == want, f"{label}: query {q}: {len(idx)} neighbours, {want} pass the filters"
        assert all(passes[q, idx]), f"{label}: query {q}: returned {idx[~passes[q, idx]].tolist()}, which fail a filter"
        order_ok = (sc[:-1] > sc[1:]) | ((sc[:-1] == sc[1:]) & (idx[:-1] < idx[1:]))
        assert order_ok.all(), f"{label}: query {q}: not in (score desc, index asc) order: {list(zip(idx, sc))}"
        assert np.all(np.abs(sc - ref[q, idx]) <= TOL), f"{label}: query {q}: a score is not its item's cosine"
        best = np.sort(ref[q, cand])[::-1][:want]
        got = np.sort(ref[q, idx])[::-1]
        assert np.all(np.abs(best - got) <= 2 * TOL), \
            f"{label}: query {q}: not the best passing candidates: {got[:5]} vs {best[:5]}"
        checked += want
        short += want < k
    print(f"{label}: {checked} neighbours of {len(x)} queries checked against the float64 brute force; the filter "
          f"changed {changed} lists, {short} lists are shorter than k")


@common.quick
def test_filters_match_a_numpy_brute_force():
    rng = np.random.default_rng(17)
    n, dim, k = 700, 16, 7  # more than one 512-row tile: the all-pairs transposed path is filtered too
    x = _vectors(rng, n, dim)
    ref = x.astype(np.float64) @ x.astype(np.float64).T
    low, high, top = _threshold_in_a_gap(ref, 0.55), _threshold_in_a_gap(ref, 0.7), _threshold_in_a_gap(ref, 0.62)
    not_self = ~np.eye(n, dtype=bool)
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        cat, rows = _catalogue(tmp, n, rng)
        ids = [r["id"] for r in rows]
        category = np.array([r["category"] for r in rows])
        brand = np.array([r["brand"] for r in rows])
        same_cat = category[:, None] == category[None, :]
        other_brand = brand[:, None] != brand[None, :]
        cases = [
            ("--min-score", ["--min-score", str(low)], not_self & (ref >= low)),
            ("--min-score (few pass)", ["--min-score", str(top)], not_self & (ref >= top)),
            ("--dedupe-above", ["--dedupe-above", str(high)], not_self & (ref <= high)),
            ("--only-same category", ["--catalog", cat, "--id-col", "id", "--only-same", "category"],
             not_self & same_cat),
            ("--only-other brand + both scores",
             ["--catalog", cat, "--id-col", "id", "--only-other", "brand", "--min-score", str(low), "--dedupe-above",
              str(high)], not_self & other_brand & (ref >= low) & (ref <= high)),
        ]
        for label, extra, passes in cases:
            proc = _run_related(tmp, x, ids, k, extra)
            assert proc.returncode == 0, proc.stderr
            index, score = _read_jsonl(os.path.join(tmp, "out.jsonl"), ids)
            _check(label, x, k, index, score, passes)


def test_dedupe_above_drops_the_duplicates_and_keeps_the_tie_order():
    """The filtered list is the unfiltered one without the near-duplicates: the same scores, the same order."""
    rng = np.random.default_rng(3)
    x = _vectors(rng, 40, 16)
    ids = [f"i{j}" for j in range(40)]
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        assert _run_related(tmp, x, ids, 6, []).returncode == 0
        plain, plain_scores = _read_jsonl(os.path.join(tmp, "out.jsonl"), ids)
        assert _run_related(tmp, x, ids, 3, ["--dedupe-above", "0.9999"]).returncode == 0
        deduped, scores = _read_jsonl(os.path.join(tmp, "out.jsonl"), ids)
    assert plain[3][:2] == [5, 9] and plain_scores[3][0] == plain_scores[3][1], (plain[3], plain_scores[3])
    assert plain[12][0] == 7 and not {5, 9} & set(deduped[3]) and 7 not in deduped[12], (deduped[3], deduped[12])
    for q in range(40):
        kept = [(j, s) for j, s in zip(plain[q], plain_scores[q]) if s <= 0.9999][:3]
        assert list(zip(deduped[q], scores[q])) == kept, (q, deduped[q], kept)


def test_python_module_filters_agree_with_the_cli():
    import sys
    sys.path.insert(0, os.path.join(common.ROOT, "python"))
    import userec

    rng = np.random.default_rng(5)
    x = _vectors(rng, 300, 16)
    ids = [f"i{j}" for j in range(300)]
    groups = rng.integers(0, 4, 300)
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        with open(os.path.join(tmp, "cat.csv"), "w") as f:
            f.write("id,g\n" + "".join(f"i{j},g{groups[j]}\n" for j in range(300)))
        proc = _run_related(tmp, x, ids, 5, ["--catalog", os.path.join(tmp, "cat.csv"), "--id-col", "id",
                                             "--only-same", "g", "--min-score", "0.1"])
        assert proc.returncode == 0, proc.stderr
        cli_index, cli_score = _read_jsonl(os.path.join(tmp, "out.jsonl"), ids)
        with open(os.path.join(tmp, "out.jsonl.related.json")) as f:
            facts = json.load(f)
    index, score = userec.related(x, k=5, min_score=0.1, groups=groups, group_rule="same")
    for q in range(300):
        n = len(cli_index[q])
        assert index[q, :n].tolist() == cli_index[q] and np.all(index[q, n:] == -1), q
        assert np.array_equal(score[q, :n], np.array(cli_score[q], dtype=np.float32)), q
    assert facts["only_same"] == "g" and facts["min_score"] == 0.1 and facts["k"] == 5 and facts["groups"] == 4, facts


def test_filter_options_are_checked():
    rng = np.random.default_rng(1)
    x = _vectors(rng, 20, 16)
    ids = [f"i{j}" for j in range(20)]
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        cat = os.path.join(tmp, "cat.csv")
        with open(cat, "w") as f:
            f.write("id,brand\n" + "".join(f"i{j},b{j % 3}\n" for j in range(19)))  # i19 is missing
        usage = [(["--only-same", "brand"], "--catalog"),
                 (["--catalog", cat, "--id-col", "id"], "serve --only-same"),
                 (["--min-score", "0.5", "--device", "cuda"], "CPU only"),
                 (["--min-score", "2"], "from -1 to 1"),
                 (["--catalog", cat, "--only-same", "brand", "--only-other", "brand"], "one of"),
                 (["--catalog", cat, "--only-same", "brand", "--queries", os.path.join(tmp, "items.npy")],
                  "all-pairs")]
        for extra, says in usage:
            proc = _run_related(tmp, x, ids, 3, extra)
            assert proc.returncode == common.EXIT_USAGE and says in proc.stderr, (extra, proc.stderr)
        proc = _run_related(tmp, x, ids, 3, ["--catalog", cat, "--id-col", "id", "--only-other", "brand"])
        assert proc.returncode == common.EXIT_DATAERR and "'i19'" in proc.stderr, proc.stderr
        assert not os.path.exists(os.path.join(tmp, "out.jsonl"))
        proc = _run_related(tmp, x, ids, 3, ["--catalog", cat, "--id-col", "nope", "--only-other", "brand"])
        assert proc.returncode == common.EXIT_DATAERR and "no column 'nope'" in proc.stderr, proc.stderr
        before = open(cat, "rb").read()  # neither the lists nor their facts file may replace an input
        proc = _run_related(tmp, x, ids, 3, ["--catalog", cat, "--id-col", "id", "--only-other", "brand"], out="cat.csv")
        assert proc.returncode == common.EXIT_USAGE and "must not replace an input" in proc.stderr, proc.stderr
        os.replace(os.path.join(tmp, "items.ids"), os.path.join(tmp, "x.related.json"))
        proc = common.run([common.BIN, "related", "--emb", os.path.join(tmp, "items.npy"), "--ids",
                           os.path.join(tmp, "x.related.json"), "-o", os.path.join(tmp, "x.csv")], check=False)
        assert proc.returncode == common.EXIT_USAGE and "must not replace an input" in proc.stderr, proc.stderr
        assert open(cat, "rb").read() == before and not os.path.exists(os.path.join(tmp, "x.csv"))
