#!/usr/bin/python3
"""`userec update` after a 1% change against a full recompute of the same catalogue, in one run (issue 14), and the
run that finds nothing changed. The catalogue: ROWS rows built from the Myntra export's product names (../shared/data),
each name repeated with variations (colour, pack size) so that every text is distinct. The change: 0.5% of the rows
new, 0.5% with an edited text, 0.1% removed.

  /usr/bin/python3 bench/update_bench.py [--rows 100000] [--model build/testdata/use-lite-seed1.usew] [-k 10]

Prints each step's wall time and the summary lines, checks that the incremental store equals the from-scratch
embed + related byte for byte, and prints the speed-up. The full-size test model computes at the real model's speed
(docs/perf.md). OPENBLAS_CORETYPE is unset for the commands it runs (userec does not use OpenBLAS; it is unset so
that no machine setting can change the figures).
"""
import argparse
import csv
import os
import platform
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "userec")
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "products", "myntra_products_catalog.csv")
COLOURS = ["black", "white", "navy", "red", "olive", "grey", "beige", "teal", "maroon"]


def catalogue(rows):
    with open(DATA, encoding="utf-8") as f:
        names = [r["ProductName"] for r in csv.DictReader(f)]
    out = []
    for v in range(rows // len(names) + 1):
        for i, name in enumerate(names):
            out.append([f"p{v}-{i}", f"{name} {COLOURS[v % len(COLOURS)]} pack of {v + 1}"])
    return out[:rows]


def write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["sku", "title"])
        w.writerows(rows)


def timed(label, cmd, env):
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.time() - t0
    if proc.returncode:
        sys.exit(f"{label}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    print(f"{label}: {seconds:.1f} s  {proc.stdout.strip()}", flush=True)
    return seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--model", default=os.path.join(ROOT, "build", "testdata", "use-lite-seed1.usew"))
    ap.add_argument("-k", type=int, default=10)
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    rng = random.Random(14)
    rows = catalogue(args.rows)
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), platform.processor())
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu}, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}; {args.rows} rows, model {os.path.basename(args.model)}, k={args.k}", flush=True)
    with tempfile.TemporaryDirectory(prefix="userec-update-bench-") as tmp:
        base, today = os.path.join(tmp, "yesterday.csv"), os.path.join(tmp, "today.csv")
        store = os.path.join(tmp, "store")
        write(base, rows)
        common = ["--model", args.model, "--text-col", "title", "--id-col", "sku"]
        update = [BIN, "update", "--store", store, "-k", str(args.k), "--input"]
        timed("update, first run (embeds and searches everything)", update + [base] + common, env)
        n = len(rows)
        changed = rows[:]
        texts = [r[1] for r in rows]
        for i in rng.sample(range(n), n // 200):  # 0.5% edited
            changed[i] = [changed[i][0], rng.choice(texts) + " new season"]
        for i in sorted(rng.sample(range(n), n // 1000), reverse=True):  # 0.1% removed
            del changed[i]
        for j in range(n // 200):  # 0.5% new
            changed.insert(rng.randrange(len(changed)), [f"new-{j}", rng.choice(texts) + " limited edition"])
        write(today, changed)
        incremental = timed("update after the 1% change", update + [today] + common, env)
        unchanged = timed("update, nothing changed", update + [today] + common, env)
        out = os.path.join(tmp, "scratch")
        os.mkdir(out)
        t0 = time.time()
        timed("  full recompute: embed", [BIN, "embed", "--input", today, "-o", os.path.join(out, "v.npy"), "--quiet",
                                          *common], env)
        timed("  full recompute: related", [BIN, "related", "--emb", os.path.join(out, "v.npy"), "--ids",
                                            os.path.join(out, "v.ids"), "-k", str(args.k), "-o",
                                            os.path.join(out, "r.csv"), "--quiet"], env)
        full = time.time() - t0
        print(f"full recompute (embed + related) of the same catalogue: {full:.1f} s", flush=True)
        for mine, theirs in (("vectors.npy", "v.npy"), ("vectors.ids", "v.ids"), ("related.csv", "r.csv")):
            with open(os.path.join(store, "current", mine), "rb") as a, open(os.path.join(out, theirs), "rb") as b:
                if a.read() != b.read():
                    sys.exit(f"the incremental {mine} differs from the full recompute's {theirs}")
        print(f"identical outputs; speed-up of the incremental update: {full / incremental:.1f}x "
              f"(nothing changed: {unchanged:.2f} s)")


if __name__ == "__main__":
    main()
