#!/usr/bin/python3
"""`make fuzz`: runs every libFuzzer target of tests/fuzz/ for --seconds each, two at a time, on its corpus (kept in
BUILD/fuzz/corpus/<target> from run to run) plus seeds made now (make_seeds.py). Any crash, leak or timeout input
is copied into tests/fuzz/regressions/<target>/, where tests/test_fuzz_regressions.py replays it in every
`make test`, and the run fails. Ends with one line per target: executions, executions per second, corpus size."""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))


def run_target(name, args, env):
    binary = os.path.join(args.fuzz_dir, name)
    corpus = os.path.join(args.fuzz_dir, "corpus", name)
    artifacts = os.path.join(args.fuzz_dir, "artifacts", name) + os.sep
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    earlier = set(glob.glob(artifacts + "*"))  # kept by an earlier run (and copied to regressions/ then)
    log = os.path.join(args.fuzz_dir, f"{name}.log")
    cmd = [binary, f"-max_total_time={args.seconds}", "-timeout=30", "-rss_limit_mb=4096", "-print_final_stats=1",
           f"-artifact_prefix={artifacts}", corpus, os.path.join(args.fuzz_dir, "seeds", name)]
    started = time.time()
    with open(log, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    text = open(log, errors="replace").read()
    stat = dict(re.findall(r"^stat::(\w+):\s*(\d+)", text, re.M))
    found = [p for p in set(glob.glob(artifacts + "*")) - earlier
             if os.path.basename(p).startswith(("crash-", "leak-", "timeout-", "oom-", "slow-unit-"))]
    return {"name": name, "rc": proc.returncode, "seconds": time.time() - started, "log": log, "found": found,
            "runs": int(stat.get("number_of_executed_units", 0)), "per_second": int(stat.get("average_exec_per_sec", 0)),
            "corpus": len(os.listdir(corpus)), "corpus_bytes": sum(os.path.getsize(os.path.join(corpus, f)) for f in os.listdir(corpus))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fuzz-dir", required=True)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--model", required=True, help="the test model (both tokenizers), for fuzz_tokenizer")
    ap.add_argument("--bin", help="userec, to make seeds the way embed writes its outputs")
    ap.add_argument("--shared", required=True)
    ap.add_argument("--only", default="", help="run only the targets whose name contains this")
    args = ap.parse_args()
    targets = sorted(os.path.basename(p)[:-2] for p in glob.glob(os.path.join(HERE, "fuzz_*.c")) if args.only in p)
    seeds = os.path.join(args.fuzz_dir, "seeds")
    shutil.rmtree(seeds, ignore_errors=True)
    cmd = [sys.executable, os.path.join(HERE, "make_seeds.py"), seeds, "--shared", args.shared, "--model", args.model]
    subprocess.run(cmd + (["--bin", args.bin] if args.bin else []), check=True)
    env = {**os.environ, "USEREC_FUZZ_MODEL": args.model, "OMP_NUM_THREADS": "1",
           "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1", "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    print(f"fuzz: {len(targets)} targets, {args.seconds} s each, {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda t: run_target(t, args, env), targets))
    failed = 0
    for r in results:
        kept = []
        for path in r["found"]:
            folder = os.path.join(HERE, "regressions", r["name"])
            os.makedirs(folder, exist_ok=True)
            shutil.copy(path, folder)
            kept.append(os.path.join(folder, os.path.basename(path)))
        bad = r["rc"] != 0 or kept
        failed += bool(bad)
        verdict = f"  FAILED (exit {r['rc']}), see {r['log']}" if bad else ""
        print(f"fuzz: {r['name']:15} {r['runs']:>10} runs, {r['per_second']:>6} exec/s, corpus {r['corpus']} inputs "
              f"({r['corpus_bytes']} bytes){verdict}")
        for path in kept:
            print(f"fuzz:   kept {path}: commit it; tests/test_fuzz_regressions.py replays it")
    if failed:
        print(f"fuzz: {failed} of {len(results)} targets failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
