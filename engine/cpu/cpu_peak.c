/* cpu_peak.c: the CPU's arithmetic ceiling, the denominator of its MFU in `userec bench`: fp32 fma throughput
 * on every OpenMP thread, measured by a probe that only does fmas. ACCUMULATORS independent chains per
 * thread hide the fma latency on every pipe, and nothing touches memory, so no real kernel can go faster. */
#include <omp.h>

#include "cpu/cpu_gemm.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 lanes;
#define LANES 8
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define SPLAT(x) _mm256_set1_ps(x)
#define FIRST(v) _mm256_cvtss_f32(v)
#else
#include <math.h>
typedef float lanes;
#define LANES 1
#define FMA(a, b, c) fmaf(a, b, c)
#define SPLAT(x) (x)
#define FIRST(v) (v)
#endif

#define ACCUMULATORS 12    /* > latency (4 cycles) x pipes (2): every fma unit busy every cycle */
#define STEPS (1L << 23)   /* fmas per chain and run: about 30 ms on a 3 GHz core */

double cpu_fma_peak_gflops(int repeats) {
    double best = 0;
    for (int r = 0; r < repeats; r++) {
        float total = 0;
        const double t0 = omp_get_wtime();
#pragma omp parallel reduction(+ : total)
        {
            lanes acc[ACCUMULATORS];
            const lanes scale = SPLAT(0.999999f), shift = SPLAT(1e-7f);
#pragma GCC unroll 12
            for (int i = 0; i < ACCUMULATORS; i++) acc[i] = SPLAT((float)i);
            for (long s = 0; s < STEPS; s++)
#pragma GCC unroll 12
                for (int i = 0; i < ACCUMULATORS; i++) acc[i] = FMA(acc[i], scale, shift);
            for (int i = 0; i < ACCUMULATORS; i++) total += FIRST(acc[i]);
        }
        const double secs = omp_get_wtime() - t0;
        volatile float sink = total; /* the chains' results are used: they cannot be optimised away */
        (void)sink;
        const double flops = 2.0 * LANES * ACCUMULATORS * (double)STEPS * omp_get_max_threads();
        if (flops / secs / 1e9 > best) best = flops / secs / 1e9;
    }
    return best;
}
