"""The CPU's instruction sets (engine/cpu/cpu_kernels.h): one binary runs every ISA the CPU has, USEREC_CPU_ISA
forces a lower one, and every ISA gives the same vectors and the same top-k scores, bit for bit. ISAs this CPU
lacks are skipped, saying so. bf16 on the CPU (avx512_bf16): within the issue's accuracy of fp32 on a real
catalogue, and refused with a clear message where the kernels have none."""
import glob
import json
import os
import platform
import re
import shutil
import tempfile

import numpy as np

import common
from common import BIN, DATA, run

ISAS = ("generic", "avx2", "avx512")
MYNTRA = os.path.join(DATA, "products", "myntra_products_catalog.csv")


def cpu_line(env=None):
    out = run([BIN, "devices"], env=env).stdout
    return next(line for line in out.splitlines() if line.startswith("cpu "))


def cpu_isas():
    """The ISAs `userec devices` says this CPU runs, and whether its kernels have bf16 products."""
    line = cpu_line()
    isas = re.search(r"ISAs ([a-z0-9 ]+);", line).group(1).split()
    assert isas and isas[0] == "generic" and set(isas) <= set(ISAS), line
    return isas, "bf16" in line


def with_isa(isa):
    return dict(os.environ, USEREC_CPU_ISA=isa)


def ids_workload(path, rng, lengths):
    with open(path, "w") as f:
        f.writelines(" ".join(map(str, rng.integers(0, 8002, n))) + "\n" for n in lengths)


def vectors_and_related(isa, tmp, ids):
    """`embed --format ids` then all-pairs `related -k 10` (CSV, scores written exactly) under USEREC_CPU_ISA=isa."""
    model = common.test_usew()
    npy, csv = os.path.join(tmp, f"{isa}.npy"), os.path.join(tmp, f"{isa}.csv")
    run([BIN, "embed", "--model", model, "--input", ids, "--format", "ids", "-o", npy, "--quiet"], env=with_isa(isa))
    run([BIN, "related", "--emb", npy, "-k", "10", "-o", csv, "--quiet"], env=with_isa(isa))
    with open(csv) as f:
        return np.load(npy), f.read()


def compare_isas(lengths, isas):
    have, _ = cpu_isas()
    for isa in ISAS:
        if isa not in have:
            print(f"skipped {isa}: this CPU does not run it (`userec devices`: {cpu_line()})")
    isas = [isa for isa in isas if isa in have]
    if len(isas) < 2:
        raise common.Skip(f"this CPU runs only {have}: no second ISA to compare")
    with tempfile.TemporaryDirectory(prefix="userec-isa-") as tmp:
        ids = os.path.join(tmp, "ids.txt")
        ids_workload(ids, np.random.default_rng(15), lengths)
        results = {isa: vectors_and_related(isa, tmp, ids) for isa in isas}
    first, (want_vectors, want_related) = isas[0], results[isas[0]]
    for isa in isas[1:]:
        vectors, related = results[isa]
        common.assert_same_bits(f"{isa} vs {first}: vectors", vectors, want_vectors)
        assert related == want_related, f"{isa} vs {first}: the related lists or their scores differ"
        print(f"{isa} == {first}: {len(vectors)} vectors and {related.count(chr(10)) - 1} related rows, bit for bit")


@common.quick
def test_avx2_and_avx512_give_the_same_vectors_and_scores():
    """Every length class: empty, shorter than a 16-lane block, whole blocks, partial micro-tiles, max_len and
    clipped, in one batch."""
    lengths = [0, 1, 2, 5, 11, 12, 13, 15, 16, 17, 31, 32, 33, 64, 100, 127, 128, 129, 200] * 3 + [7] * 40
    compare_isas(lengths, ["avx2", "avx512"])


def test_generic_gives_the_vectors_and_scores_of_the_widest_isa():
    """The generic kernels (any x86-64: fp32 fmas through fmaf, slow) against the widest on fewer tokens."""
    lengths = [0, 1, 3, 13, 16, 17, 33, 128, 140, 6, 9, 24]
    compare_isas(lengths, ["generic", cpu_isas()[0][-1]])


# CPUs older than this one, as QEMU's user-mode emulator runs them (its TCG goes up to AVX2, no AVX-512), with
# the ISA userec must pick on each: an AVX2-only server CPU, and the first x86-64 (SSE2, no fma).
OLDER_CPUS = {"Haswell-v4": "avx2", "qemu64": "generic"}


def without_isa():
    """This process's environment without USEREC_CPU_ISA: the widest ISA the CPU (real or emulated) runs."""
    return {k: v for k, v in os.environ.items() if k != "USEREC_CPU_ISA"}


