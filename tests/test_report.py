"""`userec report`: the page opens in headless Chromium without errors and without a single network request, and a
screenshot shows the coloured map and the tables (pixels, not bytes); catalogue strings cannot inject markup; the
map is NumPy's PCA of the same vectors; the facts, duplicates and test-weights warning are there."""
import csv
import os
import re
import tempfile

import numpy as np

import chromium
import common
from common import BIN, ROOT, run

EXAMPLE = os.path.join(ROOT, "examples", "products.csv")
# report_html.c's palette (the categories' colours) and the map's background
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
MAP_BACKGROUND = (0xfc, 0xfc, 0xfc)


def _example_run(tmp, model=None, related_args=()):
    """embed + related on examples/products.csv; returns (vectors path, related csv path)."""
    model = model or common.test_usew()
    emb = os.path.join(tmp, "products.npy")
    run([BIN, "embed", "--model", model, "--input", EXAMPLE, "--text-col", "name,description", "--id-col", "id",
         "-o", emb, "--quiet"])
    rel = os.path.join(tmp, "related.csv")
    run([BIN, "related", "--emb", emb, "--ids", os.path.join(tmp, "products.ids"), "-k", "5", "-o", rel, "--quiet"]
        + list(related_args))
    return emb, rel


def _report(tmp, emb, rel, extra=(), catalog=EXAMPLE, check=True):
    out = os.path.join(tmp, "report.html")
    proc = run([BIN, "report", "--catalog", catalog, "--text-col", "name,description", "--id-col", "id", "--emb", emb,
                "--related", rel, "-o", out] + list(extra), check=check)
    return out, proc


def _blend(hex_colour, alpha=0.8, background=MAP_BACKGROUND):
    rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    return np.array([round(alpha * c + (1 - alpha) * b) for c, b in zip(rgb, background)])


def _rect(browser, selector):
    return browser.evaluate(f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect(); "
                            f"return [r.left + scrollX, r.top + scrollY, r.width, r.height]; }})()")


def test_report_renders_offline_and_shows_the_map_and_the_tables():
    with tempfile.TemporaryDirectory(prefix="userec-report-") as tmp:
        emb, rel = _example_run(tmp)
        page, proc = _report(tmp, emb, rel, ["--category-col", "category"])
        assert "TEST weights" in proc.stderr, proc.stderr
        with chromium.Browser(tmp) as browser:
            browser.open(page)
            assert browser.requests() == [browser.url], f"the page made requests: {browser.requests()}"
            assert browser.errors() == [], browser.errors()
            assert browser.evaluate("document.querySelectorAll('svg circle').length") == 300
            assert browser.evaluate("document.querySelectorAll('table').length") >= 15
            warning = browser.evaluate("document.querySelector('.warn').innerText")
            assert "TEST WEIGHTS" in warning, warning
            with open(EXAMPLE, newline="", encoding="utf-8") as f:
                first = next(csv.DictReader(f))
            hover = browser.evaluate("[...document.querySelectorAll('svg circle title')].map(t => t.textContent)"
                                     f".filter(t => t.startsWith('{first['id']}: '))")
            assert len(hover) == 1 and hover[0].startswith(
                f"{first['id']}: {first['name']} {first['description'][:40]}"), hover
            x, y, w, h = _rect(browser, "svg")
            png = browser.screenshot(x, y, w, h, fast=True)
            tx, ty, tw, th = _rect(browser, "table")
            table_png = browser.screenshot(tx, ty, tw, th, fast=True)
        page_bytes = os.path.getsize(page)
    img = chromium.decode_png(png)[:, :, :3].astype(int)
    found = {}
    for colour in PALETTE:  # every category colour is on the map, as dots (blended at 80% over the background)
        found[colour] = int((np.abs(img - _blend(colour)).max(axis=2) <= 6).sum())
    print(f"map {img.shape[1]}x{img.shape[0]} px: pixels of each category colour {found}; page {page_bytes} bytes")
    assert all(n >= 40 for n in found.values()), found
    background = (np.abs(img - np.array(MAP_BACKGROUND)).max(axis=2) <= 2).mean()
    assert 0.5 < background < 0.999, f"the map is {background:.1%} background"
    table = chromium.decode_png(table_png)[:, :, :3].astype(int)
    dark = (table.max(axis=2) < 100).mean()  # text
    print(f"first table {table.shape[1]}x{table.shape[0]} px: {dark:.1%} dark (text) pixels")
    assert table.shape[0] > 100 and 0.01 < dark < 0.5, dark


