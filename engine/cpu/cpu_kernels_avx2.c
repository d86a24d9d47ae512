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

/* v[j] becomes what column j of the 8 x 8 matrix v[0..7] was. */
static inline void transpose8(__m256 v[8]) {
    __m256 t[8];
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) { /* lane l of t[i]: rows i, i+1 at columns 4l, 4l+1; t[i+1]: 4l+2, 4l+3 */
        t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 8; i += 4) { /* lane l of v[i + j]: rows i..i+3 at column 4l + j */
        v[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        v[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        v[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        v[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        t[j] = _mm256_permute2f128_ps(v[j], v[j + 4], 0x20);
        t[j + 4] = _mm256_permute2f128_ps(v[j], v[j + 4], 0x31);
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) v[j] = t[j];
}

/* gemm_kernel.pack_rows, 8 rows x 8 k values at a time through a register transpose (the plain loop of
 * cpu_lanes.h stores one float at a time, mr floats apart). A panel narrower than 8 rows stores a whole register
 * per k value, its tail overwritten by the next values', masked only where it would leave the panel; a wider
 * panel's last group of rows always masks. */
static void pack_rows_avx2(const float *src, size_t n, size_t ld, size_t k0, size_t kc, size_t width,
                           size_t panel_stride, void *dst_panels) {
    static const int32_t lanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    float *dst = dst_panels;
    for (size_t p0 = 0; p0 < n; p0 += width, dst += panel_stride)
        for (size_t g0 = 0; g0 < width; g0 += 8) { /* panel rows g0 .. g0 + 7 */
            const size_t cols = width - g0 < 8 ? width - g0 : 8, left = n - p0 > g0 ? n - p0 - g0 : 0;
            const size_t rows = left < cols ? left : cols;
            const __m256i store_mask = _mm256_loadu_si256((const __m256i *)(lanes + 8 - cols));
            for (size_t k = 0; k < kc; k += 8) {
                const size_t steps = kc - k < 8 ? kc - k : 8;
                const __m256i load_mask = _mm256_loadu_si256((const __m256i *)(lanes + 8 - steps));
                __m256 v[8];
#pragma GCC unroll 8
                for (size_t r = 0; r < 8; r++)
                    v[r] = r < rows ? _mm256_maskload_ps(src + (p0 + g0 + r) * ld + k0 + k, load_mask) : _mm256_setzero_ps();
                transpose8(v);
#pragma GCC unroll 8
                for (size_t j = 0; j < 8; j++) {
                    float *out = dst + (k + j) * width + g0;
                    if (j >= steps) break;
                    if (cols == 8 || (width < 8 && (k + j) * width + 8 <= kc * width)) _mm256_storeu_ps(out, v[j]);
                    else _mm256_maskstore_ps(out, store_mask, v[j]);
                }
            }
        }
}

FMA_PROBE(__m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32)

const cpu_kernels cpu_kernels_avx2 = {
    .isa = CPU_ISA_AVX2,
    .name = "avx2",
    .fp32 = {.mr = MR, .nr = GEMM_NR, .kc = 256, .k_step = 1, .bytes = 4, .kernel = micro_kernel,
             .pack_rows = pack_rows_avx2},
    .exp_shifted = lanes_exp_shifted,
    .layer_norm_row = lanes_layer_norm_row,
    .fma_probe = fma_probe,
};