def under_qemu(cpu, cmd, isa=None, check=True):
    """cmd run by qemu-x86_64 as that CPU, with USEREC_CPU_ISA=isa when given. OMP_WAIT_POLICY is set because
    otherwise the CLI runs itself again (cli/main.c), and that exec would leave the emulator and run natively."""
    qemu = shutil.which("qemu-x86_64")
    if platform.machine() != "x86_64" or not qemu:
        raise common.Skip("qemu-x86_64 is absent (Debian's qemu-user; sh tools/install-deps.sh installs it)")
    env = dict(without_isa(), OMP_WAIT_POLICY="passive", **({"USEREC_CPU_ISA": isa} if isa else {}))
    return run([qemu, "-cpu", cpu] + cmd, env=env, check=check)


def texts_workload(path, rng, n):
    """n lines of 0 to 150 words, some accented, CJK and emoji, so texts are clipped at 128 tokens too."""
    words = ["cotton", "shirt", "navy", "pack", "of", "3", "café", "Größe", "naïve", "日本語", "👟", "slim-fit",
             "women's", "kurta", "XL", "100%", "polyester", "Ⅻ", "ﬁne", "denim"]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(" ".join(rng.choice(words, rng.integers(0, 150))) + "\n" for _ in range(n))


def embed_outputs(cmd, texts, model, out):
    """`embed --format lines` of texts, then `related -k 10` of its vectors, through cmd (runs userec with a list
    of arguments): the bytes of the vectors, ids, rejects and related lists."""
    cmd(["embed", "--model", model, "--input", texts, "--format", "lines", "-o", out + ".npy", "--quiet"])
    cmd(["related", "--emb", out + ".npy", "-k", "10", "-o", out + ".csv", "--quiet"])
    outputs = {}
    for suffix in (".npy", ".ids", ".rejects.tsv", ".csv"):
        with open(out + suffix, "rb") as f:
            outputs[suffix] = f.read()
    return outputs


def test_older_cpus_run_the_same_binary_with_the_same_vectors():
    """The binary as an AVX2-only CPU and as the first x86-64 (QEMU): it picks the kernels that CPU has, never
    executes an instruction that CPU lacks (QEMU stops it with SIGILL), and writes the same bytes as this CPU's
    widest ISA: vectors, ids, rejects and related lists with their scores. The tiny model on every CPU; the
    full-size test model (layer 0's tables, the real widths) on the AVX2 CPU only, as emulation is slow."""
    native_isa = cpu_isas()[0][-1]
    tiny, full = common.tiny_usew(), common.test_usew()
    with tempfile.TemporaryDirectory(prefix="userec-qemu-") as tmp:
        texts, short = os.path.join(tmp, "texts.txt"), os.path.join(tmp, "short.txt")
        texts_workload(texts, np.random.default_rng(16), 60)
        texts_workload(short, np.random.default_rng(17), 8)
        native = lambda args: run([BIN] + args, env=without_isa())
        want = {(model, workload): embed_outputs(native, workload, model, os.path.join(tmp, f"native-{i}"))
                for i, (model, workload) in enumerate([(tiny, texts), (full, short)])}
        for cpu, isa in OLDER_CPUS.items():
            line = next(l for l in under_qemu(cpu, [BIN, "devices"]).stdout.splitlines() if l.startswith("cpu "))
            assert f"; kernels {isa};" in line and "avx512" not in line, f"as {cpu}: {line}"
            runs = [(tiny, texts)] + ([(full, short)] if isa == "avx2" else [])
            for i, (model, workload) in enumerate(runs):
                got = embed_outputs(lambda args: under_qemu(cpu, [BIN] + args), workload, model,
                                    os.path.join(tmp, f"{cpu}-{i}"))
                for suffix, data in want[model, workload].items():
                    assert got[suffix] == data, f"as {cpu} ({isa}): {suffix} differs from this CPU's {native_isa}"
                vectors = np.load(os.path.join(tmp, f"{cpu}-{i}.npy"))
                print(f"as {cpu} (QEMU), kernels {isa}: {len(vectors)} vectors of {os.path.basename(model)} and "
                      f"their related lists, the same bytes as this CPU's {native_isa}")