def test_catalogue_strings_cannot_inject_markup():
    """Hostile text, ids and categories come out as text: no element, no request, no script."""
    hostile = ['<script>document.title="pwned"</script>', '"><img src=x onerror="document.title=1">',
               "</title></svg><iframe src=\"http://127.0.0.1:9/\"></iframe>", "<style>body{display:none}</style>",
               "it's & <b>bold</b>"]
    with tempfile.TemporaryDirectory(prefix="userec-report-") as tmp:
        catalog = os.path.join(tmp, "evil.csv")
        with open(catalog, "wb") as f:
            f.write(b"id,name,description,category\n")
            for i in range(40):
                text = hostile[i % len(hostile)]
                row = [f"id{i}{hostile[i % len(hostile)]}" if i % 7 == 0 else f"id{i}", text,
                       "bad byte \xff here" if i == 3 else f"row {i} {text}", hostile[i % 3]]
                f.write(",".join('"' + v.replace('"', '""') + '"' for v in row).encode("utf-8", "surrogateescape")
                        .replace(b"\xc3\xbf", b"\xff") + b"\n")
        emb = os.path.join(tmp, "evil.npy")
        run([BIN, "embed", "--model", common.tiny_usew(), "--input", catalog, "--text-col", "name,description",
             "--id-col", "id", "-o", emb, "--quiet"])
        rel = os.path.join(tmp, "rel.csv")
        run([BIN, "related", "--emb", emb, "--ids", os.path.join(tmp, "evil.ids"), "-k", "4", "-o", rel, "--quiet"])
        page, _ = _report(tmp, emb, rel, ["--category-col", "category", "--sample", "40", "--dup-above", "0.5"],
                          catalog=catalog)
        html = open(page, encoding="utf-8").read()
        assert not re.search(r"<(script|img|iframe|style>body|b>)", html, re.I), \
            re.search(r"<(script|img|iframe|style>body|b>)", html, re.I)
        assert "\ufffd" in html  # the invalid byte, replaced
        with chromium.Browser(tmp) as browser:
            browser.open(page)
            assert browser.requests() == [browser.url], browser.requests()
            assert browser.errors() == [], browser.errors()
            assert browser.evaluate("document.querySelectorAll('script, img, iframe, b').length") == 0
            assert browser.evaluate("document.querySelectorAll('style').length") == 1
            assert browser.evaluate("document.title") == "Related items: evil.csv"
            text = browser.evaluate("document.body.innerText")
        for h in hostile:
            assert h in text, f"{h!r} is not shown as text"


def _numpy_map(vectors, rows):
    x = vectors[rows].astype(np.float64)
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, s ** 2 / len(rows)


@common.quick
def test_map_is_numpys_pca_of_an_even_sample():
    with tempfile.TemporaryDirectory(prefix="userec-report-") as tmp:
        emb, rel = _example_run(tmp, model=common.tiny_usew())
        vectors = np.load(emb)
        maps = []
        for threads in ("1", "2"):
            csv_path = os.path.join(tmp, f"map{threads}.csv")
            page, _ = _report(tmp, emb, rel, ["--map-points", "120", "--map-csv", csv_path, "--threads", threads,
                                              "--category-col", "category"])
            maps.append(open(csv_path, "rb").read())
        assert maps[0] == maps[1], "the map depends on the number of threads"
        with open(csv_path, newline="") as f:
            got = list(csv.DictReader(f))
        html = open(page, encoding="utf-8").read()
    rows = [int(i * len(vectors) / 120) for i in range(120)]
    with open(EXAMPLE, newline="", encoding="utf-8") as f:
        catalogue = list(csv.DictReader(f))
    assert [g["id"] for g in got] == [catalogue[r]["id"] for r in rows]
    assert [g["category"] for g in got] == [catalogue[r]["category"] for r in rows]
    want, variance = _numpy_map(vectors, rows)
    xy = np.array([[float(g["x"]), float(g["y"])] for g in got])
    for axis in range(2):  # a principal axis has no sign of its own
        sign = np.sign(xy[:, axis] @ want[:, axis])
        common.assert_close(f"PCA axis {axis + 1} coordinates vs numpy SVD", xy[:, axis], sign * want[:, axis], 1e-6)
    shares = [f"{100 * v / variance.sum():.1f}%" for v in variance[:2]]
    assert f"{shares[0]} and {shares[1]} of the variance" in html, (shares, re.findall(r"[\d.]+% and [\d.]+%", html))


