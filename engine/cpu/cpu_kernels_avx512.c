/* cpu_kernels_avx512.c: the kernels for AVX-512 (F, BW, VL, DQ; compiled with those -m flags and -mfma):
 * 16-float registers, 32 of them. */
#include "cpu/cpu_lanes.h"
#include "cpu/cpu_pack_avx512.h"
#include "cpu/cpu_tile_avx512.h"

/* 12 x 32 outputs (cpu_tile_avx512.h): 24 accumulators and 2 B vectors; each A value is broadcast from memory
 * into its fmas. Per k step 2 vector loads and 12 broadcasts feed 24 fmas, so two fma pipes stay ahead of two
 * load ports. */
static void micro_kernel(size_t kc, const void *a_panel, const void *b_panels, size_t b_panel_stride, float *c,
                         size_t ldc, int load_c, const float *bias, int relu) {
    const float *a = a_panel, *b0 = b_panels, *b1 = b0 + b_panel_stride;
    __m512 acc[TILE_MR][2];
    tile_start(acc, c, ldc, load_c, bias);
    for (size_t k = 0; k < kc; k++, a += TILE_MR, b0 += GEMM_NR, b1 += GEMM_NR) {
        const __m512 v0 = _mm512_loadu_ps(b0), v1 = _mm512_loadu_ps(b1);
#pragma GCC unroll 12
        for (int i = 0; i < TILE_MR; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, v0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, v1, acc[i][1]);
        }
    }
    tile_finish(acc, c, ldc, relu);
}

/* pack_load for fp32: values [s, s + 16) of the row, masked at kc. */
static __m512 fp32_values(const float *row, size_t s, size_t kc) {
    const size_t have = kc - s < PACK_BLOCK ? kc - s : PACK_BLOCK;
    return _mm512_maskz_loadu_ps((__mmask16)((1u << have) - 1), row + s);
}

/* gemm_kernel.pack_rows for fp32: widths up to 16 through cpu_pack_avx512.h's transpose (the attention's keys and
 * the top-k items are packed 16 wide, the products' rows 12 wide), the plain loop for wider panels. */
static void pack_rows_avx512(const float *src, size_t n, size_t ld, size_t k0, size_t kc, size_t width,
                             size_t panel_stride, void *dst_panels) {
    if (width > PACK_BLOCK) lanes_pack_rows(src, n, ld, k0, kc, width, panel_stride, dst_panels);
    else pack_panels(src, n, ld, k0, kc, kc, width, panel_stride, dst_panels, fp32_values);
}

FMA_PROBE(__m512, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_cvtss_f32)

const cpu_kernels cpu_kernels_avx512 = {
    .isa = CPU_ISA_AVX512,
    .name = "avx512",
    .fp32 = {.mr = TILE_MR, .nr = 2 * GEMM_NR, .kc = 256, .k_step = 1, .bytes = 4, .kernel = micro_kernel,
             .pack_rows = pack_rows_avx512},
    .exp_shifted = lanes_exp_shifted,
    .layer_norm_row = lanes_layer_norm_row,
    .fma_probe = fma_probe,
};
