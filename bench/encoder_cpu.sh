#!/bin/sh
# CPU encoder throughput (fp32, batches of 256 sentences of 32 and 128 tokens) next to the CBLAS sgemm rate
# measured in the same run; the target is an encoder at >= 50% of that sgemm rate.
# OPENBLAS_CORETYPE is unset for this process only: the CI machines set it to Haswell, which halves OpenBLAS
# speed there. Uses the deterministic test weights (same shapes and cost as the real model).
set -e
cd "$(dirname "$0")/.."
make -s userec test-model
echo "bench/encoder_cpu.sh: running with OPENBLAS_CORETYPE unset (was '${OPENBLAS_CORETYPE:-}')"
env -u OPENBLAS_CORETYPE ./userec bench --model build/testdata/use-lite-seed1.usew --seq-len 32,128 --batch 256 "$@"
