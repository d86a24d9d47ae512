"""`userec eval` against an independent computation: the datasets parsed here with Python's csv module, the
metrics computed with NumPy from the vectors eval used (--vectors-dir), and those vectors checked against
`userec embed` of the texts parsed here (so eval read the right texts, Latin-1 included)."""
import csv
import json
import os
import tempfile

import numpy as np

import common
from common import BIN, DATA, run

# fp32 scores against float64 ones: near-ties may order differently, so a share over n queries may differ by a
# few queries (docs/topk.md's bound decides only near-ties)
NEAR_TIES = 3


def _read_csv(path):
    """Rows of a CSV file as dicts; fields that are not UTF-8 are read as Latin-1 (the Leipzig files)."""
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8", "surrogateescape")
    rows = list(csv.DictReader(text.splitlines(keepends=True)))
    fix = {}
    for row in rows:
        for k, v in row.items():
            if v and any("\udc80" <= ch <= "\udcff" for ch in v):
                fix[v] = v.encode("utf-8", "surrogateescape").decode("latin-1")
    return [{k: fix.get(v, v) for k, v in row.items()} for row in rows]


def _ranks(v):
    """1-based ranks, ties sharing their average (scipy.stats.rankdata's 'average')."""
    order = np.argsort(v, kind="stable")
    sorted_v = v[order]
    ranks = np.empty(len(v))
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _spearman(x, y):
    return np.corrcoef(_ranks(np.asarray(x)), _ranks(np.asarray(y)))[0, 1]


def _load(vdir, name):
    with open(os.path.join(vdir, name + ".ids"), encoding="utf-8") as f:
        ids = f.read().split("\n")[:-1]
    return np.load(os.path.join(vdir, name + ".npy")), ids


def _embed_texts(tmp, model, texts):
    """`userec embed` of the texts (one per line), the independent encoding of what eval should have encoded."""
    path = os.path.join(tmp, "texts.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": str(i), "text": t}) + "\n")
    out = os.path.join(tmp, "texts.npy")
    run([BIN, "embed", "--model", model, "--input", path, "--text-col", "text", "--id-col", "id", "-o", out,
         "--quiet", "--max-reject-rate", "1"])
    with open(os.path.join(tmp, "texts.ids")) as f:
        kept = [int(line) for line in f]
    return np.load(out), kept


def _check_vectors(label, tmp, model, texts, vectors):
    """eval's vectors are embed's vectors of the texts parsed here (empty texts: eval encodes them, embed rejects
    them, so they are compared only where embed kept them)."""
    want, kept = _embed_texts(tmp, model, texts)
    common.assert_close(f"{label}: eval's vectors vs embed of the texts parsed by Python", vectors[kept], want, 1e-6)


def _matching(tmp, model, vdir, figures, name, folder, left, left_text, right, right_text, mapping, mleft, mright):
    lrows, rrows = _read_csv(os.path.join(folder, left)), _read_csv(os.path.join(folder, right))
    lv, lids = _load(vdir, f"{name}.left")
    rv, rids = _load(vdir, f"{name}.right")
    assert lids == [r["id"] for r in lrows] and rids == [r["id"] for r in rrows], f"{name}: ids differ"
    _check_vectors(f"{name} left", tmp, model, [r[left_text] for r in lrows], lv)
    _check_vectors(f"{name} right", tmp, model, [r[right_text] for r in rrows], rv)
    lpos, rpos = {i: n for n, i in enumerate(lids)}, {i: n for n, i in enumerate(rids)}
    matches = {}
    for row in _read_csv(os.path.join(folder, mapping)):
        if row[mleft] in lpos and row[mright] in rpos:
            matches.setdefault(lpos[row[mleft]], set()).add(rpos[row[mright]])
    scores = lv[sorted(matches)].astype(np.float64) @ rv.astype(np.float64).T
    first = []
    for q, left_row in enumerate(sorted(matches)):
        order = np.lexsort((np.arange(len(rv)), -scores[q]))[:1000]
        hits = [r + 1 for r, j in enumerate(order) if j in matches[left_row]]
        first.append(hits[0] if hits else 0)
    first = np.array(first)
    n = len(first)
    want = {"recall@1": np.mean(first == 1), "recall@10": np.mean((first >= 1) & (first <= 10)),
            "mrr": np.mean(np.where(first > 0, 1.0 / np.maximum(first, 1), 0))}
    for metric, value in want.items():
        got = figures[f"{name}/{metric}"]
        print(f"{name} {metric}: eval {got:.6f}, numpy {value:.6f} ({n} queries)")
        assert figures[f"{name}/{metric}/n"] == n
        assert abs(got - value) <= NEAR_TIES / n, (name, metric, got, value)


