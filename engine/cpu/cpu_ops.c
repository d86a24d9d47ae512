/* cpu_ops.c: layer norm, pooling and the output head of the CPU forward pass (dense layers: cpu_gemm.c; the
 * per-ISA row code: cpu_lanes.h). Pooling and the head are compiled once, for every ISA: their sums run in
 * ascending order, element by element or row by row. */
#include <math.h>
#include <string.h>

#include "cpu/cpu_ops.h"

void cpu_layer_norm(const cpu_kernels *k, const float *x, size_t rows, uint32_t w, const layer_norm *n, float eps,
                    float *y) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) k->layer_norm_row(x + r * w, w, n->scale, n->bias, eps, y + r * w);
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
