"""`userec related` (engine/topk_cpu.c, engine/cli_related.c) against a float64 brute-force reference.

Exactness, FAISS-style (docs/topk.md): the engine scores in fp32, so a returned item's score may differ from its
float64 cosine by the fp32 rounding bound TOL, and items whose float64 scores lie within 2 TOL of the k-th may
trade places. Everything else is exact: the count, no duplicates, self excluded when asked, the order (score
descending, equal fp32 scores by lower index), and no item left out scoring more than 2 TOL above the k-th.
"""
import csv
import json
import os
import tempfile

import numpy as np

import common


def _tol(dim):
    # fp32 dot products of unit vectors: |error| <= dim * 2^-24 * sum|x_i y_i| <= dim * 2^-24 (plus the inputs'
    # own distance from unit length, a few ulps)
    return (dim + 16) * 2.0 ** -24


def _unit(rng, n, dim):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _related(tmp, items, k, queries=None, extra=(), check=True, out_name="out.jsonl"):
    """Runs `userec related` on the arrays; returns (neighbour index lists, score lists, process), the lists
    None unless the output is JSONL naming items by row number."""
    np.save(os.path.join(tmp, "items.npy"), items)
    cmd = [common.BIN, "related", "--emb", os.path.join(tmp, "items.npy"), "-k", str(k), "-o", os.path.join(tmp, out_name)]
    if queries is not None:
        np.save(os.path.join(tmp, "queries.npy"), queries)
        cmd += ["--queries", os.path.join(tmp, "queries.npy")]
    proc = common.run(cmd + list(extra), check=check)
    if proc.returncode or not out_name.endswith(".jsonl") or "--ids" in extra:
        return None, None, proc
    with open(os.path.join(tmp, out_name)) as f:
        rows = [json.loads(line) for line in f]
    return [[int(n) for n in r["neighbors"]] for r in rows], [r["scores"] for r in rows], proc


def _check_exact(label, queries, items, k, got_index, got_score, exclude_self):
    q64, i64 = queries.astype(np.float64), items.astype(np.float64)
    q64 /= np.linalg.norm(q64, axis=1, keepdims=True)
    i64 /= np.linalg.norm(i64, axis=1, keepdims=True)
    ref = q64 @ i64.T
    n_queries, n_items = ref.shape
    if exclude_self:
        ref[np.arange(n_queries), np.arange(n_queries)] = -np.inf
    tol = _tol(items.shape[1])
    want_count = min(k, n_items - (1 if exclude_self else 0))
    assert len(got_index) == n_queries, f"{label}: {len(got_index)} result rows for {n_queries} queries"
    got_scores, true_of_got, true_sorted, want_sorted, worst_gap = [], [], [], [], -np.inf
    for q in range(n_queries):
        idx, sc = np.array(got_index[q], dtype=np.int64), np.array(got_score[q], dtype=np.float64)
        assert len(idx) == want_count, f"{label}: query {q} has {len(idx)} neighbours, expected {want_count}"
        assert len(set(idx.tolist())) == len(idx), f"{label}: query {q} repeats a neighbour: {idx.tolist()}"
        assert idx.min(initial=0) >= 0 and idx.max(initial=0) < n_items, f"{label}: query {q}: index out of range"
        if exclude_self:
            assert q not in idx, f"{label}: query {q} was returned as its own neighbour"
        order_ok = (sc[:-1] > sc[1:]) | ((sc[:-1] == sc[1:]) & (idx[:-1] < idx[1:]))
        assert order_ok.all(), f"{label}: query {q}: not in (score desc, index asc) order at rank {np.argmin(order_ok) + 1}: " \
                               f"{list(zip(idx.tolist(), sc.tolist()))[:12]}"
        true = ref[q, idx]
        got_scores.append(sc)
        true_of_got.append(true)
        true_sorted.append(np.sort(true)[::-1])
        want_sorted.append(np.sort(ref[q])[::-1][:want_count])
        if want_count:
            left_out = ref[q].copy()
            left_out[idx] = -np.inf
            worst_gap = max(worst_gap, left_out.max() - true.min())
    common.assert_close(f"{label}: fp32 score vs float64 score of the returned item",
                        np.concatenate(got_scores), np.concatenate(true_of_got), tol)
    # only items within 2 TOL of the k-th may trade places, so the sorted float64 scores agree within 2 TOL
    common.assert_close(f"{label}: returned top-k (float64 scores) vs the float64 brute-force top-k",
                        np.concatenate(true_sorted), np.concatenate(want_sorted), 2 * tol)
    print(f"{label}: best item left out scores {worst_gap:.3g} above the worst returned (allowed {2 * tol:.3g})")
    assert worst_gap <= 2 * tol, f"{label}: an item left out beats the k-th returned by {worst_gap:.3g}"


