/* cpu_kernels_generic.c: the kernels for any x86-64 CPU (compiled without -m flags: SSE2, no fma instruction).
 * The products emulate fmaf exactly, two lanes at a time, so they give the vector files' bits. */
#include <emmintrin.h>

#include "cpu/cpu_gemm.h"
#include "cpu/cpu_lanes.h"

#define MR 6

/* fmaf(a, b, c) on two lanes of floats held in doubles, returned as floats held in doubles. The product of two
 * floats is exact in double; their sum with c rounded to odd in double (53 >= 2 x 24 + 2 bits), then rounded to
 * float, is the correctly rounded fma (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums: proved
 * algorithms using rounding to odd", IEEE TC 2008). Round to odd from round to nearest: TwoSum gives the exact
 * error e of s = p + c; where e != 0, the odd one of s and its neighbour towards e is s | 1 (e away from zero
 * from s) or (s - 1) | 1 (e towards zero), in the bits of s. */
static inline __m128d fma_lanes(__m128d a, __m128d b, __m128d c) {
    const __m128d p = _mm_mul_pd(a, b), s = _mm_add_pd(p, c), c_part = _mm_sub_pd(s, p);
    const __m128d e = _mm_add_pd(_mm_sub_pd(p, _mm_sub_pd(s, c_part)), _mm_sub_pd(c, c_part));
    const __m128d abs_s = _mm_andnot_pd(_mm_set1_pd(-0.0), s);
    const __m128d inexact = _mm_and_pd(_mm_cmpneq_pd(e, _mm_setzero_pd()), _mm_cmplt_pd(abs_s, _mm_set1_pd(INFINITY)));
    /* all ones (-1) in a lane where e and s differ in sign: the high dword's sign, spread over the lane */
    const __m128i towards_zero =
        _mm_srai_epi32(_mm_shuffle_epi32(_mm_castpd_si128(_mm_xor_pd(e, s)), _MM_SHUFFLE(3, 3, 1, 1)), 31);
    const __m128i odd = _mm_or_si128(_mm_add_epi64(_mm_castpd_si128(s), towards_zero), _mm_set_epi32(0, 1, 0, 1));
    const __m128d rounded = _mm_or_pd(_mm_and_pd(inexact, _mm_castsi128_pd(odd)), _mm_andnot_pd(inexact, s));
    return _mm_cvtps_pd(_mm_cvtpd_ps(rounded));
}

static void micro_kernel(size_t kc, const void *a_panel, const void *b_panels, size_t b_panel_stride, float *c,
                         size_t ldc, int load_c, const float *bias, int relu) {
    const float *a = a_panel, *b = b_panels;
    __m128d acc[MR][GEMM_NR / 2]; /* float values, two per register */
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < GEMM_NR; j += 2) {
            float init[2];
            for (int l = 0; l < 2; l++) {
                init[l] = load_c ? c[i * ldc + j + l] : 0.0f;
                if (bias) init[l] += bias[j + l];
            }
            acc[i][j / 2] = _mm_set_pd(init[1], init[0]);
        }
    for (size_t k = 0; k < kc; k++, a += MR, b += GEMM_NR) {
        __m128d b_lanes[GEMM_NR / 2];
        for (int j = 0; j < GEMM_NR / 4; j++) {
            const __m128 four = _mm_loadu_ps(b + 4 * j);
            b_lanes[2 * j] = _mm_cvtps_pd(four);
            b_lanes[2 * j + 1] = _mm_cvtps_pd(_mm_movehl_ps(four, four));
        }
        for (int i = 0; i < MR; i++) {
            const __m128d ai = _mm_set1_pd(a[i]);
            for (int j = 0; j < GEMM_NR / 2; j++) acc[i][j] = fma_lanes(ai, b_lanes[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < GEMM_NR; j += 2) {
            double pair[2];
            _mm_storeu_pd(pair, acc[i][j / 2]);
            for (int l = 0; l < 2; l++) {
                const float v = (float)pair[l];
                c[i * ldc + j + l] = relu ? (v > 0.0f ? v : 0.0f) : v;
            }
        }
}

/* SSE2 has no fma: its ceiling is a multiply and an add on 4 lanes. */
#define SPLAT4(x) _mm_set1_ps(x)
#define MUL_ADD(a, b, c) _mm_add_ps(_mm_mul_ps(a, b), c)
FMA_PROBE(__m128, 4, SPLAT4, MUL_ADD, _mm_cvtss_f32)

const cpu_kernels cpu_kernels_generic = {
    .isa = CPU_ISA_GENERIC,
    .name = "generic",
    .fp32 = {.mr = MR, .nr = GEMM_NR, .kc = 256, .k_step = 1, .bytes = 4, .kernel = micro_kernel,
             .pack_rows = lanes_pack_rows},
    .exp_shifted = lanes_exp_shifted,
    .layer_norm_row = lanes_layer_norm_row,
    .fma_probe = fma_probe,
};
