/* cpu_tile_avx512.h: the first and last steps of the AVX-512 micro-kernels' 12 x 32 tile, shared by the fp32
 * kernel (cpu_kernels_avx512.c) and the bf16 one (cpu_kernels_bf16.c), both compiled with the AVX-512 flags. */
#ifndef USEREC_CPU_TILE_AVX512_H
#define USEREC_CPU_TILE_AVX512_H

#include <immintrin.h>

#include "cpu/cpu_gemm.h"

#define TILE_MR 12 /* 24 accumulators and 2 B vectors of the 32 registers */

/* acc = (load_c ? c : 0), plus bias when given (gemm_kernel.kernel's initial value). */
static inline void tile_start(__m512 acc[TILE_MR][2], const float *c, size_t ldc, int load_c, const float *bias) {
    const __m512 bias0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    const __m512 bias1 = bias ? _mm512_loadu_ps(bias + GEMM_NR) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < TILE_MR; i++) {
        acc[i][0] = load_c ? _mm512_loadu_ps(c + i * ldc) : _mm512_setzero_ps();
        acc[i][1] = load_c ? _mm512_loadu_ps(c + i * ldc + GEMM_NR) : _mm512_setzero_ps();
        if (bias) {
            acc[i][0] = _mm512_add_ps(acc[i][0], bias0);
            acc[i][1] = _mm512_add_ps(acc[i][1], bias1);
        }
    }
}

/* c = relu ? max(acc, 0) : acc (max as `acc > 0 ? acc : 0`, as every ISA's kernel). */
static inline void tile_finish(__m512 acc[TILE_MR][2], float *c, size_t ldc, int relu) {
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < TILE_MR; i++) {
        _mm512_storeu_ps(c + i * ldc, relu ? _mm512_max_ps(acc[i][0], zero) : acc[i][0]);
        _mm512_storeu_ps(c + i * ldc + GEMM_NR, relu ? _mm512_max_ps(acc[i][1], zero) : acc[i][1]);
    }
}

#endif