def _sts(tmp, model, vdir, figures, name, path, sick):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if sick:
        header = lines[0].split("\t")
        a_col, b_col, g_col = header.index("sentence_A"), header.index("sentence_B"), header.index("relatedness_score")
        lines = lines[1:]
    else:
        a_col, b_col, g_col = 5, 6, 4
    pairs = [(n, line.split("\t")) for n, line in enumerate(lines) if line]
    va, ids = _load(vdir, f"{name}.a")
    vb, _ = _load(vdir, f"{name}.b")
    assert [int(i) for i in ids] == [n for n, _ in pairs], f"{name}: pairs differ"
    gold = np.array([float(f[g_col]) for _, f in pairs])
    _check_vectors(f"{name} sentence 1", tmp, model, [f[a_col] for _, f in pairs], va)
    cosine = np.einsum("ij,ij->i", va.astype(np.float64), vb.astype(np.float64))
    want_s, want_p = _spearman(cosine, gold), np.corrcoef(cosine, gold)[0, 1]
    print(f"{name}: spearman eval {figures[name + '/spearman']:.6f} numpy {want_s:.6f}; pearson eval "
          f"{figures[name + '/pearson']:.6f} numpy {want_p:.6f} ({len(gold)} pairs)")
    assert abs(figures[f"{name}/spearman"] - want_s) < 1e-6 and abs(figures[f"{name}/pearson"] - want_p) < 1e-6


def _movielens(tmp, model, vdir, figures):
    folder = os.path.join(DATA, "movies")
    tmdb = _read_csv(os.path.join(folder, "tmdb_5000_movies.csv"))
    links = _read_csv(os.path.join(folder, "ml-latest-small", "links.csv"))
    tmdb_ids = {r["tmdbId"] for r in links if r["tmdbId"]}
    items = [r for r in tmdb if r["id"] in tmdb_ids and r["overview"].strip(" \t\n\r\x0b\x0c")]
    v, ids = _load(vdir, "movielens")
    assert ids == [r["id"] for r in items], "movielens: items differ"
    _check_vectors("movielens", tmp, model, [r["overview"] for r in items], v)
    item_of = {r["id"]: n for n, r in enumerate(items)}
    movie_item = {r["movieId"]: item_of[r["tmdbId"]] for r in links if r["tmdbId"] in item_of}
    liked = {}
    for r in _read_csv(os.path.join(folder, "ml-latest-small", "ratings.csv")):
        if r["movieId"] in movie_item and float(r["rating"]) >= 4.0:
            liked.setdefault(r["userId"], set()).add(movie_item[r["movieId"]])
    scores = v.astype(np.float64) @ v.astype(np.float64).T
    np.fill_diagonal(scores, -np.inf)
    n = len(items)
    top = np.array([np.lexsort((np.arange(n), -scores[i]))[:10] for i in range(n)])
    popularity = np.zeros(n, dtype=int)
    for s in liked.values():
        popularity[list(s)] += 1
    by_pop = np.lexsort((np.arange(n), -popularity))

    def hit_rate(list_of):
        hits = pairs = 0
        for s in liked.values():
            if len(s) < 2:
                continue
            for i in s:
                pairs += 1
                hits += bool(set(list_of(i)) & (s - {i}))
        return hits / pairs, pairs

    content, pairs = hit_rate(lambda i: top[i])
    popular, _ = hit_rate(lambda i: [j for j in by_pop[:11] if j != i][:10])
    random_rate = sum(len(s) * (1 - np.prod([(n - len(s) - j) / (n - 1 - j) for j in range(10)]))
                      for s in liked.values() if len(s) >= 2) / pairs
    print(f"movielens ({n} movies, {pairs} pairs): hit rate eval {figures['movielens/hit_rate@10']:.6f} numpy "
          f"{content:.6f}; popularity eval {figures['movielens/popularity_hit_rate@10']:.6f} numpy {popular:.6f}; "
          f"random {figures['movielens/random_hit_rate@10']:.6f} vs {random_rate:.6f}")
    assert figures["movielens/hit_rate@10/n"] == pairs
    assert abs(figures["movielens/hit_rate@10"] - content) <= 20 / pairs  # near-ties move a few pairs at most
    assert abs(figures["movielens/popularity_hit_rate@10"] - popular) < 1e-9
    assert abs(figures["movielens/random_hit_rate@10"] - random_rate) < 1e-9


def test_eval_matches_numpy_on_the_real_datasets():
    common.need_shared("data/matching", "data/sts", "data/movies")
    model = common.tiny_usew()  # random weights: fast, and the figures still differ from dataset to dataset
    with tempfile.TemporaryDirectory(prefix="userec-eval-") as tmp:
        vdir, out = os.path.join(tmp, "vectors"), os.path.join(tmp, "eval.json")
        proc = run([BIN, "eval", "--model", model, "--data", DATA, "--json", out, "--vectors-dir", vdir])
        assert "TEST weights" in proc.stderr and "TEST WEIGHTS" in proc.stdout, proc.stdout + proc.stderr
        with open(out) as f:
            figures = json.load(f)
        assert figures["test_weights"] is True and figures["tokenizer"] == "spm", figures
        m = os.path.join(DATA, "matching")
        _matching(tmp, model, vdir, figures, "abt-buy", os.path.join(m, "abt-buy"), "Abt.csv", "name", "Buy.csv",
                  "name", "abt_buy_perfectMapping.csv", "idAbt", "idBuy")
        _matching(tmp, model, vdir, figures, "amazon-google", os.path.join(m, "amazon-google"), "Amazon.csv", "title",
                  "GoogleProducts.csv", "name", "Amzon_GoogleProducts_perfectMapping.csv", "idAmazon", "idGoogleBase")
        _sts(tmp, model, vdir, figures, "stsb", os.path.join(DATA, "sts", "stsbenchmark", "sts-test.csv"), False)
        _sts(tmp, model, vdir, figures, "sick", os.path.join(DATA, "sts", "sick2014", "SICK_test_annotated.txt"), True)
        _movielens(tmp, model, vdir, figures)


