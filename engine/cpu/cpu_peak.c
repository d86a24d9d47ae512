/* cpu_peak.c: the CPU's arithmetic ceiling, the denominator of its MFU in `userec bench`: the throughput of the
 * widest fma an ISA's kernels have (or of its bf16 dot product) on every OpenMP thread, measured by a probe that
 * only does that (cpu_kernels_<isa>.c): independent chains per thread hide the latency on every pipe, and
 * nothing touches memory, so no real kernel of that ISA can go faster. */
#include <omp.h>

#include "cpu/cpu_gemm.h"

#define STEPS (1L << 23) /* rounds of every chain per run: 30-60 ms on a 3-4 GHz core */

double cpu_peak_gflops(const cpu_kernels *k, int bf16, int repeats) {
    double (*probe)(long) = bf16 ? k->bf16_probe : k->fma_probe, best = 0;
    for (int r = 0; r < repeats; r++) {
        double flops = 0;
        const double t0 = omp_get_wtime();
#pragma omp parallel reduction(+ : flops)
        flops = probe(STEPS);
        const double gflops = flops / (omp_get_wtime() - t0) / 1e9;
        if (gflops > best) best = gflops;
    }
    return best;
}
