#!/usr/bin/python3
"""Tokenizer throughput: userec's spm and tfjs modes next to python3-sentencepiece's C++ encoder, same texts,
same run, one core each (docs/perf.md, "Tokenizer").

usage: /usr/bin/python3 bench/tokenize_bench.py [--build DIR] [--repeats N] [--threads N]

Texts: every distinct text field of ../shared/data (tests/tokenizer_texts.py), about 21 MB.
SentencePiece: SentencePieceProcessor.encode(list, out_type=int, num_threads=1), the batch API (C++ loop, one
thread; includes building the Python lists of ids). userec: the library itself (bench/tokenize_bench.c, built
here against DIR/libuserec.a), one thread with one scratch, then --threads threads sharing one tokenizer.
Best of --repeats passes for each. OpenBLAS is not involved, so OPENBLAS_CORETYPE is left as it is.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))


def build_driver(build):
    lib = os.path.join(build, "libuserec.a")
    exe = os.path.join(build, "bench", "tokenize_bench")
    src = os.path.join(ROOT, "bench", "tokenize_bench.c")
    if not os.path.exists(lib):
        sys.exit(f"{lib} is missing: run `make BUILD={build}` first")
    if not os.path.exists(exe) or os.path.getmtime(exe) < max(os.path.getmtime(src), os.path.getmtime(lib)):
        os.makedirs(os.path.dirname(exe), exist_ok=True)
        subprocess.run(["gcc", "-O3", "-march=native", "-std=c11", "-D_GNU_SOURCE", "-fopenmp",
                        "-I" + os.path.join(ROOT, "engine"), src, lib, "-lopenblas", "-lutf8proc", "-lm", "-o", exe],
                       check=True)
    return exe


def time_sentencepiece(texts, repeats):
    import sentencepiece
    from common import SPM_MODEL

    sp = sentencepiece.SentencePieceProcessor(model_file=SPM_MODEL)
    sp.encode(texts[:1000], out_type=int, num_threads=1)
    best, tokens = 1e30, 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        ids = sp.encode(texts, out_type=int, num_threads=1)
        best = min(best, time.perf_counter() - t0)
        tokens = sum(map(len, ids))
    return best, tokens


def time_userec(exe, model, kind, records, repeats, threads):
    out = subprocess.run([exe, model, kind, records, str(repeats), str(threads)], check=True, capture_output=True,
                         text=True).stdout
    result = json.loads(out)
    return result["seconds"], result["tokens"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    os.environ["USEREC_BUILD"] = os.path.abspath(args.build)  # where common.test_usew() keeps the model
    import common
    import tokenizer_texts as tt

    common.need_shared("data", "fixtures/use-lite")
    exe = build_driver(args.build)
    model = common.test_usew()
    texts = tt.catalogue_texts()
    megabytes = sum(map(len, texts)) / 1e6
    print(f"{len(texts)} texts, {megabytes:.1f} MB; best of {args.repeats} passes; {os.cpu_count()} CPUs")
    with tempfile.NamedTemporaryFile(prefix="userec-tok-bench-", suffix=".rec") as rec:
        rec.write(tt.to_records(texts))
        rec.flush()
        rows = [("python3-sentencepiece encode(list), 1 thread", *time_sentencepiece(texts, args.repeats))]
        for kind in ("spm", "tfjs"):
            rows.append((f"userec {kind}, 1 thread", *time_userec(exe, model, kind, rec.name, args.repeats, 1)))
        if args.threads > 1:
            for kind in ("spm", "tfjs"):
                rows.append((f"userec {kind}, {args.threads} threads",
                             *time_userec(exe, model, kind, rec.name, args.repeats, args.threads)))
    base = rows[0][1]
    print(f"{'':48} {'seconds':>8} {'tokens':>9} {'Mtok/s':>7} {'MB/s':>6} {'vs spm':>7}")
    for name, seconds, tokens in rows:
        print(f"{name:48} {seconds:8.3f} {tokens:9d} {tokens / seconds / 1e6:7.2f} {megabytes / seconds:6.1f} "
              f"{base / seconds:6.2f}x")


if __name__ == "__main__":
    main()
