"""`userec update` (docs/production.md): after any history of edits the store equals a from-scratch `embed` +
`related` of that day's catalogue, byte for byte; a killed run never leaves `current` on a half-written generation;
one update per store at a time. Also the publishing guarantees every command shares: a failed embed leaves the
previous outputs byte-identical, SIGTERM leaves no temp file, stale temp files are swept; and duplicate ids."""
import csv
import fcntl
import json
import os
import random
import signal
import subprocess
import tempfile
import time

import common
from common import BIN, run

K = 3  # small k: groups of identical texts then tie across the kept depth (2k), which is what the fall-back handles
GENERATION_FILES = ["changes.jsonl", "manifest.json", "rejects.tsv", "related.csv", "state.bin", "vectors.ids",
                    "vectors.npy"]


def real_texts():
    """Short product names from the real Myntra and IKEA exports (../shared/data), de-duplicated."""
    common.need_shared("data/products/myntra_products_catalog.csv", "data/products/ikea.csv")
    texts = []
    with open(os.path.join(common.DATA, "products", "myntra_products_catalog.csv"), encoding="utf-8") as f:
        texts += [r["ProductName"] for r in csv.DictReader(f)][:1500]
    with open(os.path.join(common.DATA, "products", "ikea.csv"), encoding="utf-8-sig") as f:
        texts += [f"{r['name']} {' '.join(r['short_description'].split())}" for r in csv.DictReader(f, delimiter=";")]
    return list(dict.fromkeys(t for t in texts if t.strip()))


def write_catalogue(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["sku", "title"])
        w.writerows(rows)


def update(store, catalogue, model, *extra, check=True, env=None, status=None):
    cmd = [BIN, "update", "--store", store, "--model", model, "--input", catalogue, "--text-col", "title", "--id-col",
           "sku", "-k", str(K), "--max-reject-rate", "0.5", "--quiet", *extra]
    if status:
        cmd += ["--status-file", status]
    return run(cmd, check=check, env=env)


def from_scratch(tmp, catalogue, model, *extra):
    """The twin: embed + related of the catalogue, as a user would run them."""
    out = os.path.join(tmp, "scratch")
    os.makedirs(out, exist_ok=True)
    npy = os.path.join(out, "v.npy")
    run([BIN, "embed", "--model", model, "--input", catalogue, "--text-col", "title", "--id-col", "sku", "-o", npy,
         "--max-reject-rate", "0.5", "--quiet", *extra])
    run([BIN, "related", "--emb", npy, "--ids", os.path.join(out, "v.ids"), "-k", str(K), "-o",
         os.path.join(out, "r.csv"), "--quiet"])
    return {"vectors.npy": npy, "vectors.ids": os.path.join(out, "v.ids"), "rejects.tsv": os.path.join(out, "v.rejects.tsv"),
            "related.csv": os.path.join(out, "r.csv")}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def assert_store_equals(store, twin, what):
    live = os.path.join(store, "current")
    for name, path in twin.items():
        assert read(os.path.join(live, name)) == read(path), f"{what}: {name} differs from the from-scratch run"


def store_listing(store):
    return sorted(n for n in os.listdir(store) if not n.startswith("gen-")) + \
        sorted(n for n in os.listdir(store) if n.startswith("gen-") and ".userec-tmp-" in n)