@common.quick
def test_only_the_isa_kernel_files_use_avx():
    """Every VEX or EVEX instruction (AVX and later) of the library and the CLI lies in the per-ISA kernel files,
    which run only on CPUs that have them: any other object built with a -m flag or -march (a stale one, a
    flag in CFLAGS) would crash the binary on an older CPU."""
    objdump = shutil.which("objdump")
    if platform.machine() != "x86_64" or not objdump:
        raise common.Skip("objdump is absent or this is not x86-64")
    objects = [os.path.join(common.BUILD, "libuserec.a")] + sorted(glob.glob(os.path.join(common.BUILD, "cli", "*.o")))
    listing = run([objdump, "-d"] + objects).stdout
    allowed = {f"cpu_kernels_{isa}.o" for isa in ("avx2", "avx512", "bf16")}
    found, member, counts = set(), None, {}
    for line in listing.splitlines():
        if "file format" in line:
            member = os.path.basename(line.split(":")[0])
            found.add(member)
        # objdump's instruction lines: "  addr:<TAB>bytes<TAB>mnemonic"; in 64-bit mode c4/c5 open a VEX
        # instruction and 62 an EVEX one.
        elif re.match(r"\s*[0-9a-f]+:\t(c4|c5|62) ", line):
            counts[member] = counts.get(member, 0) + 1
    assert allowed <= found and len(found) > 20, sorted(found)
    offenders = {m: n for m, n in counts.items() if m not in allowed}
    assert not offenders, f"AVX instructions outside the kernel files (object: count): {offenders}"
    print(f"{len(found)} objects; AVX instructions only in " +
          ", ".join(f"{m} ({counts.get(m, 0)})" for m in sorted(allowed)))


@common.quick
def test_devices_names_the_isa_in_use():
    have, _ = cpu_isas()
    assert f"kernels {have[-1]}" in cpu_line(), cpu_line()
    for isa in have:
        assert f"kernels {isa} (USEREC_CPU_ISA)" in cpu_line(with_isa(isa)), cpu_line(with_isa(isa))


def test_bench_runs_the_forced_isa_against_the_widest_peak():
    have, bf16 = cpu_isas()
    # The lowest ISA but generic (whose product probes would take minutes), or generic where it is all there is.
    lowest = have[min(1, len(have) - 1)]
    report = json.loads(run([BIN, "bench", "--model", common.test_usew(), "--seq-len", "4", "--batch", "4",
                             "--repeat", "1", "--json", "--quiet"], env=with_isa(lowest)).stdout)
    assert report["cpu_isa"] == lowest and report["cpu_peak_isa"] == have[-1], report
    assert report["results"][0]["isa"] == lowest and report["results"][0]["peak_isa"] == have[-1], report
    assert (report["cpu_bf16_peak_gflops"] > 0) == bf16, report
    if not bf16:
        print("bench --precision bf16 on the CPU not tried: this CPU has no avx512_bf16")
        return
    report = json.loads(run([BIN, "bench", "--model", common.test_usew(), "--seq-len", "4", "--batch", "4",
                             "--repeat", "1", "--precision", "fp32,bf16", "--json", "--quiet"]).stdout)
    fp32, bf16 = report["results"]
    assert fp32["precision"] == "fp32" and fp32["peak_kind"] == "fp32 fma", fp32
    assert bf16["precision"] == "bf16" and bf16["peak_kind"] == "bf16 dot product", bf16
    assert 0 < bf16["peak_gflops"] <= report["cpu_bf16_peak_gflops"] and report["cpu_gemm_bf16_gflops"] > 0, report
    assert abs(bf16["mfu"] - bf16["gflops"] / bf16["peak_gflops"]) < 1e-3, bf16


def embed_under(isa, tmp, *extra, cpu=None):
    """`embed --format ids` of two short sentences under USEREC_CPU_ISA=isa (None: unset), natively or as the QEMU
    CPU cpu: (process, whether it wrote OUT)."""
    ids, out = os.path.join(tmp, "ids.txt"), os.path.join(tmp, "out.npy")
    ids_workload(ids, np.random.default_rng(1), [3, 4])
    cmd = [BIN, "embed", "--model", common.test_usew(), "--input", ids, "--format", "ids", "-o", out, *extra]
    proc = (under_qemu(cpu, cmd, isa=isa, check=False) if cpu else
            run(cmd, check=False, env=with_isa(isa) if isa else None))
    return proc, os.path.exists(out)


@common.quick
def test_unknown_isa_is_refused():
    with tempfile.TemporaryDirectory(prefix="userec-isa-") as tmp:
        proc, wrote = embed_under("avx1024", tmp)
    assert proc.returncode == common.EXIT_UNAVAILABLE and not wrote, proc
    assert "USEREC_CPU_ISA='avx1024' is not generic, avx2 or avx512" in proc.stderr, proc.stderr


def test_missing_isa_is_refused():
    """USEREC_CPU_ISA naming an ISA the CPU lacks: refused, nothing written. Where this CPU runs every ISA, as an
    AVX2-only Haswell under QEMU."""
    have, _ = cpu_isas()
    cpu, widest = (None, have[-1]) if "avx512" not in have else ("Haswell-v4", "avx2")
    with tempfile.TemporaryDirectory(prefix="userec-isa-") as tmp:
        proc, wrote = embed_under("avx512", tmp, cpu=cpu)
    assert proc.returncode == common.EXIT_UNAVAILABLE and not wrote, proc
    assert f"USEREC_CPU_ISA=avx512: this CPU runs at most {widest}" in proc.stderr, proc.stderr
    print(f"refused{f' as {cpu} (QEMU)' if cpu else ''}: {proc.stderr.strip().splitlines()[-1]}")


