/* layer0_tables.c: layer 0's per-token products by table lookup. Layer 0's input depends on the token and its
 * position alone, x0 = 2 E[id] + PE[p] (SPEC 1.3), and both of its per-token products are linear in x0 but for
 * the layer norm's two statistics of the row, mean and inv = 1 / sqrt(var + eps):
 *   LN(x0) . Wqkv + bqkv = inv (x0 . W' - mean (1 . W')) + (beta . Wqkv + bqkv),   W' = diag(gamma) Wqkv
 *   x0 . Wd + bd         = 2 (E[id] . Wd) + (PE[p] . Wd + bd)
 * So E . [W' | Wd] and PE . [W' | Wd] are computed once per model (vocab_rows + max_len rows of one product,
 * about 5 GFLOP for USE-lite, 41 MB), and a token costs its row statistics and a few operations per output
 * instead of the products' 0.66 MFLOP (8.5% of the encoder's per-token FLOPs). Exact in real arithmetic; in fp32
 * only the rounding order changes. */
#include "cpu/layer0_tables.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_gemm.h"
#include "cpu/cpu_lanes.h"
#include "model/model.h"

void layer0_tables_free(layer0_tables *t) {
    if (!t) return;
    free(t->by_token);
    free(t->by_position);
    free(t->qkv_colsum);
    free(t->qkv_const);
    free(t);
}

static float *table_alloc(size_t rows, size_t cols) {
    return aligned_alloc(64, round_up(rows * cols * sizeof(float), 64));
}

/* The products that fill t, on the widest kernels this CPU has: every ISA computes the same bits
 * (cpu_kernels.h), so the tables do not depend on which one builds them. */
static int fill(const userec_model *m, layer0_tables *t) {
    const usew_hparams *hp = &m->hp;
    const encoder_layer *l = &m->layers[0];
    const uint32_t w0 = hp->layer_width[0];
    const cpu_kernels *k = cpu_kernels_for(cpu_isa_best());
    float *folded = malloc((size_t)w0 * t->cols * sizeof *folded), *zeros = calloc(t->cols, sizeof *zeros);
    float *ones = malloc(w0 * sizeof *ones), *sums = malloc(t->cols * sizeof *sums);
    gemm_weights packed = {0};
    int failed = !folded || !zeros || !ones || !sums;
    if (!failed) {
        for (uint32_t r = 0; r < w0; r++) {
            ones[r] = 1.0f;
            for (uint32_t c = 0; c < t->qkv_cols; c++)
                folded[(size_t)r * t->cols + c] = l->attn_norm.scale[r] * l->qkv.w[(size_t)r * t->qkv_cols + c];
            for (uint32_t c = t->qkv_cols; c < t->cols; c++)
                folded[(size_t)r * t->cols + c] = l->proj.w[(size_t)r * hp->d_model + (c - t->qkv_cols)];
        }
        failed = gemm_weights_pack(folded, zeros, w0, t->cols, &packed);
    }
    if (!failed) {
        /* Each position's row starts from [0 | bd], as the projection's chain started from its bias. */
        for (uint32_t p = 0; p < hp->max_len; p++)
            for (uint32_t c = 0; c < t->cols; c++)
                t->by_position[(size_t)p * t->cols + c] = c < t->qkv_cols ? 0.0f : l->proj.b[c - t->qkv_cols];
        failed = gemm_dense(k, m->embed, hp->vocab_rows, NULL, &packed, t->by_token, GEMM_BIAS) ||
                 gemm_dense(k, m->timing, hp->max_len, NULL, &packed, t->by_position, GEMM_BIAS_ADD) ||
                 gemm_dense(k, ones, 1, NULL, &packed, sums, GEMM_BIAS) || /* fma(1, w, s) = s + w: exact sums */
                 gemm_dense(k, l->attn_norm.bias, 1, NULL, &l->qkv.packed, t->qkv_const, GEMM_BIAS);
    }
    if (!failed) memcpy(t->qkv_colsum, sums, t->qkv_cols * sizeof *sums);
    gemm_weights_free(&packed);
    free(folded);
    free(zeros);
    free(ones);
    free(sums);
    return failed ? -1 : 0;
}

uint32_t layer0_tables_cols(const userec_model *m) {
    return 3 * m->hp.layer_width[0] + (m->layers[0].proj.w ? m->hp.d_model : 0);
}

static layer0_tables *build(const userec_model *m) {
    const usew_hparams *hp = &m->hp;
    layer0_tables *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->qkv_cols = 3 * hp->layer_width[0];
    t->cols = layer0_tables_cols(m);
    t->by_token = table_alloc(hp->vocab_rows, t->cols);
    t->by_position = table_alloc(hp->max_len, t->cols);
    t->qkv_colsum = table_alloc(1, t->qkv_cols);
    t->qkv_const = table_alloc(1, t->qkv_cols);
    if (!t->by_token || !t->by_position || !t->qkv_colsum || !t->qkv_const || fill(m, t)) {
        layer0_tables_free(t);
        return NULL;
    }
    return t;
}

userec_status layer0_tables_of(const userec_model *m, const layer0_tables **out, userec_error *err) {
    model_cpu_cache *cache = m->cpu_cache;
    pthread_mutex_lock(&cache->lock);
    if (!cache->layer0) cache->layer0 = build(m);
    *out = cache->layer0;
    pthread_mutex_unlock(&cache->lock);
    return *out ? USEREC_OK
                : set_error(err, USEREC_ERR_NOMEM, "out of memory for layer 0's tables (%u tokens)", m->hp.vocab_rows);
}

int layer0_tables_apply(const layer0_tables *t, const userec_model *m, const int32_t *ids, const size_t *offsets,
                        const size_t *starts, size_t n, float *qkv, float *x) {
    const usew_hparams *hp = &m->hp;
    const uint32_t w0 = hp->layer_width[0], d = hp->d_model, qkv_cols = t->qkv_cols;
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        float *x0 = malloc(w0 * sizeof *x0);
        failed = !x0;
#pragma omp for schedule(static)
        for (size_t s = 0; s < n; s++)
            for (size_t p = 0; !failed && p < starts[s + 1] - starts[s]; p++) {
                const size_t id = (size_t)ids[offsets[s] + p], row = starts[s] + p;
                const float *e = m->embed + id * w0, *pe = m->timing + p * w0;
                for (uint32_t c = 0; c < w0; c++) x0[c] = (e[c] + pe[c]) + e[c]; /* the graph's order of additions */
                float mean, inv;
                lanes_row_stats(x0, w0, hp->ln_eps, &mean, &inv);
                const float *tok = t->by_token + id * t->cols, *pos = t->by_position + p * t->cols;
                float *q = qkv + row * qkv_cols, *r = x + row * d;
                for (uint32_t c = 0; c < qkv_cols; c++)
                    q[c] = (((tok[c] + tok[c]) + pos[c]) - mean * t->qkv_colsum[c]) * inv + t->qkv_const[c];
                if (t->cols == qkv_cols) memcpy(r, x0, d * sizeof *r); /* no projection: x0 is the residual */
                else
                    for (uint32_t c = 0; c < d; c++) r[c] = (tok[qkv_cols + c] + tok[qkv_cols + c]) + pos[qkv_cols + c];
            }
        free(x0);
    }
    return failed ? -1 : 0;
}
