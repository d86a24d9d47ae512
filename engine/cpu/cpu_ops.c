/* cpu_ops.c: layer norm, pooling and the output head of the CPU forward pass (dense layers: cpu_gemm.c). */
#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "cpu/cpu_ops.h"

#if defined(__AVX2__) && defined(__FMA__)
/* e^x for 8 lanes, x <= 0 (softmax's shifted scores): Cephes' expf (x = n ln2 + r, |r| <= ln2/2, a degree-6
 * polynomial for e^r, then 2^n into the exponent bits), about 1 ULP from expf; 0 where e^x is below the
 * normal floats (x < -87.3), which expf would give as a denormal. */
static __m256 exp8_nonpositive(__m256 x) {
    const __m256 lowest = _mm256_set1_ps(-87.33654f); /* ln of the smallest normal float */
    const __m256 underflow = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
    x = _mm256_max_ps(x, lowest); /* 2^n stays a normal float, n >= -126 */
    const __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x); /* ln2 in two parts: r stays exact */
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(y, _mm256_castsi256_ps(scale)));
}
#endif

float cpu_exp_shifted(float *x, size_t n, float shift) {
    float sum = 0;
#if defined(__AVX2__) && defined(__FMA__)
    const __m256 shift8 = _mm256_set1_ps(shift);
    __m256 sums = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 e = exp8_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(x + j), shift8));
        _mm256_storeu_ps(x + j, e);
        sums = _mm256_add_ps(sums, e);
    }
    float lanes[8];
    if (j < n) { /* the last n % 8 go through the same exp, padded with -inf (whose exp is 0) */
        for (size_t l = 0; l < 8; l++) lanes[l] = j + l < n ? x[j + l] : -INFINITY;
        const __m256 e = exp8_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(lanes), shift8));
        _mm256_storeu_ps(lanes, e);
        for (size_t l = 0; j + l < n; l++) x[j + l] = lanes[l];
        sums = _mm256_add_ps(sums, e);
    }
    _mm256_storeu_ps(lanes, sums);
    for (int l = 0; l < 8; l++) sum += lanes[l];
#else
    for (size_t j = 0; j < n; j++) sum += x[j] = expf(x[j] - shift);
#endif
    return sum;
}

void cpu_layer_norm(const float *x, size_t rows, uint32_t w, const layer_norm *n, float eps, float *y) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * w;
        float *yr = y + r * w;
        float sum = 0, sq = 0;
#pragma omp simd reduction(+ : sum)
        for (uint32_t c = 0; c < w; c++) sum += xr[c];
        const float mean = sum / (float)w;
#pragma omp simd reduction(+ : sq)
        for (uint32_t c = 0; c < w; c++) sq += (xr[c] - mean) * (xr[c] - mean);
        const float inv = 1.0f / sqrtf(sq / (float)w + eps);
#pragma omp simd
        for (uint32_t c = 0; c < w; c++) yr[c] = (xr[c] - mean) * inv * n->scale[c] + n->bias[c];
    }
}

void cpu_mean_pool(const float *x, const size_t *starts, size_t n_sentences, uint32_t w, float *pooled) {
#pragma omp parallel for schedule(static)
    for (size_t s = 0; s < n_sentences; s++) {
        float *p = pooled + s * w;
        memset(p, 0, w * sizeof *p);
        size_t len = starts[s + 1] - starts[s];
        for (size_t r = starts[s]; r < starts[s + 1]; r++)
#pragma omp simd
            for (uint32_t c = 0; c < w; c++) p[c] += x[r * w + c];
        const float denom = (float)(len ? len : 1);
        for (uint32_t c = 0; c < w; c++) p[c] /= denom;
    }
}

void cpu_tanh_l2_normalize(float *x, size_t rows, uint32_t w, float l2_floor) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float *xr = x + r * w, sq = 0;
        for (uint32_t c = 0; c < w; c++) {
            xr[c] = tanhf(xr[c]);
            sq += xr[c] * xr[c];
        }
        const float inv = 1.0f / sqrtf(sq > l2_floor ? sq : l2_floor);
        for (uint32_t c = 0; c < w; c++) xr[c] *= inv;
    }
}