class Catalogue:
    """A catalogue of (sku, title) rows under random edits; every edit kind is counted."""

    def __init__(self, rng, texts):
        self.rng, self.texts = rng, texts
        self.rows = [[f"s{i}", texts[i]] for i in range(220)]
        # colour variants: groups of identical texts, whose scores tie exactly
        for g in range(3):
            self.rows += [[f"v{g}-{c}", texts[300 + g]] for c in range(9)]
        self.next_id, self.removed, self.kinds = 1000, [], {}

    def edit(self):
        rng, rows = self.rng, self.rows
        kind = rng.choice(["add", "change", "remove", "readd", "reorder", "duplicate_id", "duplicate_text", "reject",
                           "unreject", "move_block"])
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        n = rng.randint(1, 6)
        for _ in range(n):
            i = rng.randrange(len(rows))
            if kind == "add":
                rows.insert(i, [f"n{self.next_id}", rng.choice(self.texts)])
                self.next_id += 1
            elif kind == "change":
                rows[i][1] = rng.choice(self.texts)
            elif kind == "remove" and len(rows) > 50:
                self.removed.append(rows.pop(i))
            elif kind == "readd" and self.removed:
                old = self.removed.pop(rng.randrange(len(self.removed)))
                rows.insert(i, [old[0], old[1] if rng.random() < 0.5 else rng.choice(self.texts)])
            elif kind == "reorder":
                j = rng.randrange(len(rows))
                rows[i], rows[j] = rows[j], rows[i]
            elif kind == "move_block":
                block = rows[i:i + 20]
                del rows[i:i + 20]
                at = rng.randrange(len(rows) + 1)
                rows[at:at] = block
            elif kind == "duplicate_id":  # a second row with an existing id: both are rejected (reject policy)
                rows.insert(rng.randrange(len(rows)), [rows[i][0], rng.choice(self.texts)])
            elif kind == "duplicate_text":  # a new id with an existing row's text: an exact tie with it
                rows.insert(rng.randrange(len(rows)), [f"n{self.next_id}", rows[i][1]])
                self.next_id += 1
            elif kind == "reject":  # a row whose text becomes empty: rejected ("empty text")
                rows[i][1] = ""
            elif kind == "unreject":
                for r in rows:
                    if not r[1]:
                        r[1] = rng.choice(self.texts)
                        break
        return kind


def run_edit_sequence(model, steps, seed):
    rng = random.Random(seed)
    cat = Catalogue(rng, real_texts())
    ties = searched = lists = 0
    with tempfile.TemporaryDirectory(prefix="userec-update-") as tmp:
        store, path, status = os.path.join(tmp, "store"), os.path.join(tmp, "cat.csv"), os.path.join(tmp, "status.json")
        for step in range(steps):
            if step:
                cat.edit()
            write_catalogue(path, cat.rows)
            update(store, path, model, "--keep", "1", status=status)
            facts = json.load(open(status))
            assert facts["exit_code"] == 0, facts
            ties += facts["ties_at_boundary"]
            searched += facts["lists_searched"]
            lists += facts["items"]
            assert_store_equals(store, from_scratch(tmp, path, model), f"seed {seed}, step {step}")
        gens = sorted(n for n in os.listdir(store) if n.startswith("gen-"))
        assert len(gens) <= 2, gens  # --keep 1: the live one and one before it
    print(f"{steps} steps (seed {seed}), edits {dict(sorted(cat.kinds.items()))}; {ties} lists met a tie at the "
          f"boundary and were searched again; {searched} of {lists} lists searched in all")
    return ties


def test_store_equals_from_scratch_after_random_edits():
    """The randomised exactness test: every step's store = embed + related of that step's catalogue, byte for byte
    (vectors, ids, rejects, related.csv with its tie order), over adds, text changes, removals, re-added ids,
    reorders, block moves, repeated ids, repeated texts (exact ties) and rows that become rejects."""
    ties = run_edit_sequence(common.tiny_usew(), 12, seed=14)
    assert ties > 0, "the sequence met no tie at the boundary: it does not test the fall-back"


def test_store_equals_from_scratch_long_sequence_and_full_model():
    """More seeds and steps on the tiny model, and a few steps on the full-size test model (real widths)."""
    for seed in (1, 2):
        run_edit_sequence(common.tiny_usew(), 50, seed=seed)
    run_edit_sequence(common.test_usew(), 6, seed=4)


