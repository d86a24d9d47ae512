"""What `userec merge` costs (docs/perf.md, "Merging shards"): seconds per GB of parts joined, for the parts of
an embed job (.npy + .ids + rejects) and of a related job (CSV lists), against copying the same bytes with
`cat` into one file and fsync-ing it (what any join must at least do). The parts are made with the tiny test
model (tests/common.py): merge reads bytes, not vectors, so the model only sets how many bytes a row has.

    /usr/bin/python3 bench/merge_bench.py [--bin ./userec] [--rows 2000000] [--items 20000] [-k 500] [--shards 8]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import common  # noqa: E402


def timed(cmd, **kw):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)
    return time.perf_counter() - t0


def parts_of(folder, stem):
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if n.startswith(stem + ".part-") and not n.endswith(".json"))


def measure(binary, folder, out, stem, repeats):
    parts = parts_of(folder, stem)
    size = sum(os.path.getsize(p) for p in parts)
    merge = [timed([binary, "merge", "-o", out, "--quiet", "--max-reject-rate", "1"]) for _ in range(repeats)]
    copy_to = os.path.join(folder, "copy.bin")
    script = 'cat "$@" > "$0" && python3 -c "import os,sys; f=os.open(sys.argv[1], os.O_RDONLY); os.fsync(f)" "$0"'
    copy = [timed(["sh", "-c", script, copy_to, *parts]) for _ in range(repeats)]
    os.remove(copy_to)
    m, c = statistics.median(merge), statistics.median(copy)
    print(f"{stem}: {len(parts)} part files, {size / 1e9:.3f} GB: merge {m:.2f} s ({m / (size / 1e9):.2f} s/GB, "
          f"{size / 1e6 / m:.0f} MB/s); cat + fsync {c:.2f} s ({c / (size / 1e9):.2f} s/GB); merge / copy "
          f"{m / c:.2f}x (medians of {repeats})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=common.BIN)
    ap.add_argument("--rows", type=int, default=2000000, help="rows of the embed job")
    ap.add_argument("--items", type=int, default=20000, help="items of the related job (all-pairs)")
    ap.add_argument("-k", type=int, default=500, help="neighbours per item")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-merge-bench-") as tmp:
        text = os.path.join(tmp, "rows.txt")
        words = ["red", "blue", "shoe", "table", "lamp", "wooden", "steel", "bottle", "chair", "jacket"]
        with open(text, "w") as f:
            for i in range(args.rows):
                f.write(f"{words[i % 10]} {words[i * 7 % 10]} {words[i * 3 % 10]} {i}\n")
        vectors = os.path.join(tmp, "vectors.npy")
        for i in range(1, args.shards + 1):
            subprocess.run([args.bin, "embed", "--model", model, "--input", text, "-o", vectors, "--quiet",
                            "--shard", f"{i}/{args.shards}"], check=True)
        measure(args.bin, tmp, vectors, "vectors", args.repeat)
        items_text, items = os.path.join(tmp, "items.txt"), os.path.join(tmp, "items.npy")
        with open(text) as f, open(items_text, "w") as g:
            g.writelines(line for _, line in zip(range(args.items), f))
        subprocess.run([args.bin, "embed", "--model", model, "--input", items_text, "-o", items, "--quiet"],
                       check=True)
        lists = os.path.join(tmp, "lists.csv")
        for i in range(1, args.shards + 1):
            subprocess.run([args.bin, "related", "--emb", items, "-k", str(args.k), "-o", lists, "--quiet",
                            "--shard", f"{i}/{args.shards}"], check=True)
        measure(args.bin, tmp, lists, "lists", args.repeat)


if __name__ == "__main__":
    main()
