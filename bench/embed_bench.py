#!/usr/bin/python3
"""`userec embed` on this machine: rows/s on the Myntra catalogue with the share of wall time spent reading +
tokenising, encoding and writing; and peak resident memory as the input grows (10k to 1M generated rows).

Usage: /usr/bin/python3 bench/embed_bench.py [--build BUILD] [--bin USEREC] [--skip-myntra]
Full-size test weights (same shapes and FLOPs as the real USE-lite) for Myntra and the 10k/40k memory pair; the
tiny model of tests/common.py (same pipeline, trivial encoder) for 10k/1M rows, which the full model would
need about an hour for on this CPU. OPENBLAS_CORETYPE is unset for the embed runs (said below)."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))


def run_embed(binary, model, path, args, env):
    """(summary line, peak RSS in MB) of one embed run."""
    with tempfile.TemporaryDirectory(prefix="userec-bench-") as tmp:
        proc = subprocess.Popen([binary, "embed", "--model", model, "--input", path, "-o", os.path.join(tmp, "o.npy"),
                                 *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        err = proc.stderr.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"embed failed:\n{err}")
        return [line for line in err.splitlines() if "rows read" in line][-1], usage.ru_maxrss / 1024


def generated_csv(path, rows):
    words = "red blue green soft warm steel cotton mug lamp chair shoe bottle book toy garden kettle".split()
    with open(path, "w") as f:
        f.write("id,text\n")
        f.writelines(f"{i},{words[i % 16]} {words[(i * 7) % 16]} {words[(i * 11) % 16]} item {i}\n" for i in range(rows))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--bin", default="userec")
    ap.add_argument("--skip-myntra", action="store_true")
    args = ap.parse_args()
    os.environ["USEREC_BUILD"] = os.path.abspath(args.build)
    os.environ["USEREC_BIN"] = os.path.abspath(args.bin)
    import common

    binary = common.BIN
    env = dict(os.environ)
    print(f"embed_bench: OPENBLAS_CORETYPE unset for the runs (was {env.pop('OPENBLAS_CORETYPE', '(unset)')!r}); "
          f"load average {os.getloadavg()[0]:.2f}")
    full, tiny = common.test_usew(), common.tiny_usew()
    myntra = os.path.join(common.DATA, "products", "myntra_products_catalog.csv")
    if not args.skip_myntra and os.path.exists(myntra):
        line, rss = run_embed(binary, full, myntra, ["--text-col", "ProductName,Description", "--id-col", "ProductID"], env)
        m = re.search(r"in ([\d.]+) s .*reading\+tokenising ([\d.]+) s, encoding ([\d.]+) s, writing ([\d.]+) s", line)
        wall, tok, enc, wr = map(float, m.groups())
        print(f"Myntra, full-size model: {line}\n  shares of wall time: reading+tokenising {100 * tok / wall:.1f}% "
              f"(overlapped with encoding), encoding {100 * enc / wall:.1f}%, writing {100 * wr / wall:.1f}%; "
              f"peak RSS {rss:.0f} MB")
    with tempfile.TemporaryDirectory(prefix="userec-bench-") as tmp:
        for model, label, sizes in ((full, "full-size", (10_000, 40_000)), (tiny, "tiny", (10_000, 1_000_000))):
            peaks = []
            for rows in sizes:
                path = os.path.join(tmp, f"{rows}.csv")
                generated_csv(path, rows)
                line, rss = run_embed(binary, model, path, ["--text-col", "text", "--id-col", "id"], env)
                peaks.append(rss)
                print(f"{label} model, {rows:>9,} rows ({os.path.getsize(path) / 1e6:.1f} MB): peak RSS {rss:.1f} MB")
            print(f"  {label}: {sizes[1] // sizes[0]}x the rows -> {peaks[1] / peaks[0]:.2f}x the peak RSS (target: within 2x)")


if __name__ == "__main__":
    main()