@common.quick
def test_unchanged_catalogue_makes_no_generation_and_changed_options_invalidate():
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-update-") as tmp:
        store, path = os.path.join(tmp, "store"), os.path.join(tmp, "cat.csv")
        write_catalogue(path, [[f"s{i}", t] for i, t in enumerate(real_texts()[:40])])
        first = run([BIN, "update", "--store", store, "--model", model, "--input", path, "--text-col", "title",
                     "--id-col", "sku", "-k", str(K)])
        assert "generation 1 live: 40 items (40 added, 0 changed, 0 removed)" in first.stdout, first.stdout
        assert len(first.stdout.splitlines()) == 1, first.stdout  # one line for cron mail
        again = run([BIN, "update", "--store", store, "--model", model, "--input", path, "--text-col", "title",
                     "--id-col", "sku", "-k", str(K)])
        assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout
        assert sorted(n for n in os.listdir(store) if n.startswith("gen-")) == ["gen-000001"]
        # another k: the vectors are reused, every list is searched
        more = run([BIN, "update", "--store", store, "--model", model, "--input", path, "--text-col", "title",
                    "--id-col", "sku", "-k", "5"])
        assert "0 embedded, 40 reused" in more.stdout and "(all)" in more.stdout, more.stdout
        # --full: nothing reused, the same files
        before = {n: read(os.path.join(store, "current", n)) for n in ("vectors.npy", "vectors.ids", "related.csv")}
        full = run([BIN, "update", "--store", store, "--model", model, "--input", path, "--text-col", "title",
                    "--id-col", "sku", "-k", "5", "--full"])
        assert "40 embedded, 0 reused" in full.stdout and "--full" in full.stderr, (full.stdout, full.stderr)
        assert {n: read(os.path.join(store, "current", n)) for n in before} == before
        # another model file (other weights): no vector is reused, and stderr says why
        other = common.test_usew()
        proc = run([BIN, "update", "--store", store, "--model", other, "--input", path, "--text-col", "title",
                    "--id-col", "sku", "-k", "5"])
        assert "40 embedded, 0 reused" in proc.stdout and "model, tokenizer, --strict or encoder changed" in proc.stderr


def test_changes_jsonl_lists_what_changed():
    model = common.tiny_usew()
    texts = real_texts()
    with tempfile.TemporaryDirectory(prefix="userec-update-") as tmp:
        store, path = os.path.join(tmp, "store"), os.path.join(tmp, "cat.csv")
        rows = [[f"s{i}", texts[i]] for i in range(30)]
        write_catalogue(path, rows)
        update(store, path, model)
        rows[3][1] = texts[100]
        removed = rows.pop(7)
        rows.append(["new", texts[101]])
        write_catalogue(path, rows)
        update(store, path, model)
        changes = [json.loads(line) for line in open(os.path.join(store, "current", "changes.jsonl"))]
        kinds = {(c["change"], c["id"]) for c in changes if c["change"] != "related"}
        assert kinds == {("changed", "s3"), ("removed", removed[0]), ("added", "new")}, kinds
        lists = {c["id"]: c for c in changes if c["change"] == "related"}
        assert "new" in lists and "s3" in lists, lists.keys()
        # every list not named is the previous generation's, and every list named is the new related.csv's
        new = {}
        for r in csv.DictReader(open(os.path.join(store, "current", "related.csv"))):
            new.setdefault(r["id"], []).append(r["neighbor_id"])
        old = {}
        for r in csv.DictReader(open(os.path.join(store, "gen-000001", "related.csv"))):
            old.setdefault(r["id"], []).append(r["neighbor_id"])
        for item, neighbours in new.items():
            if item in lists:
                assert lists[item]["neighbors"] == neighbours
            else:
                assert old.get(item) == neighbours, item
        manifest = json.load(open(os.path.join(store, "current", "manifest.json")))
        assert manifest["generation"] == 2 and manifest["parent"] == 1 and set(manifest["files"]) == \
            set(GENERATION_FILES) - {"manifest.json"}, manifest


