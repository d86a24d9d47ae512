/* cpu_ops.c: layer norm, dense layers (CBLAS), ReLU, pooling and the output head of the CPU forward pass. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "cpu_ops.h"

void cpu_dense(const float *x, size_t rows, uint32_t in, uint32_t out, const dense *d, float *y, int accumulate) {
    /* Put the bias (plus the residual already in y) in place, then let sgemm accumulate x . W on top. */
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float *yr = y + r * out;
        if (accumulate)
            for (uint32_t c = 0; c < out; c++) yr[c] += d->b[c];
        else
            memcpy(yr, d->b, out * sizeof *yr);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)out, (int)in, 1.0f, x, (int)in, d->w,
                (int)out, 1.0f, y, (int)out);
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

void cpu_relu(float *x, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
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
