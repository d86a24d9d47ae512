#!/usr/bin/python3
"""Runs every test and ends with the line `N passed, N failed, N skipped`.

Two kinds of tests:
- C programs built from tests/c/test_*.c into BUILD/tests/: each prints one line per check,
  `ok NAME`, `not ok NAME: why` or `skip NAME: reason` (tests/c/check.h).
- Python modules tests/test_*.py: every function named test_* is a test; raising common.Skip skips it,
  any other exception fails it.
`--only SUBSTR` runs the tests whose name contains SUBSTR. `--quick` (`make check`) runs the C programs and the
Python tests marked @common.quick: a slice of every concern in under a minute.
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def run_c_tests(build, only, tally):
    tests_dir = os.path.join(build, "tests")
    if not os.path.isdir(tests_dir):
        return
    for name in sorted(os.listdir(tests_dir)):
        path = os.path.join(tests_dir, name)
        if not name.startswith("test_") or not os.access(path, os.X_OK):
            continue
        if only and only not in name:
            continue
        proc = subprocess.run([path], capture_output=True, text=True, errors="replace")
        seen = 0
        for line in proc.stdout.splitlines():
            for status in ("ok", "not ok", "skip"):
                if line.startswith(status + " "):
                    seen += 1
                    tally.record(status, f"{name}: {line[len(status) + 1:]}")
                    break
            else:
                print("    " + line)
        if proc.returncode != 0 or seen == 0:
            tally.record("not ok", f"{name}: exited {proc.returncode} after {seen} checks\n{proc.stderr[-3000:]}")


def run_py_tests(only, quick, tally):
    sys.path.insert(0, HERE)
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fname[:-3], os.path.join(HERE, fname))
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception:
            tally.record("not ok", f"{fname}: import failed\n{traceback.format_exc()}")
            continue
        for attr in sorted(vars(module)):
            func = getattr(module, attr)
            full = f"{fname[:-3]}.{attr}"
            defined_here = getattr(func, "__module__", None) == module.__name__  # not an imported helper
            if not (attr.startswith("test_") and callable(func) and defined_here) or (only and only not in full):
                continue
            if quick and not getattr(func, "quick", False):
                continue
            started = time.time()
            try:
                func()
            except Skip_ as skip:
                tally.record("skip", f"{full}: {skip}")
            except Exception:
                tally.record("not ok", f"{full}\n{traceback.format_exc()}")
            else:
                tally.record("ok", f"{full} ({time.time() - started:.1f}s)")


class Tally:
    def __init__(self):
        self.counts = {"ok": 0, "not ok": 0, "skip": 0}

    def record(self, status, text):
        self.counts[status] += 1
        print(f"{status} {text}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--bin", default="userec")
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--only", default="")
    ap.add_argument("--quick", action="store_true", help="the C programs and the tests marked @common.quick")
    args = ap.parse_args()
    os.environ["USEREC_BUILD"] = os.path.abspath(args.build)
    os.environ["USEREC_BIN"] = os.path.abspath(args.bin)
    os.environ["USEREC_SHARED"] = os.path.abspath(args.shared)
    global Skip_
    sys.path.insert(0, HERE)
    import common
    Skip_ = common.Skip
    tally = Tally()
    # The C tests that need a converted model (e.g. the loader fuzz test) read it from USEREC_TEST_MODEL: the
    # full-size test weights, or for --quick the tiny model (the same format and code paths, 1/100 of the bytes to
    # checksum on every mutation).
    try:
        os.environ["USEREC_TEST_MODEL"] = common.tiny_usew() if args.quick else common.test_usew()
    except common.Skip as why:
        print(f"note: no test model for the C tests: {why}")
    started = time.time()
    run_c_tests(args.build, args.only, tally)
    run_py_tests(args.only, args.quick, tally)
    c = tally.counts
    print(f"{c['ok']} passed, {c['not ok']} failed, {c['skip']} skipped")
    print(f"(the tests took {time.time() - started:.0f} s)", file=sys.stderr)
    sys.exit(1 if c["not ok"] else 0)


if __name__ == "__main__":
    main()