def test_sigkill_at_every_point_leaves_a_complete_generation():
    """A run killed at each named point (after embedding, after writing, after publishing into the temp directory,
    after renaming it, after switching `current`) and at random moments: `current` is a complete generation equal
    to one of the two from-scratch twins, and the next run cleans up and completes."""
    model = common.tiny_usew()
    texts = real_texts()
    with tempfile.TemporaryDirectory(prefix="userec-update-") as tmp:
        store, path = os.path.join(tmp, "store"), os.path.join(tmp, "cat.csv")
        old_rows = [[f"s{i}", texts[i]] for i in range(400)]
        new_rows = [[f"s{i}", texts[i + (i % 7 == 0) * 500]] for i in range(380)] + [["x", texts[999]]]
        write_catalogue(path, old_rows)
        update(store, path, model)
        old_twin = {k: read(v) for k, v in from_scratch(os.path.join(tmp, "a"), path, model).items()}
        write_catalogue(path, new_rows)
        new_twin = {k: read(v) for k, v in from_scratch(os.path.join(tmp, "b"), path, model).items()}

        def live_equals(twin):
            return all(read(os.path.join(store, "current", n)) == data for n, data in twin.items())

        for point in ("embedded", "written", "published", "renamed", "switched"):
            write_catalogue(path, old_rows)
            update(store, path, model)  # back to the old catalogue (a new generation)
            assert live_equals(old_twin)
            write_catalogue(path, new_rows)
            proc = update(store, path, model, check=False, env={**os.environ, "USEREC_FAULT_AT": point})
            assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stderr)
            assert live_equals(new_twin if point == "switched" else old_twin), point
            proc = update(store, path, model)
            assert live_equals(new_twin), point
            leftovers = [n for n in os.listdir(store) if ".userec-tmp-" in n]
            assert not leftovers, (point, leftovers)
            for gen in (n for n in os.listdir(store) if n.startswith("gen-")):
                assert sorted(os.listdir(os.path.join(store, gen))) == GENERATION_FILES, (point, gen)
        rng = random.Random(9)
        for attempt in range(8):  # random moments
            write_catalogue(path, old_rows if attempt % 2 else new_rows)
            child = subprocess.Popen([BIN, "update", "--store", store, "--model", model, "--input", path, "--text-col",
                                      "title", "--id-col", "sku", "-k", str(K), "--quiet"], stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, 0.25))
            child.kill()
            child.wait()
            assert live_equals(old_twin) or live_equals(new_twin), attempt
        write_catalogue(path, new_rows)
        update(store, path, model)
        assert live_equals(new_twin)
        assert not [n for n in os.listdir(store) if ".userec-tmp-" in n]


@common.quick
def test_one_update_per_store():
    """A second run exits 75 at once naming the holder; --wait waits for it."""
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-update-") as tmp:
        store, path = os.path.join(tmp, "store"), os.path.join(tmp, "cat.csv")
        texts = real_texts()
        write_catalogue(path, [[f"s{i}", texts[i % len(texts)]] for i in range(20000)])  # seconds of work
        first = subprocess.Popen([BIN, "update", "--store", store, "--model", model, "--input", path, "--text-col",
                                  "title", "--id-col", "sku", "--quiet"], stderr=subprocess.PIPE, text=True)
        lock = os.path.join(store, "lock")
        deadline = time.time() + 30
        while not (os.path.exists(lock) and f"pid {first.pid} " in open(lock).read()) and time.time() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)  # holds the lock while the second one tries
        try:
            second = update(store, path, model, check=False)
        finally:
            first.send_signal(signal.SIGCONT)
        assert second.returncode == common.EXIT_TEMPFAIL, (second.returncode, second.stderr)
        assert f"locked by pid {first.pid} on " in second.stderr and "--wait" in second.stderr, second.stderr
        assert first.wait(timeout=120) == 0, first.stderr.read()
        # --wait: a holder that lets go in time
        with open(lock, "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            waiter = subprocess.Popen([BIN, "update", "--store", store, "--model", model, "--input", path,
                                       "--text-col", "title", "--id-col", "sku", "--quiet", "--wait", "20"])
            time.sleep(0.5)
            assert waiter.poll() is None, "--wait did not wait"
        assert waiter.wait(timeout=120) == 0


