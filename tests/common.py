"""Shared helpers for the Python tests (run by tests/run.py with Debian's /usr/bin/python3)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("USEREC_BUILD", os.path.join(ROOT, "build"))
BIN = os.environ.get("USEREC_BIN", os.path.join(ROOT, "userec"))
SHARED = os.environ.get("USEREC_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
FIXTURES = os.path.join(SHARED, "fixtures")
USE_LITE = os.path.join(FIXTURES, "use-lite")
SPM_MODEL = os.path.join(USE_LITE, "tfhub-lite2", "assets", "universal_encoder_8k_spm.model")
DATA = os.path.join(SHARED, "data")


# The CLI's exit codes (cli/cli.h, docs/cli.md): tests name them rather than repeat the numbers.
# sysexits.h style, the same for every command.
EXIT_USAGE = 64        # bad options or arguments: nothing was read or written
EXIT_DATAERR = 65      # an input is malformed, too many rows were rejected, a model computes the wrong thing
EXIT_NOINPUT = 66      # an input does not exist or cannot be read
EXIT_UNAVAILABLE = 69  # the device cannot run it: no usable GPU, no CPU bf16, USEREC_CPU_ISA beyond the CPU
EXIT_SOFTWARE = 70     # an unclassified failure (a bug)
EXIT_OSERR = 71        # out of memory
EXIT_IOERR = 74        # an output could not be written
EXIT_TEMPFAIL = 75     # another `update` holds the store's lock


class Skip(Exception):
    """Raised by a test that cannot run here; the message says why."""


def quick(test):
    """Marks a test for `make check` (tests/run.py --quick), the edit loop: fast, and together a slice of every
    concern. `make test` runs every test, marked or not."""
    test.quick = True
    return test


def need_shared(*relpaths):
    """Skips the calling test unless every path under ../shared exists."""
    for rel in relpaths or ("",):
        path = os.path.join(SHARED, rel)
        if not os.path.exists(path):
            raise Skip(f"{path} is absent (tests read the real fixtures from ../shared)")


def run(cmd, check=True, **kw):
    """Runs a command, returning CompletedProcess with text output; on unexpected failure says what it printed."""
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def peak_rss_kb(cmd):
    """Max resident set of a child process, in kB (from wait4's rusage of that child alone)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        err.seek(0)
        assert os.waitstatus_to_exitcode(status) == 0, err.read().decode(errors="replace")
    return usage.ru_maxrss


def _npm_pins_installed(folder):
    """True when folder/node_modules holds exactly the versions folder/package.json pins."""
    with open(os.path.join(folder, "package.json")) as f:
        pinned = json.load(f)["dependencies"]
    for name, version in pinned.items():
        try:
            with open(os.path.join(folder, "node_modules", name, "package.json")) as f:
                if json.load(f)["version"] != version:
                    return False
        except (OSError, ValueError, KeyError):
            return False
    return True


def ensure_npm_packages(folder, purpose):
    """Installs folder's pinned npm packages with `npm ci` on first use; skips the calling test, naming
    purpose, when node/npm or the registry fail."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise Skip(f"{tool} is not installed ({purpose} needs Node.js: sh tools/install-deps.sh)")
    if _npm_pins_installed(folder):
        return
    try:
        proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True, text=True,
                              errors="replace", timeout=600)
    except subprocess.TimeoutExpired:
        raise Skip(f"`npm ci` in {folder} took over 10 minutes (npm registry unreachable?)")
    if proc.returncode != 0 or not _npm_pins_installed(folder):
        raise Skip(f"`npm ci` in {folder} failed (npm registry unreachable?):\n{proc.stderr[-1500:]}")


def linked_copy(src, dst, skip=()):
    """dst holding hard links to src's files (cheap copies of a 28 MB model; copies across file systems), except
    those in skip. Not symbolic links: the converter refuses weight files that resolve outside the model folder."""
    os.makedirs(dst)
    for name in os.listdir(src):
        if name not in skip:
            try:
                os.link(os.path.join(src, name), os.path.join(dst, name))
            except OSError:
                shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))


def tfjs_test_model(seed=1):
    """The tfjs folder of tools/make_test_model.py's weights for seed (SPEC 2.3), built once per build dir."""
    need_shared("fixtures/use-lite")
    out = os.path.join(BUILD, f"test-model-seed{seed}")
    tool = os.path.join(ROOT, "tools", "make_test_model.py")
    if not os.path.isdir(out) or os.path.getmtime(out) < os.path.getmtime(tool):
        part = out + ".part"  # renamed into place only when complete
        shutil.rmtree(part, ignore_errors=True)
        run([sys.executable, tool, part, "--seed", str(seed), "--from", USE_LITE])
        shutil.rmtree(out, ignore_errors=True)
        os.replace(part, out)
    return out


def test_usew(seed=1):
    """BUILD/testdata/use-lite-seed{seed}.usew: tfjs_test_model(seed) converted by tools/convert.py with the real
    SentencePiece model; rebuilt when it is older than the test model or any tools/*.py. Call it as
    common.test_usew(): tests/run.py would take the bare name imported into a test module for a test.
    Where ../shared's fixtures are absent (the GPU machine of tests/gpu/device_check.sh), the seed-1 file that
    USEREC_TEST_MODEL names stands in: tests/gpu/prepare_device_data.sh built it the same way."""
    prebuilt = os.environ.get("USEREC_TEST_MODEL")
    if seed == 1 and prebuilt and os.path.isfile(prebuilt) and not os.path.isdir(USE_LITE):
        return prebuilt
    tfjs = tfjs_test_model(seed)
    out = os.path.join(BUILD, "testdata", f"use-lite-seed{seed}.usew")
    inputs = [tfjs] + [os.path.join(ROOT, "tools", n) for n in os.listdir(os.path.join(ROOT, "tools")) if n.endswith(".py")]
    if not os.path.isfile(out) or os.path.getmtime(out) < max(map(os.path.getmtime, inputs)):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        run([sys.executable, os.path.join(ROOT, "tools", "convert.py"), tfjs, "-o", out, "--spm-model", SPM_MODEL])
    return out



def tiny_usew():
    """BUILD/testdata/tiny.usew: a USE-lite-shaped model with tiny widths (16 -> 32, 2 heads, FFN 64) and the
    test model's real tokenizers, so whole catalogues run through `embed` in seconds. Its vectors mean nothing:
    it tests the pipeline's accounting, never numbers (test_usew() does that)."""
    import numpy as np

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import usew

    source = test_usew()
    out = os.path.join(BUILD, "testdata", "tiny.usew")
    if os.path.isfile(out) and os.path.getmtime(out) >= os.path.getmtime(source):
        return out
    with open(source, "rb") as f:
        hp, tensors = usew.parse(f.read(), source)
    rng = np.random.default_rng(7)
    w0, d, ffn = 16, 32, 64

    def f32(name, *shape, scale=0.3, offset=0.0):
        data = (offset + scale * rng.standard_normal(shape)).astype("<f4")
        return usew.Tensor(name, usew.F32, shape, data.tobytes())

    model = [f32("embed.table", hp["vocab_rows"], w0), usew.Tensor("embed.timing_inv", usew.F32, [w0 // 2],
             (10000.0 ** (-np.arange(w0 // 2) / (w0 // 2 - 1))).astype("<f4").tobytes())]
    for i, w in enumerate((w0, d)):
        model += [f32(f"l{i}.attn_norm.scale", w, offset=1), f32(f"l{i}.attn_norm.bias", w),
                  f32(f"l{i}.attn.qkv.weight", w, 3 * w), f32(f"l{i}.attn.qkv.bias", 3 * w),
                  f32(f"l{i}.attn.out.weight", w, d), f32(f"l{i}.attn.out.bias", d),
                  f32(f"l{i}.ffn_norm.scale", d, offset=1), f32(f"l{i}.ffn_norm.bias", d),
                  f32(f"l{i}.ffn.up.weight", d, ffn), f32(f"l{i}.ffn.up.bias", ffn),
                  f32(f"l{i}.ffn.down.weight", ffn, d), f32(f"l{i}.ffn.down.bias", d)]
    model += [f32("l0.proj.weight", w0, d), f32("l0.proj.bias", d), f32("head.weight", d, d), f32("head.bias", d)]
    model += [t for name, t in tensors.items() if name.startswith(("tok.", "meta."))]
    hp.update(d_model=d, n_heads=2, d_ffn=ffn, layer_width=[w0, d])
    usew.write_atomic(out, usew.pack(hp, model))
    return out


def assert_same_bits(label, got, want):
    """Fails unless the float32 arrays are equal bit for bit, naming how many rows differ and the first."""
    import numpy as np

    if got.shape != want.shape:
        raise AssertionError(f"{label}: shape {got.shape}, expected {want.shape}")
    differ = np.flatnonzero(np.any(got.view(np.uint32) != want.view(np.uint32), axis=-1))
    if len(differ):
        raise AssertionError(f"{label}: {len(differ)} of {len(want)} rows differ, first row {differ[0]}: "
                             f"max |diff| {np.abs(got - want).max():.3g}")


def assert_close(label, got, want, tol):
    """Fails unless max |got - want| <= tol; prints the max error and the first values side by side."""
    import numpy as np  # here, so that tests without numpy can still import common

    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{label}: shape {got.shape}, expected {want.shape}")
    err = np.abs(got - want)
    worst = float(err.max()) if err.size else 0.0
    where = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    print(f"{label}: max |diff| {worst:.3g} at {tuple(map(int, where))} (tolerance {tol:g})")
    for g, w in list(zip(got.ravel(), want.ravel()))[:6]:
        print(f"    got {g: .9f}   expected {w: .9f}")
    if not worst <= tol:
        raise AssertionError(f"{label}: max |diff| {worst:.3g} > {tol:g} at {tuple(map(int, where))}")