@common.quick
def test_facts_filters_and_duplicates_are_shown():
    with tempfile.TemporaryDirectory(prefix="userec-report-") as tmp:
        catalog = os.path.join(tmp, "dups.csv")
        with open(EXAMPLE, encoding="utf-8") as f:
            lines = f.read().splitlines()
        # three colour variants with the same text: the same vectors
        variants = [f"V{i},Canvas Tote Bag,bags,A sturdy canvas tote with long handles." for i in range(3)]
        with open(catalog, "w", encoding="utf-8") as f:
            f.write("\n".join(lines + variants) + "\n")
        emb = os.path.join(tmp, "dups.npy")
        run([BIN, "embed", "--model", common.tiny_usew(), "--input", catalog, "--text-col", "name,description",
             "--id-col", "id", "-o", emb, "--quiet"])
        rel = os.path.join(tmp, "rel.csv")
        run([BIN, "related", "--emb", emb, "--ids", os.path.join(tmp, "dups.ids"), "-k", "6", "--min-score", "0.1",
             "--dedupe-above", "0.999", "-o", rel, "--quiet"])
        page, _ = _report(tmp, emb, rel, ["--dup-above", "0.9999", "--item", "V1"], catalog=catalog)
        html = open(page, encoding="utf-8").read()
        assert "TEST WEIGHTS" in html  # the tiny model carries the test model's provenance
        assert "--min-score 0.1 --dedupe-above 0.999" in html, re.findall(r"filters</td><td>[^<]*", html)
        group = re.search(r"group 1: (\d+) items</caption>(.*?)</table>", html, re.S)
        assert group and group.group(1) == "3" and all(f"V{i}" in group.group(2) for i in range(3)), group
        assert "V1: Canvas Tote Bag" in html  # --item's list
        os.remove(os.path.join(tmp, "dups.embed.json"))
        os.remove(os.path.join(tmp, "rel.related.json"))
        page, _ = _report(tmp, emb, rel, [], catalog=catalog)
        html = open(page, encoding="utf-8").read()
        assert "The model is unknown" in html and "TEST WEIGHTS" not in html
        page, _ = _report(tmp, emb, rel, ["--model", common.tiny_usew()], catalog=catalog)
        assert "TEST WEIGHTS" in open(page, encoding="utf-8").read()


def test_bad_inputs_fail_and_write_nothing():
    with tempfile.TemporaryDirectory(prefix="userec-report-") as tmp:
        emb, rel = _example_run(tmp, model=common.tiny_usew())
        out = os.path.join(tmp, "report.html")
        proc = run([BIN, "report", "--catalog", EXAMPLE, "--text-col", "name", "--emb", emb, "-o", out], check=False)
        assert proc.returncode == common.EXIT_USAGE and "--related" in proc.stderr, proc.stderr
        bad = os.path.join(tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write("id,rank,neighbor_id,score\nP0001,1,P0002,high\n")
        _, proc = _report(tmp, emb, bad, check=False)
        assert proc.returncode == common.EXIT_DATAERR and "bad.csv: data row 1" in proc.stderr, proc.stderr
        _, proc = _report(tmp, emb, rel, ["--category-col", "colour"], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "no column 'colour'" in proc.stderr, proc.stderr
        assert not os.path.exists(out)
        copy = os.path.join(tmp, "catalogue.csv")
        with open(EXAMPLE, "rb") as f, open(copy, "wb") as g:
            g.write(f.read())
        for option in ("-o", "--map-csv"):  # an output over an input (here by another path) is refused
            proc = run([BIN, "report", "--catalog", copy, "--text-col", "name", "--id-col", "id", "--emb", emb,
                        "--related", rel, "-o", out, option, os.path.join(tmp, ".", "catalogue.csv")], check=False)
            assert proc.returncode == common.EXIT_USAGE and "must not replace an input" in proc.stderr, proc.stderr
            assert open(copy, "rb").read() == open(EXAMPLE, "rb").read()
