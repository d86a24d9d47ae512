#!/bin/bash
# tests/gpu/profile_kernels.sh USEREC MODEL [PRECISION:SEQ_LEN ...]: where the GPU time of one device batch goes.
# For each configuration (default bf16:32 bf16:128 fp32:128), Nsight Compute times every kernel of two
# `userec bench` calls of exactly one chunk (65536 tokens) and prints the time per kernel family (cuBLASLt
# products, attention, layer norms, ...) per chunk, with its share. Needs ncu (used with --clock-control none:
# the card's clocks are left as they are). Used by tests/gpu/device_check.sh; prints one table.
set -u
USEREC=$1
MODEL=$2
shift 2
CONFIGS=(bf16:32 bf16:128 fp32:128)
[ $# -gt 0 ] && CONFIGS=("$@")
CHUNK_TOKENS=65536

for config in "${CONFIGS[@]}"; do
    precision=${config%%:*}
    len=${config##*:}
    csv=$(mktemp)
    # --repeat 1: the warm-up call and one timed call, both of the same single chunk.
    ncu --clock-control none --metrics gpu__time_duration.sum --print-units base --csv \
        "$USEREC" bench --model "$MODEL" --device cuda --precision "$precision" --seq-len "$len" \
        --batch $((CHUNK_TOKENS / len)) --repeat 1 >"$csv" 2>&1
    python3 - "$csv" "$precision" "$len" <<'PYEOF'
import csv
import sys

path, precision, length = sys.argv[1:]
FAMILIES = [("attention_kernel", "attention"), ("embed_norm_kernel", "embedding + LN"),
            ("layer_norm_kernel", "layer norm"), ("mean_pool_kernel", "mean pool"), ("pooled_finish_kernel", "pool finish"),
            ("tanh_l2_kernel", "tanh + L2")]
with open(path, newline="") as f:
    rows = [r for r in csv.reader(line for line in f if line.startswith('"')) if r]
if not rows or "Kernel Name" not in rows[0]:
    print(f"profile {precision} {length} tokens: ncu gave no table; its output ends with:")
    print(open(path).read()[-600:])
    sys.exit(0)
head = rows[0]
name_at, value_at, metric_at = head.index("Kernel Name"), head.index("Metric Value"), head.index("Metric Name")
ns = {}
for r in rows[1:]:
    if r[metric_at] != "gpu__time_duration.sum":
        continue
    family = next((label for key, label in FAMILIES if key in r[name_at]), "cuBLASLt GEMM + epilogue")
    ns[family] = ns.get(family, 0.0) + float(r[value_at].replace(",", "")) / 2  # two identical calls
total = sum(ns.values())
tokens = 65536
print(f"profile {precision}, {length}-token sentences: {total / 1e3:.0f} us of kernels per chunk of {tokens} tokens "
      f"({total / tokens:.1f} ns/token)")
for family, t in sorted(ns.items(), key=lambda kv: -kv[1]):
    print(f"    {family:<26} {t / 1e3:9.0f} us {100 * t / total:5.1f}%")
PYEOF
    rm -f "$csv"
done