@common.quick
def test_cpu_bf16_is_refused_without_avx512_bf16():
    model = common.test_usew()
    have, bf16 = cpu_isas()
    with tempfile.TemporaryDirectory(prefix="userec-isa-") as tmp:
        ids = os.path.join(tmp, "ids.txt")
        ids_workload(ids, np.random.default_rng(2), [3, 4])
        cmd = [BIN, "embed", "--model", model, "--input", ids, "--format", "ids", "-o", os.path.join(tmp, "o.npy"),
               "--device", "cpu", "--precision", "bf16"]
        # A lower ISA leaves no bf16 products, on any CPU.
        proc = run(cmd, check=False, env=with_isa("avx2" if "avx2" in have else "generic"))
        assert proc.returncode == common.EXIT_UNAVAILABLE, proc
        assert "--precision bf16 on the CPU needs AVX-512 with avx512_bf16" in proc.stderr, proc.stderr
        proc = run(cmd, check=False)
        if bf16:
            assert proc.returncode == 0, proc.stderr
            # A CPU without avx512_bf16 (no AVX-512 at all): an AVX2-only Haswell under QEMU.
            proc, wrote = embed_under(None, tmp, "--device", "cpu", "--precision", "bf16", cpu="Haswell-v4")
            assert not wrote, proc
        assert proc.returncode == common.EXIT_UNAVAILABLE and "this CPU has none: use fp32" in proc.stderr, proc.stderr


def catalogue_vectors(texts, tmp, precision):
    """Vectors of the texts file (one text per line) on the CPU in precision."""
    out = os.path.join(tmp, f"{precision}.npy")
    run([BIN, "embed", "--model", common.test_usew(), "--input", texts, "--format", "lines", "-o", out,
         "--device", "cpu", "--precision", precision, "--quiet"])
    return np.load(out)


def top10(vectors):
    """Each row's 10 nearest other rows by dot product (float64), as sets; equal scores (the catalogue's duplicate
    texts) by lower row first, as `related` orders them."""
    scores = vectors.astype(np.float64) @ vectors.astype(np.float64).T
    np.fill_diagonal(scores, -np.inf)
    return [set(row) for row in np.argsort(-scores, axis=1, kind="stable")[:, :10]]


def test_cpu_bf16_accuracy_on_a_real_catalogue():
    """bf16 weights and activations in the per-token products, fp32 sums, LN, softmax and pooled head: every
    sentence's vector within cosine 0.999 of fp32's, and the top-10 related lists of the catalogue recalled at
    >= 0.99 against fp32's. Real texts (3,000 Myntra products, name and description); the test weights
    (SPEC 2.3): no full real weight set exists on these machines."""
    common.need_shared("data/products/myntra_products_catalog.csv")
    _, bf16 = cpu_isas()
    if not bf16:
        raise common.Skip("this CPU has no avx512_bf16: bf16 on the CPU is refused here")
    import csv

    with open(MYNTRA, newline="", encoding="utf-8") as f:
        rows = [r for _, r in zip(range(3000), csv.DictReader(f))]
    with tempfile.TemporaryDirectory(prefix="userec-bf16-") as tmp:
        texts = os.path.join(tmp, "texts.txt")
        with open(texts, "w", encoding="utf-8") as f:
            f.writelines(" ".join(f"{r['ProductName']} {r['Description']}".split()) + "\n" for r in rows)
        fp32, half = catalogue_vectors(texts, tmp, "fp32"), catalogue_vectors(texts, tmp, "bf16")
    cosine = np.sum(fp32 * half, axis=1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(half, axis=1)
    q = np.quantile(cosine, [0, 0.001, 0.01, 0.5])
    print(f"bf16 vs fp32 on {len(cosine)} Myntra products: cosine min {q[0]:.6f}, p0.1 {q[1]:.6f}, p1 {q[2]:.6f}, "
          f"median {q[3]:.6f}")
    assert q[0] >= 0.999, f"cosine below 0.999 for {np.sum(cosine < 0.999)} sentences (min {q[0]:.6f})"
    want, got = top10(fp32), top10(half)
    recall = sum(len(a & b) for a, b in zip(want, got)) / (10 * len(want))
    print(f"top-10 related lists of the {len(want)} products, bf16 against fp32: recall {recall:.5f}")
    assert recall >= 0.99, recall
