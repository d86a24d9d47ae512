"""--device cpu|cuda|auto on `query` and `related` (engine/cli_common.c, engine/gpu_select.c): cpu works; cuda
runs on a usable GPU or fails saying why, writing nothing; auto falls back to the CPU and says so once.

Without a usable GPU (no driver, no device, a build without CUDA) the cuda and auto cases check the failure and
the fallback; with one, that the GPU gives the CPU's neighbours."""
import os
import tempfile

import numpy as np

import common

TITLES = ["red running shoes", "blue denim jacket", "wooden dining table", "steel water bottle", "leather office chair"]


def _no_gpu_reason():
    """Why this build cannot use a GPU, as `userec devices` says; None when CUDA device 0 is usable."""
    out = common.run([common.BIN, "devices"]).stdout
    for line in out.splitlines():
        if line.startswith("cuda ") and "unavailable: " in line:
            return line.split("unavailable: ", 1)[1]
        if line.startswith("cuda:0 ") and "; not usable: " in line:
            return line.split("; not usable: ", 1)[1]
    return None


def _check_cuda_refused(proc, cmd, reason):
    assert proc.returncode == common.EXIT_UNAVAILABLE, f"--device cuda without a GPU exited {proc.returncode}\n{proc.stderr}"
    assert f"userec {cmd}: --device cuda: no usable GPU: {reason}" in proc.stderr, proc.stderr
    assert proc.stdout == "", f"--device cuda printed results without a GPU:\n{proc.stdout}"


def _check_fallback_note(proc, reason):
    assert proc.returncode == 0, proc.stderr
    note = f"userec: --device auto: no usable GPU ({reason}); running on the CPU in fp32"
    assert proc.stderr.count(note) == 1, f"expected the fallback note once:\n{proc.stderr}"


def _query_rows(stdout):
    """`userec query` tables -> [(text, rank, id, score)]."""
    rows, text = [], None
    for line in stdout.splitlines():
        if line.startswith('"'):
            text = line[1:-1]
        elif line and not line.startswith("rank"):
            rank, score, id_ = line.split()
            rows.append((text, int(rank), id_, float(score)))
    return rows


def test_query_device_cpu_cuda_auto():
    model, reason = common.test_usew(), _no_gpu_reason()
    with tempfile.TemporaryDirectory() as tmp:
        texts, emb = os.path.join(tmp, "titles.txt"), os.path.join(tmp, "items.npy")
        with open(texts, "w") as f:
            f.writelines(t + "\n" for t in TITLES)
        common.run([common.BIN, "embed", "--model", model, "--input", texts, "-o", emb, "--quiet"])
        query = [common.BIN, "query", "--model", model, "--emb", emb, "-k", "3", *TITLES[:2]]
        default = common.run(query)
        cpu = common.run(query + ["--device", "cpu"])
        cuda = common.run(query + ["--device", "cuda"], check=False)
        auto = common.run(query + ["--device", "auto"], check=False)
    assert cpu.stdout == default.stdout, f"--device cpu differs from the default:\n{cpu.stdout}\n{default.stdout}"
    want = _query_rows(cpu.stdout)
    assert [(t, r, i) for t, r, i, _ in want if r == 1] == [(TITLES[0], 1, "0"), (TITLES[1], 1, "1")], cpu.stdout
    if reason:
        _check_cuda_refused(cuda, "query", reason)
        _check_fallback_note(auto, reason)
        assert auto.stdout == cpu.stdout, f"--device auto on the CPU differs from --device cpu:\n{auto.stdout}"
        return
    for label, proc in (("cuda", cuda), ("auto", auto)):
        assert proc.returncode == 0, f"--device {label} failed on a usable GPU:\n{proc.stderr}"
        got = _query_rows(proc.stdout)
        assert [row[:3] for row in got] == [row[:3] for row in want], f"{label}: {got} vs cpu {want}"
        common.assert_close(f"query --device {label} scores vs cpu", [s for *_, s in got], [s for *_, s in want], 1e-5)


def test_related_device_cpu_cuda_auto():
    reason = _no_gpu_reason()
    rng = np.random.default_rng(11)
    items = rng.standard_normal((300, 64)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory() as tmp:
        emb = os.path.join(tmp, "items.npy")
        np.save(emb, items)

        def related(name, *extra):
            out = os.path.join(tmp, name)
            proc = common.run([common.BIN, "related", "--emb", emb, "-k", "5", "-o", out, *extra], check=False)
            text = open(out).read() if os.path.exists(out) else None
            return proc, text

        cpu, cpu_csv = related("cpu.csv", "--device", "cpu")
        cuda, cuda_csv = related("cuda.csv", "--device", "cuda")
        auto, auto_csv = related("auto.csv", "--device", "auto")
        auto_bf16, auto_bf16_csv = related("auto-bf16.csv", "--device", "auto", "--precision", "bf16")
        cpu_bf16, cpu_bf16_csv = related("cpu-bf16.csv", "--device", "cpu", "--precision", "bf16")
    assert cpu.returncode == 0 and cpu_csv.count("\n") == 1 + 300 * 5, cpu.stderr
    assert cpu_bf16.returncode == common.EXIT_DATAERR and cpu_bf16_csv is None, cpu_bf16.stderr
    assert "the CPU path computes in fp32 only" in cpu_bf16.stderr, cpu_bf16.stderr
    if reason:
        _check_cuda_refused(cuda, "related", reason)
        assert cuda_csv is None, "--device cuda without a GPU wrote an output file"
        for proc, csv in ((auto, auto_csv), (auto_bf16, auto_bf16_csv)):
            _check_fallback_note(proc, reason)
            assert "cpu fp32" in proc.stderr, f"the summary does not say the search ran on the CPU in fp32:\n{proc.stderr}"
            assert csv == cpu_csv, "--device auto on the CPU wrote other results than --device cpu"
        return
    for label, proc, csv in (("cuda", cuda, cuda_csv), ("auto", auto, auto_csv)):
        assert proc.returncode == 0 and "cuda fp32" in proc.stderr, f"--device {label}:\n{proc.stderr}"
        assert csv == cpu_csv, f"--device {label} fp32 differs from the CPU (docs/topk.md: equal bit for bit)"
    assert auto_bf16.returncode == 0 and "cuda bf16" in auto_bf16.stderr, auto_bf16.stderr


@common.quick
def test_bad_device_value_is_named():
    for cmd in ("embed", "related", "query"):
        proc = common.run([common.BIN, cmd, "--device", "gpu"], check=False)
        assert proc.returncode == common.EXIT_USAGE, f"{cmd} --device gpu exited {proc.returncode}"
        assert f"userec {cmd}: --device: device 'gpu' is not cpu, cuda, auto, cuda:0,1,.. (those GPUs), cuda:all or " \
               "cpu:0,0" in proc.stderr, proc.stderr