def test_exact_all_pairs_random_shapes():
    rng = np.random.default_rng(6)
    # the engine's tiles are 512 rows: 1025 and 2049 leave partial tiles on and off the diagonal
    for n, k in [(1, 1), (1, 5), (2, 10), (17, 16), (1000, 1), (1025, 10), (2049, 10), (1500, 1024), (600, 700)]:
        items = _unit(rng, n, 512)
        with tempfile.TemporaryDirectory() as tmp:
            idx, sc, _ = _related(tmp, items, k)
        _check_exact(f"all-pairs n={n} k={k}", items, items, k, idx, sc, exclude_self=True)


def test_exact_queries_random_shapes():
    rng = np.random.default_rng(7)
    for n_queries, n, k in [(1, 1, 3), (5, 3000, 1), (300, 2500, 1000), (2100, 1500, 10)]:
        items, queries = _unit(rng, n, 512), _unit(rng, n_queries, 512)
        with tempfile.TemporaryDirectory() as tmp:
            idx, sc, _ = _related(tmp, items, k, queries=queries)
        _check_exact(f"queries={n_queries} n={n} k={k}", queries, items, k, idx, sc, exclude_self=False)


def test_exact_large_catalogue():
    rng = np.random.default_rng(8)
    items, queries = _unit(rng, 100_000, 512), _unit(rng, 24, 512)
    queries[:4] = items[[0, 777, 50_000, 99_999]]  # queries with an exact match in the catalogue
    for k in (10, 1024):
        with tempfile.TemporaryDirectory() as tmp:
            idx, sc, _ = _related(tmp, items, k, queries=queries)
        _check_exact(f"100k items k={k}", queries, items, k, idx, sc, exclude_self=False)
        assert [idx[q][0] for q in range(4)] == [0, 777, 50_000, 99_999], f"k={k}: exact matches not ranked first"


def test_include_self_ranks_self_first():
    rng = np.random.default_rng(9)
    items = _unit(rng, 1500, 512)
    with tempfile.TemporaryDirectory() as tmp:
        idx, sc, _ = _related(tmp, items, 5, extra=["--include-self"])
    _check_exact("include-self", items, items, 5, idx, sc, exclude_self=False)
    firsts = [row[0] for row in idx]
    assert firsts == list(range(1500)), f"first neighbours are not the items themselves: {firsts[:10]}"


@common.quick
def test_duplicates_tie_order():
    """Duplicated vectors score exactly alike: they must come lowest index first, and a group cut by the k-th
    rank keeps its lowest indices."""
    rng = np.random.default_rng(10)
    groups, copies, k = 40, 30, 45
    base = _unit(rng, groups, 512)
    group_of = rng.permutation(np.repeat(np.arange(groups), copies))
    items = base[group_of]
    with tempfile.TemporaryDirectory() as tmp:
        idx, sc, _ = _related(tmp, items, k)
    _check_exact("duplicates", items, items, k, idx, sc, exclude_self=True)
    members = {g: np.flatnonzero(group_of == g) for g in range(groups)}
    for q, (row, scores) in enumerate(zip(idx, sc)):
        row_groups = group_of[row]
        # each group appears as one run; its members in increasing index order with bit-equal scores
        runs = [g for i, g in enumerate(row_groups) if i == 0 or g != row_groups[i - 1]]
        assert len(runs) == len(set(runs)), f"query {q}: a group of duplicates is split: {row_groups.tolist()}"
        for g in runs:
            at = np.flatnonzero(row_groups == g)
            got = [row[i] for i in at]
            assert len({scores[i] for i in at}) == 1, f"query {q}: duplicates of group {g} scored differently"
            want = [m for m in members[g] if m != q][: len(got)]
            assert got == want, f"query {q}, group {g}: got indices {got}, expected the lowest first: {want}"


