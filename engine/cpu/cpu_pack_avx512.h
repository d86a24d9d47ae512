/* cpu_pack_avx512.h: packing rows into k-major panels (gemm_kernel.pack_rows) with AVX-512, 16 rows x 16 k values
 * at a time through a register transpose: whole-register loads and stores where the plain loop (cpu_lanes.h)
 * stores one float at a time, 48 bytes apart, and spent about 5% of the encoder's time doing so. Shared by the
 * fp32 kernels (cpu_kernels_avx512.c) and the bf16 ones (cpu_kernels_bf16.c, whose bf16 pairs are 32-bit
 * elements too); packing only moves bits, so the products stay the same. */
#ifndef USEREC_CPU_PACK_AVX512_H
#define USEREC_CPU_PACK_AVX512_H

#include <immintrin.h>
#include <stddef.h>

#define PACK_BLOCK 16 /* rows and k values per transposed block: one AVX-512 register of 32-bit elements */

/* v[j] becomes what column j of the 16 x 16 matrix v[0..15] was: shuffles within the registers' 128-bit lanes,
 * then across them; done in groups of 4 registers so that the temporaries fit the 32 registers. */
static inline void transpose16(__m512 v[PACK_BLOCK]) {
#pragma GCC unroll 4
    for (int i = 0; i < PACK_BLOCK; i += 4) { /* lane l of v[i + j] becomes rows i..i+3 at column 4l + j */
        const __m512d a0 = _mm512_castps_pd(_mm512_unpacklo_ps(v[i], v[i + 1]));
        const __m512d a1 = _mm512_castps_pd(_mm512_unpackhi_ps(v[i], v[i + 1]));
        const __m512d a2 = _mm512_castps_pd(_mm512_unpacklo_ps(v[i + 2], v[i + 3]));
        const __m512d a3 = _mm512_castps_pd(_mm512_unpackhi_ps(v[i + 2], v[i + 3]));
        v[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        v[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        v[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        v[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) { /* the lanes of v[j], v[j+4], v[j+8], v[j+12] hold columns j, j+4, j+8, j+12 */
        const __m512 b0 = _mm512_shuffle_f32x4(v[j], v[j + 4], 0x88);     /* columns j, j+8 of rows 0..7 */
        const __m512 b1 = _mm512_shuffle_f32x4(v[j], v[j + 4], 0xdd);     /* columns j+4, j+12 of rows 0..7 */
        const __m512 b2 = _mm512_shuffle_f32x4(v[j + 8], v[j + 12], 0x88); /* the same of rows 8..15 */
        const __m512 b3 = _mm512_shuffle_f32x4(v[j + 8], v[j + 12], 0xdd);
        v[j] = _mm512_shuffle_f32x4(b0, b2, 0x88);
        v[j + 8] = _mm512_shuffle_f32x4(b0, b2, 0xdd);
        v[j + 4] = _mm512_shuffle_f32x4(b1, b3, 0x88);
        v[j + 12] = _mm512_shuffle_f32x4(b1, b3, 0xdd);
    }
}

/* One block of a panel: v[r] holds row r's next `steps` elements (rows past the panel's zeros); element j of every
 * row goes to dst + j * width, width (<= 16) elements a step. */
static inline void pack_block_store(__m512 v[PACK_BLOCK], size_t steps, size_t width, float *dst) {
    const __mmask16 row_mask = (__mmask16)((1u << width) - 1);
    transpose16(v);
#pragma GCC unroll 16
    for (size_t j = 0; j < PACK_BLOCK; j++)
        if (j < steps) _mm512_mask_storeu_ps(dst + j * width, row_mask, v[j]);
}

/* Row `row`'s 32-bit elements [s, s + PACK_BLOCK) of a pack of kc source values (zeros past the last one). */
typedef __m512 (*pack_load)(const float *row, size_t s, size_t kc);

/* gemm_kernel.pack_rows for widths up to 16, of `steps` 32-bit elements per row made by load from the kc values at
 * column k0 (fp32: one value each; bf16: a pair): panels of width rows, panel_words 32-bit elements apart. */
static inline void pack_panels(const float *src, size_t n, size_t ld, size_t k0, size_t kc, size_t steps, size_t width,
                               size_t panel_words, float *dst, pack_load load) {
    for (size_t p0 = 0; p0 < n; p0 += width, dst += panel_words) {
        const size_t rows = n - p0 < width ? n - p0 : width;
        for (size_t s = 0; s < steps; s += PACK_BLOCK) {
            __m512 v[PACK_BLOCK];
#pragma GCC unroll 16
            for (size_t r = 0; r < PACK_BLOCK; r++) v[r] = r < rows ? load(src + (p0 + r) * ld + k0, s, kc) : _mm512_setzero_ps();
            pack_block_store(v, steps - s < PACK_BLOCK ? steps - s : PACK_BLOCK, width, dst + s * width);
        }
    }
}

#endif