@common.quick
def test_failed_runs_publish_nothing():
    """embed failing its --max-reject-rate leaves the previous outputs byte-identical; update failing it leaves
    `current` as it was; both exit 65 and list the first rejected rows."""
    model = common.tiny_usew()
    texts = real_texts()
    with tempfile.TemporaryDirectory(prefix="userec-update-") as tmp:
        good, bad = os.path.join(tmp, "good.csv"), os.path.join(tmp, "bad.csv")
        write_catalogue(good, [[f"s{i}", texts[i]] for i in range(50)])
        write_catalogue(bad, [[f"s{i}", texts[i] if i % 3 else ""] for i in range(50)])
        out = os.path.join(tmp, "out", "items.npy")
        os.makedirs(os.path.dirname(out))
        args = ["--text-col", "title", "--id-col", "sku", "-o", out]
        run([BIN, "embed", "--model", model, "--input", good, *args])
        before = {n: read(os.path.join(tmp, "out", n)) for n in os.listdir(os.path.join(tmp, "out"))}
        assert sorted(before) == ["items.embed.json", "items.ids", "items.npy", "items.rejects.tsv"], sorted(before)
        proc = run([BIN, "embed", "--model", model, "--input", bad, *args], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "17 of 50 rows" in proc.stderr, proc.stderr
        assert "2\ts0\t" in proc.stderr, proc.stderr  # the first rejected row: line 2 (after the header)
        after = {n: read(os.path.join(tmp, "out", n)) for n in os.listdir(os.path.join(tmp, "out"))}
        assert after == before, "a failed embed changed its previous outputs"
        store = os.path.join(tmp, "store")
        update(store, good, model)
        live = {n: read(os.path.join(store, "current", n)) for n in GENERATION_FILES}
        proc = run([BIN, "update", "--store", store, "--model", model, "--input", bad, "--text-col", "title",
                    "--id-col", "sku"], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "no generation was made" in proc.stderr, proc.stderr
        assert {n: read(os.path.join(store, "current", n)) for n in GENERATION_FILES} == live
        assert sorted(os.listdir(store)) == ["current", "gen-000001", "lock"], os.listdir(store)


def _wait_for_temp(folder, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        names = [n for n in os.listdir(folder) if ".userec-tmp-" in n]
        if names:
            return names
        time.sleep(0.005)
    raise AssertionError(f"no temp file appeared in {folder}")


def test_sigterm_leaves_no_temp_file_and_stale_ones_are_swept():
    model = common.tiny_usew()
    texts = real_texts()
    with tempfile.TemporaryDirectory(prefix="userec-update-") as tmp:
        path = os.path.join(tmp, "big.csv")
        write_catalogue(path, [[f"s{i}", texts[i % len(texts)]] for i in range(60000)])
        out_dir = os.path.join(tmp, "out")
        os.makedirs(out_dir)
        for cmd, folder in (([BIN, "embed", "--model", model, "--input", path, "--text-col", "title", "--id-col", "sku",
                              "-o", os.path.join(out_dir, "items.npy"), "--quiet"], out_dir),
                            ([BIN, "update", "--store", os.path.join(tmp, "store"), "--model", model, "--input", path,
                              "--text-col", "title", "--id-col", "sku", "--quiet"], tmp)):
            child = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
            if folder == tmp:
                os.makedirs(os.path.join(tmp, "store"), exist_ok=True)
                folder = os.path.join(tmp, "store")
            _wait_for_temp(folder)
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=60) == -signal.SIGTERM
            left = [n for n in os.listdir(folder) if ".userec-tmp-" in n]
            assert not left, (cmd[1], left)
        # stale temp files of a dead process (pid 2^22 + 1 is above Linux's pid_max default... any free pid works)
        dead = 4194301
        while os.path.exists(f"/proc/{dead}"):
            dead -= 1
        stale = os.path.join(out_dir, f"items.npy.userec-tmp-{dead}-abcdef")
        open(stale, "w").close()
        small = os.path.join(tmp, "small.csv")
        write_catalogue(small, [["a", texts[0]], ["b", texts[1]]])
        run([BIN, "embed", "--model", model, "--input", small, "--text-col", "title", "--id-col", "sku", "-o",
             os.path.join(out_dir, "items.npy"), "--quiet"])
        assert not os.path.exists(stale), "a stale temp file was not swept"
        store = os.path.join(tmp, "store")
        os.makedirs(os.path.join(store, f"gen-000001.userec-tmp-{dead}-abcdef"))
        update(store, small, model)
        assert sorted(os.listdir(store)) == ["current", "gen-000001", "lock"], os.listdir(store)


def test_duplicate_ids_of_the_ikea_export():
    """The IKEA export repeats item_ids: counted from the file with Python, every policy accounts for every row."""
    common.need_shared("data/products/ikea.csv")
    model = common.tiny_usew()
    src = os.path.join(common.DATA, "products", "ikea.csv")
    with open(src, encoding="utf-8-sig") as f:
        ids = [r["item_id"] for r in csv.DictReader(f, delimiter=";")]
    counts = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    repeated_rows = sum(c for c in counts.values() if c > 1)
    assert repeated_rows > 600, repeated_rows
    with tempfile.TemporaryDirectory(prefix="userec-dup-") as tmp:
        args = ["--format", "csv", "--delimiter", ";", "--text-col", "name,short_description", "--id-col", "item_id",
                "--quiet"]
        out = os.path.join(tmp, "r.npy")
        proc = run([BIN, "embed", "--model", model, "--input", src, *args, "-o", out], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "duplicate id" in proc.stderr, proc.stderr
        assert not os.path.exists(out)
        run([BIN, "embed", "--model", model, "--input", src, *args, "-o", out, "--max-reject-rate", "1"])
        kept = open(os.path.join(tmp, "r.ids")).read().split()
        rejects = [line.split("\t") for line in open(os.path.join(tmp, "r.rejects.tsv")).read().splitlines()[1:]]
        assert sorted(kept) == sorted(i for i, c in counts.items() if c == 1)
        assert sum(r[2] == "duplicate id" for r in rejects) == repeated_rows
        for policy, pick in (("keep-first", 0), ("keep-last", -1)):
            o = os.path.join(tmp, f"{policy}.npy")
            run([BIN, "embed", "--model", model, "--input", src, *args, "-o", o, "--on-duplicate-id", policy])
            kept = open(os.path.join(tmp, f"{policy}.ids")).read().split()
            assert len(kept) == len(counts) and len(set(kept)) == len(kept), policy
            lines = [int(r.split("\t")[0]) for r in open(os.path.join(tmp, f"{policy}.rejects.tsv")).read().splitlines()[1:]
                     if "duplicate id (the row on line" in r]
            assert len(lines) == repeated_rows - sum(1 for c in counts.values() if c > 1), policy
        # related refuses an ids file with a repeat, naming the first one
        lines = open(os.path.join(tmp, "keep-first.ids")).read().splitlines()
        lines[5] = lines[2]
        ids_path = os.path.join(tmp, "edited.ids")  # not the run's own file, which its manifest protects
        open(ids_path, "w").write("\n".join(lines) + "\n")
        proc = run([BIN, "related", "--emb", os.path.join(tmp, "keep-first.npy"), "--ids", ids_path, "-o",
                    os.path.join(tmp, "rel.csv")], check=False)
        assert proc.returncode == common.EXIT_DATAERR and f"'{lines[2]}'" in proc.stderr, proc.stderr
        assert not os.path.exists(os.path.join(tmp, "rel.csv"))


def test_help_and_usage():
    proc = run([BIN, "help", "update"])
    assert "--store DIR" in proc.stdout and "--on-duplicate-id" in proc.stdout
    proc = run([BIN, "update", "--model", "x"], check=False)
    assert proc.returncode == common.EXIT_USAGE and "--store, --model and --input are required" in proc.stderr
