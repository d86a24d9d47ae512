"""`make install`: the installed library is usable from outside the project: a C program built with
`pkg-config --cflags --libs userec` (shared and static, the CUDA build included when this build has CUDA) and
the Python module (python/userec.py) against the installed copy; both give the CLI's vectors bit for bit."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import common
from common import BIN, BUILD, ROOT, run

TEXTS = ["a warm winter jacket", "red running shoes for women", "leather office chair"]


def install(prefix):
    run(["make", "-s", "-C", ROOT, "install", f"PREFIX={prefix}", f"BUILD={BUILD}", f"BIN={BIN}"])


def cli_vectors(model, lines, tmp, fmt="lines"):
    """The CLI's vectors of the lines (texts, or token ids with fmt="ids"; there, an empty line is the empty
    sentence), written to tmp/cli.npy."""
    path = os.path.join(tmp, "input.txt")
    with open(path, "w") as f:
        f.writelines(t + "\n" for t in lines)
    out = os.path.join(tmp, "cli.npy")
    run([BIN, "embed", "--model", model, "--input", path, "--format", fmt, "-o", out])
    return np.load(out)


def test_installed_header_matches_makefile_version():
    with open(os.path.join(ROOT, "Makefile")) as f:
        make_version = re.search(r"^VERSION := (\S+)$", f.read(), re.M).group(1)
    with open(os.path.join(ROOT, "engine", "userec.h")) as f:
        header = f.read()
    parts = [re.search(rf"#define USEREC_VERSION_{p} (\d+)", header).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    assert re.search(r'#define USEREC_VERSION "([^"]+)"', header).group(1) == make_version == ".".join(parts)
    assert run([BIN, "--version"]).stdout.startswith(f"userec {make_version} (library {make_version}")


def test_pkg_config_program_shared_and_static():
    if shutil.which("pkg-config") is None:
        raise common.Skip("pkg-config is not installed (sh tools/install-deps.sh installs it)")
    model = common.test_usew()
    with tempfile.TemporaryDirectory(prefix="userec-install-") as tmp:
        prefix = os.path.join(tmp, "prefix")
        install(prefix)
        for path in ("bin/userec", "lib/libuserec.a", "lib/libuserec.so", "lib/libuserec.so.0", "include/userec.h",
                     "lib/pkgconfig/userec.pc", "lib/python3/dist-packages/userec.py"):
            assert os.path.exists(os.path.join(prefix, path)), path
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
        src = os.path.join(ROOT, "tests", "install", "hello_userec.c")
        want = cli_vectors(model, TEXTS, tmp)
        for kind, flags in (("shared", []), ("static", ["--static"])):
            pc = run(["pkg-config", "--cflags", "--libs", *flags, "userec"], env=env).stdout.split()
            exe = os.path.join(tmp, f"hello-{kind}")
            if kind == "static":  # the archive, and its private dependencies after it
                i = pc.index("-luserec")
                pc[i:i + 1] = ["-Wl,-Bstatic", "-luserec", "-Wl,-Bdynamic"]
            cmd = ["cc", "-std=c11", "-Wall", "-Werror", "-o", exe, src] + pc
            print(kind + ": " + " ".join(cmd))
            run(cmd)
            proc = run([exe, model, *TEXTS], env=dict(os.environ, LD_LIBRARY_PATH=os.path.join(prefix, "lib")))
            lines = proc.stdout.splitlines()
            assert lines[0].startswith("userec "), lines
            got = np.array([[float(x) for x in line.split()[1:4]] for line in lines[1:]], dtype=np.float32)
            assert np.array_equal(got, want[:, :3]), (kind, got, want[:, :3])
            linked = run(["ldd", exe]).stdout
            assert ("libuserec.so" in linked) == (kind == "shared"), linked


@common.quick
def test_python_module_equals_cli():
    model = common.test_usew()
    sys.path.insert(0, os.path.join(ROOT, "python"))
    try:
        import userec
    finally:
        sys.path.pop(0)
    assert userec.library_path == os.path.join(ROOT, "build", "libuserec.so") or "USEREC_LIB" in os.environ or \
        os.path.realpath(BUILD) != os.path.realpath(os.path.join(ROOT, "build")), userec.library_path
    with tempfile.TemporaryDirectory(prefix="userec-python-") as tmp:
        empty = cli_vectors(model, [""], tmp, fmt="ids")  # the empty sentence's vector
        want = cli_vectors(model, TEXTS, tmp)
        with userec.Model(model) as m:
            assert np.array_equal(m.encode([""]), empty), "an empty text gets the empty sentence's vector"
            assert m.dim == want.shape[1]
            got = m.encode(TEXTS)
            assert got.dtype == np.float32 and got.shape == want.shape
            assert np.array_equal(got, want), f"max |diff| {np.abs(got - want).max()}"
            assert m.encoder_name() == "cpu fp32"
            try:
                m.encode(["x"], device="cpu", precision="tf32")
                raise AssertionError("tf32 on the CPU was accepted")
            except userec.Error as e:
                assert e.status_name == "bad input" and "tf32 is for --device cuda" in str(e), e
        index, scores = userec.related(want, k=2)
        csv_path = os.path.join(tmp, "related.csv")
        run([BIN, "related", "--emb", os.path.join(tmp, "cli.npy"), "-k", "2", "-o", csv_path])
        with open(csv_path) as f:
            rows = [line.rstrip("\n").split(",") for line in f][1:]
        for q, rank, neighbour, score in rows:
            q, r = int(q), int(rank) - 1
            assert index[q, r] == int(neighbour) and np.float32(score) == scores[q, r], (q, r, index[q], scores[q])


def test_python_module_from_the_installed_copy():
    model = common.test_usew()
    with tempfile.TemporaryDirectory(prefix="userec-install-py-") as tmp:
        prefix = os.path.join(tmp, "prefix")
        install(prefix)
        code = ("import userec, sys; m = userec.Model(sys.argv[1]); v = m.encode(['red running shoes']);"
                "print(userec.library_path); print(userec.version()); print(repr(float(v[0, 0])))")
        env = {k: v for k, v in os.environ.items() if k not in ("USEREC_LIB", "PYTHONPATH")}
        env["PYTHONPATH"] = os.path.join(prefix, "lib", "python3", "dist-packages")
        out = run([sys.executable, "-c", code, model], env=env, cwd=tmp).stdout.splitlines()
        assert out[0] == os.path.join(prefix, "lib", "libuserec.so.0"), out
        assert float(out[2]) == float(cli_vectors(model, ["red running shoes"], tmp)[0, 0]), out


@common.quick
def test_shared_library_exports_exactly_the_public_api():
    """libuserec.so exports what engine/userec.h declares and nothing else (-fvisibility=hidden, USEREC_API), so
    internal names can change without breaking programs linked against it."""
    lib = os.path.join(BUILD, "libuserec.so")
    exported = {line.split()[-1] for line in run(["nm", "-D", "--defined-only", lib]).stdout.splitlines()}
    exported = {name for name in exported if not name.startswith(".gomp_critical")}  # OpenMP's lock names
    with open(os.path.join(ROOT, "engine", "userec.h")) as f:
        declared = set(re.findall(r"\b(userec_[a-z_0-9]+)\(", f.read()))
    assert exported == declared, f"exported, not declared: {exported - declared}; declared, not exported: {declared - exported}"
