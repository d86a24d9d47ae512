/* cpu_attention.c: scaled dot-product attention for packed sentences, one (sentence, head) per task.
 * Sentences are short (at most max_len = 128 tokens), so a head's scores fit in a row buffer on the stack
 * and the work is a small fraction of the matrix products: plain loops that the compiler vectorises. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "cpu_ops.h"

/* One head of one sentence: ctx[i] = softmax_j(q_i . k_j * scale) . v_j for i, j < len. */
static void attend_head(const float *qkv, size_t len, uint32_t w, uint32_t depth, uint32_t head, float scale,
                        float *ctx, float *scores, float *q_scaled) {
    const size_t stride = 3 * (size_t)w;
    const float *q0 = qkv + (size_t)head * depth, *k0 = q0 + w, *v0 = q0 + 2 * (size_t)w;
    for (size_t i = 0; i < len; i++) {
        const float *q = q0 + i * stride;
        /* The graph scales q before the product (q *= 1/sqrt(depth)); doing the same keeps its rounding. */
        for (uint32_t c = 0; c < depth; c++) q_scaled[c] = q[c] * scale;
        float max = -INFINITY;
        for (size_t j = 0; j < len; j++) {
            const float *k = k0 + j * stride;
            float dot = 0;
#pragma omp simd reduction(+ : dot)
            for (uint32_t c = 0; c < depth; c++) dot += q_scaled[c] * k[c];
            scores[j] = dot;
            max = dot > max ? dot : max;
        }
        float sum = 0;
        for (size_t j = 0; j < len; j++) sum += scores[j] = expf(scores[j] - max);
        float *out = ctx + i * w + (size_t)head * depth;
        for (uint32_t c = 0; c < depth; c++) out[c] = 0;
        for (size_t j = 0; j < len; j++) {
            const float *v = v0 + j * stride, p = scores[j] / sum;
#pragma omp simd
            for (uint32_t c = 0; c < depth; c++) out[c] += p * v[c];
        }
    }
}

int cpu_attention(const float *qkv, const size_t *starts, size_t n_sentences, uint32_t w, uint32_t n_heads,
                  float *ctx) {
    const uint32_t depth = w / n_heads;
    const float scale = 1.0f / sqrtf((float)depth);
    size_t max_len = 0;
    for (size_t s = 0; s < n_sentences; s++)
        if (starts[s + 1] - starts[s] > max_len) max_len = starts[s + 1] - starts[s];
    const long tasks = (long)(n_sentences * n_heads);
    const size_t per_thread = max_len + depth; /* a row of scores and the scaled query */
    float *scratch = malloc((size_t)omp_get_max_threads() * per_thread * sizeof *scratch);
    if (!scratch) return -1;
#pragma omp parallel
    {
        float *mine = scratch + (size_t)omp_get_thread_num() * per_thread;
#pragma omp for schedule(dynamic, 4)
        for (long t = 0; t < tasks; t++) {
            size_t s = (size_t)t / n_heads;
            uint32_t head = (uint32_t)((size_t)t % n_heads);
            attend_head(qkv + starts[s] * 3 * (size_t)w, starts[s + 1] - starts[s], w, depth, head, scale,
                        ctx + starts[s] * (size_t)w, mine, mine + max_len);
        }
    }
    free(scratch);
    return 0;
}