def test_exact_ties_of_distinct_vectors():
    """Distinct items with bit-equal scores: the query is e0 and every item has the same first component."""
    dim, n = 512, 3000
    rng = np.random.default_rng(11)
    first = np.where(np.arange(n) % 7 == 0, 0.25, 0.5)  # every 7th item is a lower tier, bit-equal among itself
    rest = rng.standard_normal((n, dim - 1))
    rest *= np.sqrt(1 - first**2)[:, None] / np.linalg.norm(rest, axis=1, keepdims=True)
    items = np.hstack([first[:, None], rest]).astype(np.float32)  # unit length within fp32 rounding: used as stored
    queries = np.zeros((1, dim), np.float32)
    queries[0, 0] = 1
    with tempfile.TemporaryDirectory() as tmp:
        idx, sc, _ = _related(tmp, items, 2700, queries=queries)
    top = [i for i in range(n) if i % 7]
    want = (top + [i for i in range(n) if i % 7 == 0])[:2700]
    assert idx[0] == want, f"tie order: got {idx[0][:8]}... expected lower index first {want[:8]}..."
    assert len(set(sc[0][: len(top)])) == 1, "the tied scores differ"


def test_k_larger_than_catalogue_csv():
    rng = np.random.default_rng(12)
    items = _unit(rng, 4, 512)
    with tempfile.TemporaryDirectory() as tmp:
        _related(tmp, items, 10, out_name="out.csv")
        with open(os.path.join(tmp, "out.csv"), newline="") as f:
            rows = list(csv.reader(f))
    assert rows[0] == ["id", "rank", "neighbor_id", "score"], rows[0]
    per_query = {}
    for id_, rank, nb, score in rows[1:]:
        per_query.setdefault(id_, []).append((int(rank), nb, float(score)))
    assert sorted(per_query) == ["0", "1", "2", "3"], per_query.keys()
    for q, found in per_query.items():
        assert [r for r, _, _ in found] == [1, 2, 3], f"query {q}: ranks {found}: 3 neighbours exist (self excluded)"
        ref = items[int(q)].astype(np.float64) @ items.astype(np.float64).T
        for _, nb, score in found:
            assert abs(score - ref[int(nb)]) <= _tol(512), f"query {q}, neighbour {nb}: score {score} vs {ref[int(nb)]}"


def _write_ids(path, ids):
    with open(path, "w", newline="") as f:
        f.write("".join(i + "\n" for i in ids))


@common.quick
def test_ids_csv_quoting_and_jsonl():
    rng = np.random.default_rng(13)
    items = _unit(rng, 6, 512)
    ids = ["plain", "with,comma", 'with "quotes"', "ünïcødé", "tab\there", "last"]
    with tempfile.TemporaryDirectory() as tmp:
        _write_ids(os.path.join(tmp, "items.ids"), ids)
        want_idx, _, _ = _related(tmp, items, 3)
        _related(tmp, items, 3, extra=["--ids", os.path.join(tmp, "items.ids")], out_name="out.csv")
        _related(tmp, items, 3, extra=["--ids", os.path.join(tmp, "items.ids")], out_name="named.jsonl")
        with open(os.path.join(tmp, "out.csv"), newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))[1:]
        with open(os.path.join(tmp, "out.csv"), encoding="utf-8") as f:
            raw = f.read()
        with open(os.path.join(tmp, "named.jsonl"), encoding="utf-8") as f:
            named = [json.loads(line) for line in f]
    assert '"with,comma"' in raw and '"with ""quotes"""' in raw, f"RFC 4180 quoting missing:\n{raw}"
    got_csv = [(r[0], int(r[1]), r[2]) for r in rows]
    want_csv = [(ids[q], r + 1, ids[n]) for q in range(6) for r, n in enumerate(want_idx[q])]
    assert got_csv == want_csv, f"CSV ids:\n{got_csv}\nexpected\n{want_csv}"
    assert [r["id"] for r in named] == ids
    assert [r["neighbors"] for r in named] == [[ids[n] for n in want_idx[q]] for q in range(6)]


def test_query_ids():
    rng = np.random.default_rng(14)
    items, queries = _unit(rng, 50, 512), _unit(rng, 3, 512)
    with tempfile.TemporaryDirectory() as tmp:
        _write_ids(os.path.join(tmp, "q.ids"), ["q-a", "q-b", "q-c"])
        idx, sc, _ = _related(tmp, items, 4, queries=queries)
        _related(tmp, items, 4, queries=queries, extra=["--query-ids", os.path.join(tmp, "q.ids")], out_name="named.jsonl")
        with open(os.path.join(tmp, "named.jsonl")) as f:
            named = [json.loads(line) for line in f]
    assert [r["id"] for r in named] == ["q-a", "q-b", "q-c"]
    assert [[int(n) for n in r["neighbors"]] for r in named] == idx


