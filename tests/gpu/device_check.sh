#!/bin/bash
# tests/gpu/device_check.sh [DATA_DIR]: everything the CUDA path needs checked on a GPU machine, in one run of
# under 8 minutes on an H100 or H200, ending with ONE summary table:
#   1. the build's libraries (unpacked from DATA_DIR/debs when the machine lacks them) and `make CUDA=1` (the
#      default fatbinary, every architecture)
#   2. kernel resources: registers, shared memory, local memory (spills) of every kernel (cuobjdump)
#   3. every GPU test (tests/gpu/test_*.c): each kernel against its CPU twin (test_kernels), the encoder against
#      the CPU path on the oracle's sequences, graph replays, a one-layer model, the device batch limits, a
#      large random batch and the Myntra catalogue (test_gpu_encoder), the top-k (test_topk_gpu); then the
#      kernel twins and the small encoder set again within 99 KiB of shared memory per block, as on sm_86,
#      sm_89 and sm_120 parts (USEREC_GPU_SMEM_LIMIT); then the Python tests that branch on a usable GPU:
#      device selection (tests/test_device.py), the fatbinary against cuobjdump (tests/test_cuda_build.py) and
#      cuda:0,0 against cuda:0 (tests/test_scale.py)
#   4. compute-sanitizer memcheck (all kernels, cuBLAS's too) on the small test set in fp32 and bf16
#      (USEREC_GPU_TEST_QUICK=1), on the device batch limits at full size in tf32 and bf16
#      (USEREC_GPU_TEST_LIMITS=1) and on the kernel twins; racecheck (the attention kernel, the one whose threads
#      share data through shared memory) on the small set, in both of its variants
#   5. `userec bench` in fp32, tf32 and bf16: fixed 32- and 128-token batches on the CPU and the GPU (GPU/CPU
#      ratios), the catalogue on the GPU; with MFU and the split between copies and kernels; cuda:0 against
#      cuda:0,0 (two encoders on one card: the multi-device dispatch overhead)
#   6. the PyTorch peer (bench/peers/torch_use_lite.py) when torch imports and sees the GPU
#   7. the GPU top-k timing (bench/topk_gpu.sh: 100k all-pairs fp32 and bf16 against torch.mm + torch.topk,
#      1M x 1M bf16) when userec sees the GPU and numpy imports
#   8. the kernel time per family (tests/gpu/profile_kernels.sh, Nsight Compute) when ncu is there
# Steps run in that order, correctness first, each within its own time limit and within what is left of
# BUDGET seconds (default 470): a step that no longer fits is skipped and says so.
# DATA_DIR (default .gpu-data) is made by tests/gpu/prepare_device_data.sh on a machine with ../shared.
# Writes DEST/summary.txt and the logs: DEST/logs/, packed into DEST/logs.tar.gz when $OUT is set (the device
# tool brings few files back). DEST is $OUT when set, else device-check-logs. Exit status 0 when no step failed.
set -u
cd "$(dirname "$0")/../.." || exit 1
DATA=${1:-.gpu-data}
DEST=${OUT:-device-check-logs}
LOGS=$DEST/logs
B=${BUILD:-/tmp/userec-device-check}
BUDGET=${BUDGET:-470}
SMALL_CARD_SMEM=101376 # shared memory per block (opt-in) of sm_86, sm_89 and sm_120 parts
case $DATA in /*) ;; *) DATA=$PWD/$DATA ;; esac # absolute: tests/run.py's tests take it as it is
MODEL=$DATA/use-lite-seed1.usew
IDS=$DATA/myntra.ids
mkdir -p "$LOGS" "$B"
STARTED=$SECONDS
SUMMARY=()
FAILED=0

# record STEP STATUS DETAIL: one row of the final table; FAIL makes the exit status 1.
record() {
    SUMMARY+=("$(printf '%-16s %-5s %s' "$1" "$2" "$3")")
    [ "$2" = FAIL ] && FAILED=1
    printf '[%4ds] %-16s %-5s %s\n' $((SECONDS - STARTED)) "$1" "$2" "$3"
}

# left: the seconds of BUDGET not yet spent.
left() { echo $((BUDGET - (SECONDS - STARTED))); }

# fits NAME SECONDS: true when SECONDS are left; else records NAME as skipped for the time budget.
fits() {
    [ "$(left)" -ge "$2" ] && return 0
    record "$1" skip "$(left) s of the ${BUDGET} s budget left, the step needs up to $2 s"
    return 1
}

# step LIMIT LOG COMMAND...: runs COMMAND with a time limit (at most what is left of the budget), output to
# $LOGS/LOG; returns its status (124: timeout).
step() {
    local limit=$1 log=$2
    shift 2
    [ "$(left)" -lt "$limit" ] && limit=$(left)
    [ "$limit" -lt 1 ] && limit=1
    timeout "$limit" "$@" >"$LOGS/$log" 2>&1
}

# ---- 0. the machine ----
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv
    nvcc --version | tail -2
    compute-sanitizer --version 2>&1 | head -2
    python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())' 2>&1 | tail -1
    nproc
} >"$LOGS/machine.log" 2>&1
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
record machine "$([ -n "$GPU_NAME" ] && echo ok || echo FAIL)" "${GPU_NAME:-nvidia-smi sees no GPU}; $(nproc) CPUs"

if [ ! -f "$MODEL" ]; then
    record data FAIL "$MODEL is missing: run tests/gpu/prepare_device_data.sh where ../shared is, and carry $DATA"
fi

# ---- 1. libraries and build ----
if echo '#include <cblas.h>
#include <utf8proc.h>' | cc -E - >/dev/null 2>&1; then
    record libraries ok "OpenBLAS and utf8proc headers present"
elif ls "$DATA"/debs/*.deb >/dev/null 2>&1; then
    SYSROOT=/tmp/userec-sysroot
    for deb in "$DATA"/debs/*.deb; do dpkg-deb -x "$deb" "$SYSROOT"; done
    LIBDIRS="$SYSROOT/usr/lib/x86_64-linux-gnu/openblas-pthread $SYSROOT/usr/lib/x86_64-linux-gnu"
    export CPATH="$SYSROOT/usr/include/x86_64-linux-gnu/openblas-pthread:$SYSROOT/usr/include${CPATH:+:$CPATH}"
    export LIBRARY_PATH="${LIBDIRS// /:}${LIBRARY_PATH:+:$LIBRARY_PATH}"
    # DT_RPATH (not RUNPATH) so that libopenblas finds the unpacked libgfortran too, without LD_LIBRARY_PATH.
    export LDLIBS="${LDLIBS:-} -Wl,--disable-new-dtags -Wl,-rpath,${LIBDIRS// /,-rpath,}"
    record libraries ok "unpacked $DATA/debs/*.deb into $SYSROOT"
else
    record libraries FAIL "no cblas.h / utf8proc.h and no $DATA/debs to unpack"
fi
# Checked above; tools/install-deps.sh would reach for an apt archive this machine lacks. Made once: a newer
# stamp would rebuild every object on a second run.
[ -f "$B/.deps-ok" ] || touch "$B/.deps-ok"
GPU_TESTS=()
for src in tests/gpu/test_*.c; do GPU_TESTS+=("$B/tests/$(basename "$src" .c)"); done
t0=$SECONDS
if step 240 build.log make -j"$(nproc)" CUDA=1 BUILD="$B" BIN="$B/userec" "$B/userec" "$B/libuserec.so" "${GPU_TESTS[@]}"; then
    warnings=$(grep -c 'warning' "$LOGS/build.log")
    record build ok "make CUDA=1 in $((SECONDS - t0)) s, $warnings compiler warnings (build.log)"
else
    record build FAIL "make CUDA=1 failed after $((SECONDS - t0)) s: $(grep -m1 -E 'error|Error' "$LOGS/build.log")"
fi
"$B/userec" devices >"$LOGS/devices.log" 2>&1

# ---- 2. kernel resources ----
if command -v cuobjdump >/dev/null && ls "$B"/kernels/*.o >/dev/null 2>&1; then
    spilling=""
    for obj in "$B"/kernels/*.o; do # cuobjdump reads one file per call
        cuobjdump --dump-resource-usage "$obj" >>"$LOGS/resources.log" 2>&1
        cuobjdump --dump-sass "$obj" >"$LOGS/sass.tmp" 2>&1
        n=$(grep -cE '\b(LDL|STL)\b' "$LOGS/sass.tmp")
        [ "$n" != 0 ] && spilling="$spilling $(basename "$obj"):$n"
        cat "$LOGS/sass.tmp" >>"$LOGS/sass.log"
    done
    rm -f "$LOGS/sass.tmp"
    max_regs=$(grep -oE 'REG:[0-9]+' "$LOGS/resources.log" | cut -d: -f2 | sort -n | tail -1)
    record resources "$([ -z "$spilling" ] && echo ok || echo warn)" \
        "max ${max_regs:-?} registers/thread; local-memory instructions (LDL/STL) in SASS:${spilling:- none} (resources.log)"
else
    record resources skip "no cuobjdump or no kernel objects"
fi

# ---- 3. GPU tests ----
export USEREC_TEST_MODEL=$MODEL
[ -f "$IDS" ] && export USEREC_GPU_TEXT_IDS=$IDS
# gpu_test NAME LIMIT TEST [VAR=VALUE...]: one tests/gpu program, with those variables, as one row of the table.
gpu_test() {
    local name=$1 limit=$2 bin=$B/tests/$3
    shift 3
    t0=$SECONDS
    step "$limit" "$name.log" env "$@" "$bin"
    rc=$?
    ok=$(grep -c '^ok ' "$LOGS/$name.log")
    bad=$(grep -c '^not ok ' "$LOGS/$name.log")
    skipped=$(grep -c '^skip ' "$LOGS/$name.log")
    detail="$ok ok, $bad failed, $skipped skipped in $((SECONDS - t0)) s, exit $rc"
    [ "$bad" != 0 ] && detail="$detail; first: $(grep -m1 '^not ok ' "$LOGS/$name.log" | cut -c1-160)"
    record "$name" "$([ "$rc" = 0 ] && [ "$bad" = 0 ] && [ "$ok" != 0 ] && echo ok || echo FAIL)" "$detail"
}
for bin in "${GPU_TESTS[@]}"; do
    gpu_test "$(basename "$bin")" 180 "$(basename "$bin")"
done
if [ -f "$LOGS/test_gpu_encoder.log" ]; then # the bf16 error distribution on the catalogue, for docs/perf.md
    grep -A2 'bf16: catalogue texts equals the CPU path error distribution' "$LOGS/test_gpu_encoder.log" \
        >"$LOGS/bf16_errors.txt"
fi
# The variants chosen for 99 KiB of shared memory per block (attention keeps its values in global memory at
# depth 128), on this larger card: the kernel twins, and the encoder's small set.
gpu_test kernels-99KiB 60 test_kernels USEREC_GPU_SMEM_LIMIT=$SMALL_CARD_SMEM
gpu_test encoder-99KiB 120 test_gpu_encoder USEREC_GPU_SMEM_LIMIT=$SMALL_CARD_SMEM USEREC_GPU_TEST_QUICK=1

# The Python tests that take another branch on a usable GPU: `--device cuda|auto` really running on it, and
# the fatbinary's architectures against cuobjdump's lists. Their test model is $MODEL (tests/common.py).
py_tests() { # NAME MODULE NOTE: tests/run.py --only MODULE against this build
    t0=$SECONDS
    step 120 "$1.log" "$PY" tests/run.py --build "$B" --bin "$B/userec" --only "$2"
    rc=$?
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$LOGS/$1.log")
    record "$1" "$([ "$rc" = 0 ] && [ -n "$summary" ] && echo ok || echo FAIL)" \
        "${summary:-no summary}, exit $rc, $((SECONDS - t0)) s; $3 ($1.log)"
}
PY=${PY:-python3}
if ! "$PY" -c 'import numpy' 2>/dev/null; then # tests/run.py imports every test module, and most import numpy
    record python-tests skip "$PY has no numpy (PY=... names another Python)"
else
    usable=$(grep -q '^cuda:0 .*; usable$' "$LOGS/devices.log" && echo "GPU branch: cuda:0 usable" ||
        echo "NOT the GPU branch: cuda:0 is not usable (devices.log)")
    py_tests device-select test_device "$usable"
    py_tests fatbinary test_cuda_build "every promised architecture, cross-checked by cuobjdump"
    py_tests scale-out test_scale "cuda:0,0 equal to cuda:0 bit for bit, shards and merge"
fi

# ---- 4. compute-sanitizer ----
if command -v compute-sanitizer >/dev/null; then
    sanitize() { # NAME TOOL LIMIT TEST [VAR=VALUE...] -- [compute-sanitizer options]
        local name=$1 tool=$2 limit=$3 test=$4 vars=()
        shift 4
        while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
        [ $# -gt 0 ] && shift
        fits "$name" 30 || return
        t0=$SECONDS
        step "$limit" "$name.log" env "${vars[@]}" compute-sanitizer --tool "$tool" "$@" --error-exitcode 99 \
            "$B/tests/$test"
        rc=$?
        errors=$(grep -m1 -oE '(ERROR|RACECHECK) SUMMARY: [0-9]+ (error|hazard)s?' "$LOGS/$name.log")
        bad=$(grep -c '^not ok ' "$LOGS/$name.log")
        ok=$(grep -c '^ok ' "$LOGS/$name.log")
        record "$name" "$([ "$rc" = 0 ] && [ "$bad" = 0 ] && [ "$ok" != 0 ] && echo ok || echo FAIL)" \
            "$test ${vars[*]#USEREC_}: ${errors:-no summary}, $ok ok, $bad failed, exit $rc, $((SECONDS - t0)) s"
    }
    sanitize memcheck memcheck 150 test_gpu_encoder USEREC_GPU_TEST_QUICK=1 USEREC_GPU_TEST_PRECISIONS=fp32,bf16
    # A chunk at the sentence limit (per-sentence buffers and the pooled products at full size) and one at the
    # token limit; tf32 and bf16 cover both storage types (fp32 runs tf32's kernels with plain fp32 products).
    sanitize memcheck-limits memcheck 150 test_gpu_encoder USEREC_GPU_TEST_LIMITS=1 USEREC_GPU_TEST_PRECISIONS=tf32,bf16
    sanitize memcheck-kernels memcheck 90 test_kernels
    # The attention kernel is the one whose threads share data through shared memory (tanh/L2 only sums four
    # floats there), and its shared memory holds fp32 in every precision, so fp32 covers it; the second run takes
    # its other variant (values in global memory). Under racecheck, cuBLASLt's bf16 products on Hopper died with
    # "Internal Sanitizer Error: failed to handle a hardware exception" (H100, CUDA 13.0, 2026-11-27) even with
    # racecheck limited to the attention kernel.
    sanitize racecheck racecheck 150 test_gpu_encoder USEREC_GPU_TEST_QUICK=1 USEREC_GPU_TEST_PRECISIONS=fp32 -- \
        --kernel-name kns=attention_kernel
    sanitize racecheck-99KiB racecheck 150 test_gpu_encoder USEREC_GPU_TEST_QUICK=1 USEREC_GPU_TEST_PRECISIONS=fp32 \
        USEREC_GPU_SMEM_LIMIT=$SMALL_CARD_SMEM -- --kernel-name kns=attention_kernel
else
    record sanitizers skip "compute-sanitizer is not installed"
fi

# ---- 5. benchmark ----
# Fixed-length batches on both devices (GPU/CPU ratios); the catalogue on the GPU only (on the CPU it would
# take minutes of the budget).
bench() { # NAME LIMIT userec-bench-arguments...
    local name=$1 limit=$2
    shift 2
    fits "$name" 30 || return
    [ "$(left)" -lt "$limit" ] && limit=$(left)
    t0=$SECONDS
    if timeout "$limit" "$B/userec" bench --model "$MODEL" --repeat 3 --json "$@" >"$LOGS/$name.json" 2>"$LOGS/$name.err"
    then
        record "$name" ok "$((SECONDS - t0)) s ($name.json; table below)"
    else
        record "$name" FAIL "exit $? after $((SECONDS - t0)) s: $(tail -c 300 "$LOGS/$name.err")"
    fi
}
bench bench_fixed 150 --device cpu,cuda --precision fp32,tf32,bf16 --seq-len 32,128
# The dispatch overhead of several devices: cuda:0 alone, then two encoders on it (cuda:0,0) together.
bench bench_dispatch 60 --device cuda:0,cuda:0,0 --precision bf16 --seq-len 32
if [ -f "$IDS" ]; then
    bench bench_catalogue 90 --device cuda --precision fp32,tf32,bf16 --seq-len "" --ids "$IDS"
fi

# ---- 6. the PyTorch peer ----
if ! python3 -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    record torch-peer skip "torch does not import or sees no GPU"
elif fits torch-peer 60; then
    t0=$SECONDS
    if step 180 torch_peer.log python3 bench/peers/torch_use_lite.py --model "$MODEL" --userec "$B/userec" \
        ${USEREC_GPU_TEXT_IDS:+--ids "$IDS"}; then
        record torch-peer ok "$((SECONDS - t0)) s (torch_peer.log; table below)"
    else
        record torch-peer FAIL "exit $? after $((SECONDS - t0)) s: $(tail -2 "$LOGS/torch_peer.log" | tr '\n' ' ' | cut -c1-200)"
    fi
fi

# ---- 7. GPU top-k timing ----
# Its vectors (2 GB at 1M) are made here by numpy; stdout is the table, stderr every run's details.
if ! grep -q '^cuda:0 ' "$LOGS/devices.log"; then
    record topk-gpu skip "userec sees no GPU (devices.log)"
elif ! python3 -c 'import numpy' 2>/dev/null; then
    record topk-gpu skip "numpy does not import (it makes the vectors)"
elif fits topk-gpu 90; then
    t0=$SECONDS
    limit=240
    [ "$(left)" -lt "$limit" ] && limit=$(left)
    if timeout "$limit" bash bench/topk_gpu.sh "$B/userec" "$B/topk" >"$LOGS/topk_gpu.txt" 2>"$LOGS/topk_gpu.log"; then
        record topk-gpu ok "$((SECONDS - t0)) s (topk_gpu.txt; table below)"
    else
        record topk-gpu FAIL "exit $? after $((SECONDS - t0)) s: $(grep -m1 FAIL "$LOGS/topk_gpu.txt" | cut -c1-160) (topk_gpu.log)"
    fi
fi

# ---- 8. where the kernel time goes ----
if ! command -v ncu >/dev/null; then
    record profile skip "ncu is not installed"
elif fits profile 40; then
    t0=$SECONDS
    if step 120 profile.txt tests/gpu/profile_kernels.sh "$B/userec" "$MODEL"; then
        record profile ok "Nsight Compute kernel times per chunk, $((SECONDS - t0)) s (table below)"
    else
        record profile FAIL "exit $? after $((SECONDS - t0)) s (profile.txt)"
    fi
fi

# ---- the one table ----
{
    echo
    echo "=== userec device check on ${GPU_NAME:-no GPU}, $((SECONDS - STARTED)) s, logs in $DEST ==="
    printf '%s\n' "${SUMMARY[@]}"
    python3 - "$LOGS/torch_peer.log" "$LOGS/bench_fixed.json" "$LOGS/bench_catalogue.json" <<'PYEOF'
import json
import sys

bench = {"results": [], "ratios": []}
for path in sys.argv[2:]:
    try:
        with open(path) as f:
            part = json.load(f)
    except (OSError, ValueError):
        continue
    bench["results"] += part["results"]
    bench["ratios"] += part["ratios"]
if bench["results"]:
    print(f"\n{'device':<36} {'prec':<5} {'workload':<12} {'sent/s':>10} {'tokens/s':>11} {'GFLOP/s':>9} {'MFU':>6} "
          f"{'upload':>8} {'kernels':>8} {'download':>8}  (ms per run)")
    for r in bench["results"]:
        split = (f"{r['upload_ms']:8.2f} {r['kernels_ms']:8.2f} {r['download_ms']:8.2f}" if "kernels_ms" in r else "")
        mfu = f"{100 * r['mfu']:5.1f}%" if r["peak_gflops"] else "  n/a"
        print(f"{r['device']:<36} {r['precision']:<5} {r['workload']:<12} {r['sentences_per_s']:>10.0f} "
              f"{r['tokens_per_s']:>11.0f} {r['gflops']:>9.1f} {mfu:>6} {split}")
    for q in bench.get("ratios", []):
        print(f"GPU {q['precision']} / CPU fp32 on {q['workload']}: {q['gpu_over_cpu']:.1f}x")
peer = None
try:
    with open(sys.argv[1]) as f:
        lines = [line for line in f if line.startswith('{"peer"')]
    peer = json.loads(lines[-1]) if lines else None
except OSError:
    pass
if peer and peer.get("ok"):
    ours = {r["workload"]: r["sentences_per_s"] for r in bench["results"]
            if r["precision"] == "bf16" and r["device"].startswith("cuda")}
    print(f"\nPyTorch {peer['torch']} bf16 peer (fp32 cosine to userec {peer['cosine_fp32']:.6f}):")
    for r in peer["results"]:
        mine = ours.get(r["workload"])
        vs = f"; userec bf16 {mine:.0f}/s = {mine / r['sentences_per_s']:.2f}x the peer" if mine else ""
        print(f"  {r['workload']:<12} {r['sentences_per_s']:>10.0f} sentences/s{vs}")
PYEOF
    [ -f "$LOGS/topk_gpu.txt" ] && { echo; cat "$LOGS/topk_gpu.txt"; }
    [ -f "$LOGS/profile.txt" ] && { echo; cat "$LOGS/profile.txt"; }
    echo "verdict: $([ $FAILED = 0 ] && echo PASS || echo FAIL)"
} | tee "$DEST/summary.txt"
if [ -n "${OUT:-}" ]; then
    tar czf "$DEST/logs.tar.gz" -C "$LOGS" . && rm -rf "$LOGS"
fi
exit $FAILED
