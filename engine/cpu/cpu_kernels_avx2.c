/* cpu_kernels_avx2.c: the kernels for AVX2 + FMA (compiled with -mavx2 -mfma): 8-float registers, 16 of them. */
#include <immintrin.h>

#include "cpu/cpu_gemm.h"
#include "cpu/cpu_lanes.h"

#define MR 6 /* 12 accumulators + 2 B vectors + 1 broadcast fill the 16 registers */

static void micro_kernel(size_t kc, const void *a_panel, const void *b_panels, size_t b_panel_stride, float *c,
                         size_t ldc, int load_c, const float *bias, int relu) {
    const float *a = a_panel, *b = b_panels;
    __m256 acc[MR][2];
    const __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    const __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        acc[i][0] = load_c ? _mm256_loadu_ps(c + i * ldc) : _mm256_setzero_ps();
        acc[i][1] = load_c ? _mm256_loadu_ps(c + i * ldc + 8) : _mm256_setzero_ps();
        if (bias) {
            acc[i][0] = _mm256_add_ps(acc[i][0], bias0);
            acc[i][1] = _mm256_add_ps(acc[i][1], bias1);
        }
    }
#pragma GCC unroll 2
    for (size_t k = 0; k < kc; k++, a += MR, b += GEMM_NR) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        _mm256_storeu_ps(c + i * ldc, relu ? _mm256_max_ps(acc[i][0], zero) : acc[i][0]);
        _mm256_storeu_ps(c + i * ldc + 8, relu ? _mm256_max_ps(acc[i][1], zero) : acc[i][1]);
    }
}

FMA_PROBE(__m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32)

const cpu_kernels cpu_kernels_avx2 = {
    .isa = CPU_ISA_AVX2,
    .name = "avx2",
    .fp32 = {.mr = MR, .nr = GEMM_NR, .kc = 256, .k_step = 1, .bytes = 4, .kernel = micro_kernel,
             .pack_rows = lanes_pack_rows},
    .exp_shifted = lanes_exp_shifted,
    .layer_norm_row = lanes_layer_norm_row,
    .fma_probe = fma_probe,
};
