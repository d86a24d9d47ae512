/* cpu_kernels_avx512.c: the kernels for AVX-512 (F, BW, VL, DQ; compiled with those -m flags and -mfma):
 * 16-float registers, 32 of them. */
#include <immintrin.h>

#include "cpu/cpu_gemm.h"
#include "cpu/cpu_lanes.h"

/* 12 x 32 outputs: 24 accumulators and 2 B vectors; each A value is broadcast from memory into its fmas.
 * Per k step 2 vector loads and 12 broadcasts feed 24 fmas, so two fma pipes stay ahead of two load ports. */
#define MR 12

static void micro_kernel(size_t kc, const void *a_panel, const void *b_panels, size_t b_panel_stride, float *c,
                         size_t ldc, int load_c, const float *bias, int relu) {
    const float *a = a_panel, *b0 = b_panels, *b1 = b0 + b_panel_stride;
    __m512 acc[MR][2];
    const __m512 bias0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    const __m512 bias1 = bias ? _mm512_loadu_ps(bias + GEMM_NR) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        acc[i][0] = load_c ? _mm512_loadu_ps(c + i * ldc) : _mm512_setzero_ps();
        acc[i][1] = load_c ? _mm512_loadu_ps(c + i * ldc + GEMM_NR) : _mm512_setzero_ps();
        if (bias) {
            acc[i][0] = _mm512_add_ps(acc[i][0], bias0);
            acc[i][1] = _mm512_add_ps(acc[i][1], bias1);
        }
    }
    for (size_t k = 0; k < kc; k++, a += MR, b0 += GEMM_NR, b1 += GEMM_NR) {
        const __m512 v0 = _mm512_loadu_ps(b0), v1 = _mm512_loadu_ps(b1);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, v0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, v1, acc[i][1]);
        }
    }
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        _mm512_storeu_ps(c + i * ldc, relu ? _mm512_max_ps(acc[i][0], zero) : acc[i][0]);
        _mm512_storeu_ps(c + i * ldc + GEMM_NR, relu ? _mm512_max_ps(acc[i][1], zero) : acc[i][1]);
    }
}

#define CHAINS 12 /* > latency (4 cycles) x pipes (2) */

static double fma_probe(long steps) {
    __m512 acc[CHAINS];
    const __m512 scale = _mm512_set1_ps(0.999999f), shift = _mm512_set1_ps(1e-7f);
#pragma GCC unroll 12
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long s = 0; s < steps; s++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], scale, shift);
    float total = 0;
    for (int i = 0; i < CHAINS; i++) total += _mm512_cvtss_f32(acc[i]);
    volatile float sink = total; /* the chains' results are used: they cannot be optimised away */
    (void)sink;
    return 2.0 * 16 * CHAINS * (double)steps;
}

const cpu_kernels cpu_kernels_avx512 = {
    .isa = CPU_ISA_AVX512,
    .name = "avx512",
    .fp32 = {.mr = MR, .nr = 2 * GEMM_NR, .kc = 256, .k_step = 1, .bytes = 4, .kernel = micro_kernel,
             .pack_rows = gemm_pack_rows},
    .exp_shifted = lanes_exp_shifted,
    .layer_norm_row = lanes_layer_norm_row,
    .fma_probe = fma_probe,
};
