/* cpu_kernels_bf16.c: matrix products on bf16 operands with fp32 sums, for CPUs with avx512_bf16 (compiled with
 * the AVX-512 flags and -mavx512bf16). vdpbf16ps multiplies pairs of bf16 values exactly and adds both products
 * to an fp32 accumulator: half the bytes per weight and, where the CPU runs it as fast as an fma (Zen 4, Intel
 * since Cooper Lake), twice the FLOPs per instruction. Operands are packed in k pairs: A as [k/2][mr][2],
 * B panels as [k/2][GEMM_NR][2], so one 32-bit broadcast of A meets one 16-column vector of B. The tile is the
 * fp32 kernel's 12 x 32 (cpu_tile_avx512.h). */
#include "cpu/cpu_pack_avx512.h"
#include "cpu/cpu_tile_avx512.h"

static void micro_kernel(size_t kc, const void *a_panel, const void *b_panels, size_t b_panel_stride, float *c,
                         size_t ldc, int load_c, const float *bias, int relu) {
    const uint32_t *a = a_panel; /* one bf16 pair per 32 bits */
    const uint16_t *b0 = b_panels, *b1 = b0 + b_panel_stride;
    __m512 acc[TILE_MR][2];
    tile_start(acc, c, ldc, load_c, bias);
    for (size_t k = 0; k < kc; k += 2, a += TILE_MR, b0 += 2 * GEMM_NR, b1 += 2 * GEMM_NR) {
        const __m512bh v0 = (__m512bh)_mm512_loadu_si512(b0), v1 = (__m512bh)_mm512_loadu_si512(b1);
#pragma GCC unroll 12
        for (int i = 0; i < TILE_MR; i++) {
            const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, v0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, v1);
        }
    }
    tile_finish(acc, c, ldc, relu);
}

/* The pairs from value k on where fewer than 2 * PACK_BLOCK values are left: rounded one by one (a row's last block
 * only, so kept out of line). */
static __m512 bf16_last_pairs(const float *row, size_t k, size_t kc) {
    uint32_t pairs[PACK_BLOCK] = {0};
    for (size_t i = 0; k + 2 * i < kc; i++)
        pairs[i] = gemm_bf16_round(row[k + 2 * i]) |
                   (k + 2 * i + 1 < kc ? (uint32_t)gemm_bf16_round(row[k + 2 * i + 1]) << 16 : 0);
    return _mm512_loadu_ps(pairs);
}

/* pack_load for bf16: the row's bf16 pairs [s, s + 16) (values 2s ..), rounded to nearest even; pairs past kc are
 * zeros, and so is the partner of an odd kc's last value. */
static inline __m512 bf16_pairs(const float *row, size_t s, size_t kc) {
    const size_t k = 2 * s;
    if (k + 2 * PACK_BLOCK > kc) return bf16_last_pairs(row, k, kc);
    return (__m512)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + k + PACK_BLOCK), _mm512_loadu_ps(row + k));
}

/* gemm_kernel.pack_rows in bf16 pairs (one 32-bit element each), widths up to 16: the bf16 products pack only their
 * 12-row panels. */
static void pack_rows(const float *src, size_t n, size_t ld, size_t k0, size_t kc, size_t width, size_t panel_stride,
                      void *dst) {
    pack_panels(src, n, ld, k0, kc, (kc + 1) / 2, width, panel_stride / 2, dst, bf16_pairs);
}

const gemm_kernel cpu_gemm_bf16_avx512 = {.mr = TILE_MR, .nr = 2 * GEMM_NR, .kc = 256, .k_step = 2, .bytes = 2,
                                          .kernel = micro_kernel, .pack_rows = pack_rows};

#define CHAINS 12

double cpu_bf16_probe_avx512(long steps) {
    __m512 acc[CHAINS];
    const __m512bh one = (__m512bh)_mm512_set1_epi16(0x3f80), tiny = (__m512bh)_mm512_set1_epi16(0x3380);
#pragma GCC unroll 12
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long s = 0; s < steps; s++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], one, tiny);
    float total = 0;
    for (int i = 0; i < CHAINS; i++) total += _mm512_cvtss_f32(acc[i]);
    volatile float sink = total; /* the chains' results are used: they cannot be optimised away */
    (void)sink;
    return 2.0 * 32 * CHAINS * (double)steps; /* 16 lanes x 2 products, each a multiply and an add */
}