def _listing(tmp):
    return sorted(os.listdir(tmp))


def test_ids_mismatch_fails_and_writes_nothing():
    rng = np.random.default_rng(15)
    items = _unit(rng, 5, 512)
    with tempfile.TemporaryDirectory() as tmp:
        ids_path, out = os.path.join(tmp, "items.ids"), os.path.join(tmp, "out.csv")
        _write_ids(ids_path, ["a", "b", "c", "d"])
        with open(out, "w") as f:
            f.write("previous output\n")
        before = _listing(tmp)
        _, _, proc = _related(tmp, items, 3, extra=["--ids", ids_path], check=False, out_name="out.csv")
        assert proc.returncode == common.EXIT_DATAERR, f"exit {proc.returncode}: {proc.stderr}"
        msg = proc.stderr
        assert "items.ids has 4 lines" in msg and "items.npy has 5 rows" in msg, f"unclear error: {msg}"
        assert _listing(tmp) == sorted(before + ["items.npy"]), _listing(tmp)
        with open(out) as f:
            assert f.read() == "previous output\n", "the old output was touched"


def test_failed_search_leaves_no_partial_output():
    """A failure after the inputs load (here: queries of another width) leaves the old output and no temp file."""
    rng = np.random.default_rng(16)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.jsonl")
        with open(out, "w") as f:
            f.write("previous output\n")
        _, _, proc = _related(tmp, _unit(rng, 20, 512), 3, queries=_unit(rng, 2, 256), check=False)
        assert proc.returncode == common.EXIT_DATAERR and "256-d" in proc.stderr, f"exit {proc.returncode}: {proc.stderr}"
        assert _listing(tmp) == ["items.npy", "out.jsonl", "queries.npy"], _listing(tmp)
        with open(out) as f:
            assert f.read() == "previous output\n", "the old output was touched"
        # a search that fails after the output was opened (bf16 is refused on the CPU): the temp file goes too
        _, _, proc = _related(tmp, _unit(rng, 20, 512), 3, extra=["--precision", "bf16"], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "fp32 only" in proc.stderr, f"exit {proc.returncode}: {proc.stderr}"
        assert _listing(tmp) == ["items.npy", "out.jsonl", "queries.npy"], _listing(tmp)
        with open(out) as f:
            assert f.read() == "previous output\n", "the old output was touched"
        # an output directory that does not exist: the run fails and names the path
        missing = os.path.join(tmp, "no-such-dir", "out.csv")
        proc = common.run([common.BIN, "related", "--emb", os.path.join(tmp, "items.npy"), "-o", missing], check=False)
        assert proc.returncode == common.EXIT_IOERR and "no-such-dir" in proc.stderr, proc.stderr


def test_float16_and_non_unit_inputs():
    """float16 .npy is read; rows not of unit length are scaled to it (and counted on stderr)."""
    rng = np.random.default_rng(17)
    unit = _unit(rng, 800, 512)
    scaled = unit * rng.uniform(0.5, 3.0, size=(800, 1)).astype(np.float32)
    scaled[::2] = unit[::2]  # half the rows are unit length already
    half = scaled.astype(np.float16)
    with tempfile.TemporaryDirectory() as tmp:
        idx, sc, proc = _related(tmp, scaled, 8)
        assert "400 of 800 rows were not unit length" in proc.stderr, proc.stderr
        _check_exact("non-unit float32", scaled, scaled, 8, idx, sc, exclude_self=True)
        idx, sc, proc = _related(tmp, half, 8)
        assert "rows were not unit length" in proc.stderr, proc.stderr
    _check_exact("float16", half.astype(np.float32), half.astype(np.float32), 8, idx, sc, exclude_self=True)


def test_rejects_non_finite_vectors():
    items = np.ones((3, 4), np.float32) / 2
    items[1, 2] = np.nan
    with tempfile.TemporaryDirectory() as tmp:
        _, _, proc = _related(tmp, items, 2, check=False)
        assert proc.returncode == common.EXIT_DATAERR and "row 1, column 2" in proc.stderr, proc.stderr
        assert not os.path.exists(os.path.join(tmp, "out.jsonl"))


def _query_table(stdout):
    """`userec query` output -> {text: [(rank, score, id, text or None)]}."""
    tables, current = {}, None
    for line in stdout.splitlines():
        if line.startswith('"'):
            current = tables.setdefault(line[1:-1], [])
        elif line and not line.startswith("rank"):
            head, _, text = line.partition("\t")
            rank, score, id_ = head.split()
            current.append((int(rank), float(score), id_, text if _ else None))
    return tables


TITLES = ["red running shoes", "blue denim jacket, slim", "wooden dining table", "stainless steel water bottle",
          "leather office chair", 'kids "superhero" t-shirt']
SKUS = ["A1", "B2", "C3", "D4", "E5", "F6"]


def _query_catalogue(tmp):
    """A catalogue of TITLES (the last missing from the CSV) embedded through tokenize + embed --format ids;
    returns (model, the query arguments naming vectors, ids and catalogue, {sku: [(neighbour, score)]} from
    related --include-self -k 4)."""
    model = common.test_usew()
    catalog, toks, emb = (os.path.join(tmp, n) for n in ("cat.csv", "titles.ids", "items.npy"))
    with open(catalog, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "title"])
        w.writerows(zip(SKUS[:-1], TITLES[:-1]))
    with open(toks, "w") as f:
        f.write(common.run([common.BIN, "tokenize", "--model", model, *TITLES]).stdout)
    common.run([common.BIN, "embed", "--model", model, "--input", toks, "--format", "ids", "-o", emb])
    _write_ids(os.path.join(tmp, "skus.ids"), SKUS)
    args = ["--model", model, "--emb", emb, "--ids", os.path.join(tmp, "skus.ids"), "--catalog", catalog,
            "--text-col", "title", "--id-col", "sku"]
    related = os.path.join(tmp, "related.csv")
    common.run([common.BIN, "related", "--emb", emb, "--ids", os.path.join(tmp, "skus.ids"), "-k", "4",
                "--include-self", "-o", related])
    with open(related, newline="") as f:
        want = {}
        for row in csv.DictReader(f):
            want.setdefault(row["id"], []).append((row["neighbor_id"], float(row["score"])))
    return model, args, want


