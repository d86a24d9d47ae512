/* cpu_attention.c: scaled dot-product attention for packed sentences, one (sentence, head) per task.
 * Both products of a head run on the GEMM micro-kernel (cpu_gemm.h): scores = q . k^T with k packed as the
 * columns, then ctx = softmax(scores) . v, the softmax written straight into the packed layout the second
 * product reads. A sentence has at most max_len (128) tokens, so a head's operands fit in L2. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "cpu/cpu_gemm.h"
#include "cpu/cpu_ops.h"

/* One thread's operands for a head of up to max_len tokens and depth channels. */
typedef struct {
    float *q, *k, *scores, *p, *v;
    size_t ld_scores;
} head_scratch;

/* Lays the operands out from base (64-byte aligned, whole cache lines) and returns the floats used, each operand
 * rounded up to a 64-byte multiple; base NULL only measures. mr: the kernel's rows per micro-tile. */
static size_t head_scratch_at(float *base, size_t max_len, size_t depth, size_t mr, head_scratch *h) {
    const size_t rows = round_up(max_len, mr), cols = round_up(max_len, GEMM_NR);
    const size_t sizes[] = {rows * depth, cols * depth, max_len * cols, rows * max_len, max_len * round_up(depth, GEMM_NR)};
    float **parts[] = {&h->q, &h->k, &h->scores, &h->p, &h->v};
    size_t used = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        *parts[i] = base ? base + used : NULL;
        used += round_up(sizes[i], 16);
    }
    h->ld_scores = cols;
    return used;
}

/* The largest of x[0..n), in 16 running maxima (SSE, so every x86-64 CPU; one chain of compares had the latency
 * of a compare per score), folded at the end. _mm_max_ps(a, b) is `a > b ? a : b`, the scalar loop's. Any order
 * gives the same largest value (a +0 and a -0 may trade places, and x - max is then the same). */
static float row_max(const float *x, size_t n) {
    __m128 lanes[4] = {_mm_set1_ps(-INFINITY), _mm_set1_ps(-INFINITY), _mm_set1_ps(-INFINITY), _mm_set1_ps(-INFINITY)};
    size_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 4; l++) lanes[l] = _mm_max_ps(_mm_loadu_ps(x + j + 4 * l), lanes[l]);
    float folded[16], max = -INFINITY;
    for (int l = 0; l < 4; l++) _mm_storeu_ps(folded + 4 * l, lanes[l]);
    for (int l = 0; l < 16; l++) max = folded[l] > max ? folded[l] : max;
    for (; j < n; j++) max = x[j] > max ? x[j] : max;
    return max;
}

/* One head of one sentence: ctx[i] = softmax_j(q_i . k_j * scale) . v_j for i, j < len. */
static void attend_head(const cpu_kernels *kernels, const float *qkv, size_t len, uint32_t w, uint32_t depth,
                        uint32_t head, float scale, float *ctx, head_scratch *h) {
    const gemm_kernel *g = &kernels->fp32;
    const size_t stride = 3 * (size_t)w, mr = g->mr;
    const float *q = qkv + (size_t)head * depth, *k = q + w, *v = q + 2 * (size_t)w;
    g->pack_rows(q, len, stride, 0, depth, mr, depth * mr, h->q);
    /* The graph scales q before the product (q *= 1/sqrt(depth)); doing the same keeps its rounding. */
    for (size_t i = 0; i < round_up(len, mr) * depth; i++) h->q[i] *= scale;
    g->pack_rows(k, len, stride, 0, depth, GEMM_NR, depth * GEMM_NR, h->k);
    gemm_packed(g, len, len, depth, h->q, h->k, depth * GEMM_NR, h->scores, h->ld_scores, 0, NULL, 0);
    /* Softmax per query row in place, then packed k-major in mr-row panels for the second product. */
    for (size_t i = 0; i < len; i++) {
        float *row = h->scores + i * h->ld_scores;
        const float sum = kernels->exp_shifted(row, len, row_max(row, len));
        for (size_t j = 0; j < len; j++) row[j] /= sum;
    }
    g->pack_rows(h->scores, len, h->ld_scores, 0, len, mr, len * mr, h->p);
    gemm_pack_cols(v, len, stride, depth, h->v);
    gemm_packed(g, len, depth, len, h->p, h->v, len * GEMM_NR, ctx + (size_t)head * depth, w, 0, NULL, 0);
}

int cpu_attention(const cpu_kernels *k, const float *qkv, const size_t *starts, size_t n_sentences, uint32_t w,
                  uint32_t n_heads, float *ctx) {
    const uint32_t depth = w / n_heads;
    const float scale = 1.0f / sqrtf((float)depth);
    size_t max_len = 0;
    for (size_t s = 0; s < n_sentences; s++)
        if (starts[s + 1] - starts[s] > max_len) max_len = starts[s + 1] - starts[s];
    if (!max_len) return 0; /* only empty sentences: no rows to attend */
    const long tasks = (long)(n_sentences * n_heads);
    head_scratch measure;
    const size_t per_thread = head_scratch_at(NULL, max_len, depth, k->fp32.mr, &measure);
    float *scratch = aligned_alloc(64, (size_t)omp_get_max_threads() * per_thread * sizeof *scratch);
    if (!scratch) return -1;
#pragma omp parallel
    {
        head_scratch mine;
        head_scratch_at(scratch + (size_t)omp_get_thread_num() * per_thread, max_len, depth, k->fp32.mr, &mine);
#pragma omp for schedule(dynamic, 4)
        for (long t = 0; t < tasks; t++) {
            size_t s = (size_t)t / n_heads;
            uint32_t head = (uint32_t)((size_t)t % n_heads);
            attend_head(k, qkv + starts[s] * 3 * (size_t)w, starts[s + 1] - starts[s], w, depth, head, scale,
                        ctx + starts[s] * (size_t)w, &mine);
        }
    }
    free(scratch);
    return 0;
}
