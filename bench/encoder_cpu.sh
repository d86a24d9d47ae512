#!/bin/sh
# CPU encoder throughput (batches of 256 sentences of 32 and 128 tokens) with its MFU against the CPU's peak
# probed in the same run with its widest fma (and, for bf16, its bf16 dot product), then the same workloads in
# paired runs taken in turns, so that every contender meets the same contention on a shared machine:
#   - the widest ISA's kernels in fp32 (the table's figures), in bf16 where the CPU has avx512_bf16, and every
#     lower ISA the CPU runs but generic (USEREC_CPU_ISA=avx2 on an AVX-512 machine);
#   - BASELINE=/path/to/userec: an older build as one more contender (e.g. the last -march=native AVX2 build,
#     for "no regression against today").
# Prints the ratios of median tokens/s per round (each contender against the widest fp32) and their medians.
# Targets (issue 15): fp32 at >= 65% of the fp32 fma peak at 32 and 128 tokens; bf16 >= 1.6x fp32; no ISA or
# build slower than BASELINE's AVX2.
# OPENBLAS_CORETYPE is unset for this process only (bench's sgemm peer figure; userec does not use OpenBLAS).
# Uses the deterministic test weights (same shapes and cost as the real model).
#
#   sh bench/encoder_cpu.sh                (ROUNDS=5 BASELINE=path THREADS=n; BUILD=dir BIN=path to build elsewhere)
# THREADS (default: every CPU) sets every contender's threads, e.g. THREADS=1 while another job holds a CPU.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=${BIN:-userec}
case $BIN in /*) USEREC=$BIN ;; *) USEREC=./${BIN#./} ;; esac
MODEL=$BUILD/testdata/use-lite-seed1.usew
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-$(nproc)}
WORK=$BUILD/encoder-cpu
make -s BUILD="$BUILD" BIN="$BIN" "$BIN" test-model
mkdir -p "$WORK"
echo "bench/encoder_cpu.sh: running with OPENBLAS_CORETYPE unset (was '${OPENBLAS_CORETYPE:-}'); $THREADS of $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
unset OPENBLAS_CORETYPE
unset USEREC_CPU_ISA

devices=$("$USEREC" devices | grep '^cpu ')
isas=$(echo "$devices" | sed 's/.*ISAs \([a-z0-9 ]*\);.*/\1/')
widest=${isas##* }
precisions=fp32
case $devices in *bf16*) precisions=fp32,bf16 ;; esac

# The table: the widest ISA, every precision the CPU has.
"$USEREC" bench --model "$MODEL" --seq-len 32,128 --batch 256 --precision "$precisions" --threads "$THREADS" --quiet "$@"

# Paired runs: one `bench --repeat 1` per contender and round, in turns.
RESULTS=$WORK/paired.jsonl
: >"$RESULTS"
for round in $(seq "$ROUNDS"); do
    echo "bench/encoder_cpu.sh: round $round of $ROUNDS (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
    for precision in $(echo "$precisions" | tr , ' '); do
        printf '{"contender": "%s %s", ' "$widest" "$precision" >>"$RESULTS"
        "$USEREC" bench --model "$MODEL" --seq-len 32,128 --batch 256 --precision "$precision" --repeat 1 --json \
            --threads "$THREADS" --quiet | cut -c2- >>"$RESULTS"
    done
    for isa in $isas; do
        [ "$isa" = generic ] || [ "$isa" = "$widest" ] && continue
        printf '{"contender": "%s fp32", ' "$isa" >>"$RESULTS"
        USEREC_CPU_ISA=$isa "$USEREC" bench --model "$MODEL" --seq-len 32,128 --batch 256 --repeat 1 --json --quiet \
            --threads "$THREADS" | cut -c2- >>"$RESULTS"
    done
    if [ -n "${BASELINE:-}" ]; then
        printf '{"contender": "baseline fp32", ' >>"$RESULTS"
        "$BASELINE" bench --model "$MODEL" --seq-len 32,128 --batch 256 --repeat 1 --json --threads "$THREADS" 2>/dev/null | cut -c2- >>"$RESULTS"
    fi
done
echo "bench/encoder_cpu.sh: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

/usr/bin/python3 - "$RESULTS" "$widest" <<'EOF'
import json, statistics, sys
widest = sys.argv[2]
runs = {}  # (contender, workload) -> [tokens/s per round], [mfu per round]
for line in open(sys.argv[1]):
    r = json.loads(line)
    for w in r["results"]:
        runs.setdefault((r["contender"], w["workload"]), []).append((w["tokens_per_s"], w["mfu"]))
reference = f"{widest} fp32"
print(f"\n{'workload':<9} {'contender':<16} {'rounds':>6} {'tokens/s (median)':>18} {'MFU (median)':>12} "
      f"{'vs ' + reference + ' (median of per-round ratios)':>40}")
for workload in ("32", "128"):
    base = [t for t, _ in runs[(reference, workload)]]
    for (contender, w), values in runs.items():
        if w != workload:
            continue
        ratios = [t / b for (t, _), b in zip(values, base)]
        print(f"{workload:<9} {contender:<16} {len(values):>6} {statistics.median(t for t, _ in values):>18.0f} "
              f"{100 * statistics.median(m for _, m in values):>11.1f}% {statistics.median(ratios):>39.2f}x   "
              + " ".join(f"{x:.2f}" for x in ratios))
print("MFU: of the fp32 fma peak (bf16: of the bf16 dot product's), probed with the widest ISA in each run")
EOF