@common.quick
def test_query_matches_related_and_prints_catalogue_texts():
    """`query TEXT` embeds the text like tokenize + embed do, so for a catalogue text its table equals that
    item's `related --include-self` row (same ids, same scores) and the catalogue gives each neighbour's text."""
    with tempfile.TemporaryDirectory() as tmp:
        _, args, want = _query_catalogue(tmp)
        out = common.run([common.BIN, "query", *args, "-k", "4", *TITLES]).stdout
    tables = _query_table(out)
    assert sorted(tables) == sorted(TITLES), f"tables for {sorted(tables)}\n{out}"
    for title, sku in zip(TITLES, SKUS):
        got = tables[title]
        assert [r for r, _, _, _ in got] == [1, 2, 3, 4], out
        assert [i for _, _, i, _ in got] == [n for n, _ in want[sku]], f"{title}: {got} vs related {want[sku]}"
        common.assert_close(f"query '{title}' scores vs related", [s for _, s, _, _ in got], [s for _, s in want[sku]], 1e-6)
        for _, _, id_, text in got:
            expect = TITLES[SKUS.index(id_)] if id_ != SKUS[-1] else "(not in the catalogue)"
            assert text == expect, f"{title}: neighbour {id_} printed as {text!r}, catalogue says {expect!r}"