@common.quick
def test_latin1_unknown_ids_and_one_to_many_matches():
    """A small matching set made here: Latin-1 text is read as Latin-1, a mapping row naming an unknown id is left
    out, an offer with two true matches counts once, at its better match."""
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-eval-") as tmp:
        d = os.path.join(tmp, "ab")
        os.mkdir(d)
        with open(os.path.join(d, "Abt.csv"), "wb") as f:
            f.write(b'"id","name","description","price"\n1,"Caf\xe9 Espresso Maker","x",\n2,"Red Kettle",,\n'
                    b'3,"Garden Hose 20m",,\n')
        with open(os.path.join(d, "Buy.csv"), "w", encoding="utf-8") as f:
            f.write('"id","name","description","manufacturer","price"\n10,"Café espresso maker",,,\n'
                    '11,"red kettle",,,\n12,"garden hose",,,\n13,"Red Kettle",,,\n')
        with open(os.path.join(d, "abt_buy_perfectMapping.csv"), "w") as f:
            f.write('"idAbt","idBuy"\n1,10\n2,11\n2,13\n2,13\n3,99\n')
        vdir = os.path.join(tmp, "v")
        out = os.path.join(tmp, "e.json")
        proc = run([BIN, "eval", "--model", model, "--abt-buy", d, "--json", out, "--vectors-dir", vdir])
        assert "1 of 5 mapping rows name an id in neither file" in proc.stderr, proc.stderr
        figures = json.load(open(out))
        lv, _ = _load(vdir, "abt-buy.left")
        rv, _ = _load(vdir, "abt-buy.right")
    with tempfile.TemporaryDirectory(prefix="userec-eval-") as tmp2:
        cafe, _ = _embed_texts(tmp2, model, ["Café Espresso Maker", "Red Kettle"])
    common.assert_close("Latin-1 'Caf\\xe9' encoded as UTF-8 'Café'", lv[:2], cafe, 0)
    assert figures["abt-buy/recall@1/n"] == 2  # offers 1 and 2; offer 3's only match is unknown
    # offer 2 ("Red Kettle") is identical to Buy 13: its better match is rank 1 whatever 11 scores
    scores = lv[:2].astype(np.float64) @ rv.astype(np.float64).T
    first_cafe = 1 + int(np.sum(scores[0] > scores[0, 0]))
    assert figures["abt-buy/recall@1"] == (1 + (first_cafe == 1)) / 2, (figures, scores)


@common.quick
def test_options_are_checked_and_baseline_compares():
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-eval-") as tmp:
        for args, says in [([], "at least one dataset"), (["--movielens", tmp], "go together"),
                           (["--stsb", "x", "--tokenizer", "bert"], "spm or tfjs")]:
            proc = run([BIN, "eval", "--model", model] + args, check=False)
            assert proc.returncode == common.EXIT_USAGE and says in proc.stderr, (args, proc.stderr)
        proc = run([BIN, "eval", "--model", model, "--stsb", os.path.join(tmp, "missing.csv")], check=False)
        assert proc.returncode == common.EXIT_NOINPUT and "missing.csv" in proc.stderr, proc.stderr
        sts = os.path.join(tmp, "sts.csv")
        with open(sts, "w") as f:
            f.write("g\tf\t2012\t1\t5.000\tA man plays a guitar.\tA man is playing a guitar.\n"
                    "g\tf\t2012\t2\t0.500\tA cat sleeps.\tStock markets fell today.\n"
                    "g\tf\t2012\t3\t2.000\tA dog runs in a park.\tA dog is running.\n"
                    "broken line without tabs\n")
        first = os.path.join(tmp, "first.json")
        proc = run([BIN, "eval", "--model", model, "--stsb", sts, "--json", first])
        assert "1 rows without two sentences and a score left out" in proc.stderr, proc.stderr
        proc = run([BIN, "eval", "--model", model, "--stsb", sts, "--baseline", first, "--tokenizer", "tfjs"])
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("stsb") and "spearman" in ln][0]
        value, n, base, change = line.split()[2:6]
        assert n == "3" and abs(float(value) - float(base) - float(change)) < 2e-4, line
        assert "tokenizer tfjs" in proc.stdout, proc.stdout
        before = open(sts, "rb").read()
        proc = run([BIN, "eval", "--model", model, "--stsb", sts, "--json", sts], check=False)
        assert proc.returncode == common.EXIT_USAGE and "must not replace an input" in proc.stderr, proc.stderr
        assert open(sts, "rb").read() == before
