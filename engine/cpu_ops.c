/* cpu_ops.c: layer norm, pooling and the output head of the CPU forward pass (dense layers: cpu_gemm.c). */
#include <math.h>
#include <string.h>

#include "cpu_ops.h"

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
