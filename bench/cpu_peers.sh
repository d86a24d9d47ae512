#!/bin/sh
# userec's CPU encoder against its peers on the same token ids, in one run (issues 7, 15): the real TF.js graph
# in Node on its wasm and cpu backends (bench/peers/tfjs_peer.js) and the same model in PyTorch on the CPU
# (bench/peers/torch_cpu_peer.py), its dense products on OpenBLAS (Debian's default) and on oneDNN
# (--onednn: torch.utils.mkldnn). Workloads: 8,192 random ordinary token ids each, as 256 sentences of 32
# tokens and as 64 sentences of 128 tokens. userec (fp32, and bf16 where the CPU has avx512_bf16) and both
# PyTorch peers run on every CPU and on one thread (on a shared machine one thread can win); each side's best
# counts. Their calls alternate (ROUNDS=5 each, after a warm-up call per process), so that all meet the same
# contention on a shared machine.
# Every peer first checks its vectors against userec's for the same ids (cosine >= 0.9999 per sentence).
# Prints sentences/s and the userec/peer ratios (userec fp32 against every fp32 peer); targets: >= 5x TF.js
# wasm, >= 1.5x PyTorch CPU (issue 7; issue 15: >= 6x on an AVX-512 machine), >= 2x PyTorch on oneDNN.
#
#   sh bench/cpu_peers.sh            (BUILD=dir BIN=path to build elsewhere; the run's files go to BUILD/cpu-peers)
#
# Extras it installs when missing: the npm packages of bench/peers/tfjs (npm ci), and, as root, Debian's
# python3-torch (about 180 packages with its dependencies; without root the PyTorch peer is skipped).
# OPENBLAS_CORETYPE is unset for the whole run, so for PyTorch (its products are OpenBLAS's sgemm) and userec
# alike; OMP_WAIT_POLICY is passive for all unless set.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=${BIN:-userec}
case $BIN in /*) USEREC=$BIN ;; *) USEREC=./${BIN#./} ;; esac
MODEL=$BUILD/testdata/use-lite-seed1.usew
TFJS_MODEL=$BUILD/test-model-seed1
WORK=$BUILD/cpu-peers
WORKLOAD_TOKENS=8192
ROUNDS=${ROUNDS:-5}   # timed calls per contender and thread count, taken in turns
# The TF.js cpu backend runs plain JS loops (~30 ms a token here): it gets 256 tokens' worth of sentences.
TFJS_CPU_TOKENS=256

make -s BUILD="$BUILD" BIN="$BIN" "$BIN" test-model
[ -d bench/peers/tfjs/node_modules/@tensorflow/tfjs-backend-wasm ] || (cd bench/peers/tfjs && npm ci --no-audit --no-fund)
torch=yes
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        echo "cpu_peers.sh: installing python3-torch (Debian) for the PyTorch peer"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-torch >/dev/null
    else
        echo "cpu_peers.sh: no python3-torch and not root: the PyTorch peer is skipped (apt-get install python3-torch)"
        torch=no
    fi
fi

echo "cpu_peers.sh: OPENBLAS_CORETYPE unset for this run (was '${OPENBLAS_CORETYPE:-}'); $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
unset OPENBLAS_CORETYPE
# userec's CLI waits passively unless told otherwise (docs/perf.md); PyTorch's libgomp gains as much from it, so
# every contender gets the same policy: passive unless the caller chose one.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
echo "cpu_peers.sh: OMP_WAIT_POLICY=$OMP_WAIT_POLICY for every contender"
echo "cpu_peers.sh: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cpu_peers.sh: userec $("$USEREC" devices | grep '^cpu ')"
precisions=fp32
case $("$USEREC" devices | grep '^cpu ') in *bf16*) precisions=fp32,bf16 ;; esac
mkdir -p "$WORK"
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

for len in 32 128; do
    ids=$WORK/$len-tokens  # not X.ids: `embed -o X.npy` writes X.ids beside X.npy
    /usr/bin/python3 - "$MODEL" "$ids" $((WORKLOAD_TOKENS / len)) "$len" <<'EOF'
import sys
sys.path[:0] = ["tools", "bench/peers"]
import usew
from torch_use_lite import random_sentences  # numpy only; torch is imported inside its model code
model, out, n, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with open(model, "rb") as f:
    hp, _ = usew.parse(f.read(), model)
with open(out, "w") as f:
    f.writelines(" ".join(map(str, s)) + "\n" for s in random_sentences(n, length, hp["vocab_rows"], length))
EOF
    # userec's vectors, the reference each peer checks itself against.
    "$USEREC" embed --model "$MODEL" --input "$ids" --format ids -o "$WORK/$len-tokens.npy" --quiet
    # One timed call per contender in turn, ROUNDS times over: on a shared machine every contender then meets
    # the same spells of contention, instead of one contender's whole series falling into one.
    for round in $(seq "$ROUNDS"); do
        for threads in "$(nproc)" 1; do
            "$USEREC" bench --model "$MODEL" --seq-len '' --ids "$ids" --precision "$precisions" --repeat 1 \
                --threads "$threads" --json --quiet >>"$RESULTS"
            if [ $torch = yes ]; then
                for backend in '' --onednn; do
                    /usr/bin/python3 bench/peers/torch_cpu_peer.py --model "$MODEL" --ids "$ids" --expect "$WORK/$len-tokens.npy" \
                        --repeat 1 --threads "$threads" $backend >>"$RESULTS"
                done
            fi
        done
    done
    node bench/peers/tfjs_peer.js --model-dir "$TFJS_MODEL" --ids "$ids" --expect "$WORK/$len-tokens.npy" --backend wasm --repeat 2 >>"$RESULTS"
    # stderr to a log, shown on failure: tfjs-core prints a banner there about tfjs-node on the cpu backend.
    node bench/peers/tfjs_peer.js --model-dir "$TFJS_MODEL" --ids "$ids" --expect "$WORK/$len-tokens.npy" --backend cpu \
        --sentences $((TFJS_CPU_TOKENS / len)) --repeat 1 >>"$RESULTS" 2>"$WORK/tfjs-cpu.log" || { cat "$WORK/tfjs-cpu.log" >&2; exit 1; }
done
echo "cpu_peers.sh: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# Ratios use each side's fastest call: other jobs on a shared machine only ever slow a call down.
/usr/bin/python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
calls = {}  # (workload, contender, name, threads) -> [(median seconds, fastest seconds, line)] of its runs
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "results" in r:  # userec bench --json
        for w in r["results"]:
            contender = "userec" if w["precision"] == "fp32" else f"userec-{w['precision']}"
            key = (w["workload"], contender, f"userec {w['device']} ({w['isa']})", r["threads"])
            note = f"MFU {100 * w['mfu']:.0f}% of the {w['peak_isa']} {w['peak_kind']} peak"
            calls.setdefault(key, []).append((w["seconds_median"], w["seconds_min"], dict(w, note=note)))
    else:
        name = f"{r['peer']} {r.get('torch') or r.get('tfjs')}" + (" SIMD" if r.get("simd") else "")
        key = (r["workload"], r["peer"], name, r.get("threads", 1))
        calls.setdefault(key, []).append((r["seconds_median"], r["seconds_min"], dict(r, note=f"min cosine {r['min_cosine']:.7f}")))
rows = []  # one per contender, thread count and workload: the median of its calls' medians, its fastest call
for (workload, contender, name, threads), runs in calls.items():
    median, last = statistics.median(m for m, _, _ in runs), runs[-1][2]
    rows.append(dict(last, workload=workload, contender=contender, name=name, threads=threads, calls=len(runs),
                     sentences_per_s=last["sentences"] / median, tokens_per_s=last["tokens"] / median,
                     best_per_s=last["sentences"] / min(f for _, f, _ in runs)))
targets = [("tfjs-wasm", 5.0, "issue 7"), ("torch-cpu", 1.5, "issue 7"), ("torch-cpu", 6.0, "issue 15, AVX-512 machines"),
           ("torch-onednn", 2.0, "issue 15")]
print(f"{'workload':<10} {'contender':<28} {'threads':>7} {'calls':>5} {'sentences':>9} {'sentences/s':>11} "
      f"{'best call':>9} {'tokens/s':>9} {'userec/it':>9}  note")
verdicts = []
for workload in dict.fromkeys(r["workload"] for r in rows):
    mine = [r for r in rows if r["workload"] == workload]
    best = {c: max(r["best_per_s"] for r in mine if r["contender"] == c) for c in dict.fromkeys(r["contender"] for r in mine)}
    for r in mine:
        print(f"{workload:<10} {r['name']:<28} {r['threads']:>7} {r['calls']:>5} {r['sentences']:>9} {r['sentences_per_s']:>11.1f} "
              f"{r['best_per_s']:>9.1f} {r['tokens_per_s']:>9.0f} {best['userec'] / r['best_per_s']:>8.2f}x  {r['note']}")
    for peer, goal, source in targets:
        if peer in best:
            ratio = best["userec"] / best[peer]
            verdicts.append(f"{workload}: userec fp32 / {peer}, fastest calls = {ratio:.2f}x (target >= {goal}x, {source}): "
                            + ("met" if ratio >= goal else "NOT met"))
print("calls: timed calls (userec and PyTorch: one per round, in turns); sentences/s: median call; best call: the fastest;\n"
      "tokens/s: median; userec/it: userec fp32's fastest call over its fastest")
print("\n".join(verdicts))
EOF