def test_query_json_from_stdin_to_a_file():
    """query - reads its texts from stdin; --format json -o FILE writes one object per text with related's exact
    scores; an empty text is refused like embed refuses it; a -k beyond the catalogue lists every item."""
    with tempfile.TemporaryDirectory() as tmp:
        _, args, want = _query_catalogue(tmp)
        out = os.path.join(tmp, "q.json")
        proc = common.run([common.BIN, "query", *args, "-k", "4", "--format", "json", "-o", out, "-"],
                          input="".join(t + "\n" for t in TITLES))
        assert proc.stdout == "", proc.stdout
        with open(out) as f:
            rows = [json.loads(line) for line in f]
        assert [r["query"] for r in rows] == TITLES
        for row, sku in zip(rows, SKUS):
            got = [(n["id"], n["score"]) for n in row["neighbors"]]
            assert [n["rank"] for n in row["neighbors"]] == [1, 2, 3, 4]
            assert [i for i, _ in got] == [i for i, _ in want[sku]], (got, want[sku])
            assert all(np.float32(g) == np.float32(w) for (_, g), (_, w) in zip(got, want[sku])), (got, want[sku])
            for n in row["neighbors"]:
                assert n["text"] == (TITLES[SKUS.index(n["id"])] if n["id"] != SKUS[-1] else None), n
        for texts, stdin, where in ((["shoes", ""], None, "text 2 is empty"), (["-"], "shoes\n\nchair\n", "<stdin>:2")):
            proc = common.run([common.BIN, "query", *args, *texts], input=stdin, check=False)
            assert proc.returncode == common.EXIT_USAGE and where in proc.stderr, proc.stderr
        big = common.run([common.BIN, "query", *args, "-k", "2147483647", "--format", "json", "shoes"])
        assert len(json.loads(big.stdout)["neighbors"]) == len(SKUS), big.stdout
        huge = common.run([common.BIN, "query", *args, "-k", "4611686018427387904", "shoes"], check=False)
        assert huge.returncode == common.EXIT_USAGE and "-k wants an integer from 1 to 2147483647" in huge.stderr, huge.stderr


def test_jsonl_is_valid_unicode_whatever_the_ids():
    """An ids file with invalid UTF-8: the JSONL output stays valid JSON (those bytes as U+FFFD, with a warning);
    the CSV output keeps the ids byte for byte."""
    ids = [b"ok", b"caf\xe9", b"\xff\xfe", b"t\xc3\xa9 \"q\""]
    with tempfile.TemporaryDirectory() as tmp:
        emb, id_file = os.path.join(tmp, "v.npy"), os.path.join(tmp, "v.ids")
        np.save(emb, np.eye(4, 8, dtype=np.float32))
        with open(id_file, "wb") as f:
            f.write(b"".join(i + b"\n" for i in ids))
        out = os.path.join(tmp, "r.jsonl")
        proc = common.run([common.BIN, "related", "--emb", emb, "--ids", id_file, "-k", "3", "-o", out])
        assert "2 ids held invalid UTF-8" not in proc.stderr and "invalid UTF-8" in proc.stderr, proc.stderr
        with open(out, "rb") as f:
            rows = [json.loads(line.decode("utf-8")) for line in f]  # strict: the file is UTF-8
        assert [r["id"] for r in rows] == ["ok", "caf\ufffd", "\ufffd\ufffd", 't\u00e9 "q"'], rows
        common.run([common.BIN, "related", "--emb", emb, "--ids", id_file, "-k", "3", "-o", os.path.join(tmp, "r.csv")])
        with open(os.path.join(tmp, "r.csv"), "rb") as f:
            assert {line.split(b",")[0] for line in f.read().splitlines()[1:]} == {b"ok", b"caf\xe9", b"\xff\xfe", b'"t\xc3\xa9 ""q"""'}


def test_memory_follows_the_catalogue_not_k():
    """related -k 10,000,000 on 20 items allocates for 20 neighbours per item, not 10 million (1.7 GB before)."""
    with tempfile.TemporaryDirectory() as tmp:
        emb = os.path.join(tmp, "v.npy")
        np.save(emb, np.random.default_rng(1).standard_normal((20, 16)).astype(np.float32))
        small = common.peak_rss_kb([common.BIN, "related", "--emb", emb, "-k", "10", "-o", os.path.join(tmp, "a.csv")])
        big = common.peak_rss_kb([common.BIN, "related", "--emb", emb, "-k", "10000000", "-o", os.path.join(tmp, "b.csv")])
        print(f"peak RSS: -k 10 {small} kB, -k 10000000 {big} kB")
        assert big < small + 20 * 1024, (small, big)
        with open(os.path.join(tmp, "b.csv")) as f:
            assert sum(1 for _ in f) == 1 + 20 * 19  # every other item, once


def test_query_dimension_mismatch():
    model = common.test_usew()
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "items.npy"), np.eye(3, 16, dtype=np.float32))
        proc = common.run([common.BIN, "query", "--model", model, "--emb", os.path.join(tmp, "items.npy"), "shoes"], check=False)
    assert proc.returncode == common.EXIT_DATAERR and "16-d" in proc.stderr and "512-d" in proc.stderr, proc.stderr
