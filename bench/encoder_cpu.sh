#!/bin/sh
# CPU encoder throughput (fp32, batches of 256 sentences of 32 and 128 tokens) with its MFU against the CPU's
# fma peak probed in the same run, and userec's GEMM next to OpenBLAS's sgemm on the largest product shape.
# Issue 2's target, the encoder at >= 50% of the CPU's sgemm rate, reads off the same lines.
# OPENBLAS_CORETYPE is unset for this process only: the CI machines set it to Haswell, which halves OpenBLAS
# speed there. Uses the deterministic test weights (same shapes and cost as the real model).
set -e
cd "$(dirname "$0")/.."
make -s userec test-model
echo "bench/encoder_cpu.sh: running with OPENBLAS_CORETYPE unset (was '${OPENBLAS_CORETYPE:-}')"
env -u OPENBLAS_CORETYPE ./userec bench --model build/testdata/use-lite-seed1.usew --seq-len 32,128 --batch 256 "$@"
