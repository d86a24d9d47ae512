/* layer0_tables.c: layer 0's per-token products by table lookup. Layer 0's input depends on the token and its
 * position alone, x0 = 2 E[id] + PE[p] (SPEC 1.3), and both of its per-token products are linear in x0 but for
 * the layer norm's two statistics of the row, mean and inv = 1 / sqrt(var + eps):
 *   LN(x0) . Wqkv + bqkv = inv (x0 . W' - mean (1 . W')) + (beta . Wqkv + bqkv),   W' = diag(gamma) Wqkv
 *   x0 . Wd + bd         = 2 (E[id] . Wd) + (PE[p] . Wd + bd)
 * So E . [W' | Wd] and PE . [W' | Wd] are computed once per model (vocab_rows + max_len rows of one product),
 * and a token costs its row statistics and a few operations per output instead of the products' 0.66 MFLOP.
 *
 * The feed-forward block that follows gets the same treatment. Its input x1 = ctx . Wo + bo + r (r the residual
 * above, ctx the attention's 256-wide output) is wider than ctx, and its up-projection is linear in x1 but for the
 * norm's statistics:
 *   LN(x1) . W1 + b1 = inv (x1 . G - mean (1 . G)) + (beta . W1 + b1),   G = diag(gamma) W1
 *   x1 . G = ctx . (Wo G) + 2 (E[id] . Wd G) + (PE[p] . Wd G + (bd + bo) G)
 * so the product runs over ctx's 256 columns instead of x1's 512 (0.79 MFLOP less per token, 11% of the rest),
 * the rest looked up; x1 is still computed, for the residual and the statistics. The tables: vocab_rows rows of
 * 2816 floats (90 MB for USE-lite). Exact in real arithmetic; in fp32 only the rounding order changes. */
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
    free(t->ffn_colsum);
    free(t->ffn_const);
    free((float *)t->ffn_up.w); /* owned: the tables computed it */
    gemm_weights_free(&t->ffn_up.packed);
    free(t);
}

static float *table_alloc(size_t rows, size_t cols) {
    return aligned_alloc(64, round_up(rows * cols * sizeof(float), 64));
}

/* G = diag(gamma_ffn) W1, packed with a zero bias (the products below start from zero), and the folded block's
 * parts of t: ffn_up, ffn_colsum, ffn_const; into res_fold ([w0][ffn_cols]) Wd G, and into
 * position_const (bd + bo) G. ones: at least d_model ones; zeros: ffn_cols zeros. */
static int fill_ffn(const userec_model *m, const cpu_kernels *k, layer0_tables *t, const float *ones, const float *zeros,
                    float *res_fold, float *position_const) {
    const usew_hparams *hp = &m->hp;
    const encoder_layer *l = &m->layers[0];
    const uint32_t w0 = hp->layer_width[0], d = hp->d_model, ffn = t->ffn_cols;
    float *g = malloc((size_t)d * ffn * sizeof *g), *biases = malloc(d * sizeof *biases);
    float *up_w = (float *)t->ffn_up.w; /* allocated by build, filled here */
    gemm_weights g_packed = {0};
    int failed = !g || !biases;
    if (!failed) {
        for (uint32_t r = 0; r < d; r++) {
            biases[r] = l->proj.b[r] + l->out.b[r];
            for (uint32_t c = 0; c < ffn; c++) g[(size_t)r * ffn + c] = l->ffn_norm.scale[r] * l->ffn_up.w[(size_t)r * ffn + c];
        }
        failed = gemm_weights_pack(g, zeros, d, ffn, &g_packed);
    }
    failed = failed || gemm_dense(k, l->proj.w, w0, NULL, &g_packed, res_fold, GEMM_BIAS) ||
             gemm_dense(k, l->out.w, w0, NULL, &g_packed, up_w, GEMM_BIAS) ||
             gemm_dense(k, ones, 1, NULL, &g_packed, t->ffn_colsum, GEMM_BIAS) ||
             gemm_dense(k, biases, 1, NULL, &g_packed, position_const, GEMM_BIAS) ||
             gemm_dense(k, l->ffn_norm.bias, 1, NULL, &l->ffn_up.packed, t->ffn_const, GEMM_BIAS) ||
             gemm_weights_pack(up_w, zeros, w0, ffn, &t->ffn_up.packed);
    if (!failed) t->ffn_up.b = t->ffn_up.packed.bias; /* zeros */
    gemm_weights_free(&g_packed);
    free(g);
    free(biases);
    return failed ? -1 : 0;
}

/* The products that fill t, on the widest kernels this CPU has: every ISA computes the same bits
 * (cpu_kernels.h), so the tables do not depend on which one builds them. */
static int fill(const userec_model *m, layer0_tables *t) {
    const usew_hparams *hp = &m->hp;
    const encoder_layer *l = &m->layers[0];
    const uint32_t w0 = hp->layer_width[0], d = hp->d_model, res_cols = t->cols - t->qkv_cols - t->ffn_cols;
    const cpu_kernels *k = cpu_kernels_for(cpu_isa_best());
    float *folded = malloc((size_t)w0 * t->cols * sizeof *folded), *zeros = calloc(t->cols, sizeof *zeros);
    float *ones = malloc((w0 > d ? w0 : d) * sizeof *ones), *sums = malloc(t->cols * sizeof *sums);
    const size_t res_fold_floats = ((size_t)w0 + 1) * t->ffn_cols; /* Wd G, then (bd + bo) G */
    float *res_fold = malloc((res_fold_floats ? res_fold_floats : 1) * sizeof *res_fold);
    float *position_const = res_fold + (size_t)w0 * t->ffn_cols;
    gemm_weights packed = {0};
    int failed = !folded || !zeros || !ones || !sums || !res_fold;
    for (uint32_t r = 0; !failed && r < (w0 > d ? w0 : d); r++) ones[r] = 1.0f;
    if (!failed && t->ffn_cols) failed = fill_ffn(m, k, t, ones, zeros, res_fold, position_const);
    if (!failed) {
        for (uint32_t r = 0; r < w0; r++) {
            float *row = folded + (size_t)r * t->cols;
            for (uint32_t c = 0; c < t->qkv_cols; c++) row[c] = l->attn_norm.scale[r] * l->qkv.w[(size_t)r * t->qkv_cols + c];
            for (uint32_t c = 0; c < res_cols; c++) row[t->qkv_cols + c] = l->proj.w[(size_t)r * d + c];
            for (uint32_t c = 0; c < t->ffn_cols; c++) row[t->qkv_cols + res_cols + c] = res_fold[(size_t)r * t->ffn_cols + c];
        }
        failed = gemm_weights_pack(folded, zeros, w0, t->cols, &packed);
    }
    if (!failed) {
        /* Each position's row starts from [0 | bd | (bd + bo) G], as the projection's chain started from its bias. */
        for (uint32_t p = 0; p < hp->max_len; p++) {
            float *row = t->by_position + (size_t)p * t->cols;
            memset(row, 0, t->qkv_cols * sizeof *row);
            memcpy(row + t->qkv_cols, l->proj.b, res_cols * sizeof *row);
            memcpy(row + t->qkv_cols + res_cols, position_const, t->ffn_cols * sizeof *row);
        }
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
    free(res_fold);
    return failed ? -1 : 0;
}

/* The feed-forward block is folded where it pays and the algebra holds: layer 0 projects its residual to a wider
 * stream, and is not the last layer (whose block goes straight into the pooled vectors). */
static uint32_t folded_ffn_cols(const userec_model *m) {
    const usew_hparams *hp = &m->hp;
    const int folds = m->layers[0].proj.w && hp->n_layers > 1 && hp->layer_width[0] < hp->d_model;
    return folds ? m->layers[0].ffn_up.packed.out : 0;
}

static uint32_t res_cols(const userec_model *m) { return m->layers[0].proj.w ? m->hp.d_model : 0; }

double layer0_tables_flops_saved(const userec_model *m) {
    const usew_hparams *hp = &m->hp;
    const double w0 = hp->layer_width[0];
    return 2.0 * w0 * (3.0 * w0 + res_cols(m)) + 2.0 * (hp->d_model - w0) * folded_ffn_cols(m);
}

static layer0_tables *build(const userec_model *m) {
    const usew_hparams *hp = &m->hp;
    layer0_tables *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->qkv_cols = 3 * hp->layer_width[0];
    t->ffn_cols = folded_ffn_cols(m);
    t->cols = t->qkv_cols + res_cols(m) + t->ffn_cols;
    t->by_token = table_alloc(hp->vocab_rows, t->cols);
    t->by_position = table_alloc(hp->max_len, t->cols);
    t->qkv_colsum = table_alloc(1, t->qkv_cols);
    t->qkv_const = table_alloc(1, t->qkv_cols);
    if (t->ffn_cols) {
        t->ffn_colsum = table_alloc(1, t->ffn_cols);
        t->ffn_const = table_alloc(1, t->ffn_cols);
        t->ffn_up.w = table_alloc(hp->layer_width[0], t->ffn_cols);
    }
    const int ffn_ok = !t->ffn_cols || (t->ffn_colsum && t->ffn_const && t->ffn_up.w);
    if (!t->by_token || !t->by_position || !t->qkv_colsum || !t->qkv_const || !ffn_ok || fill(m, t)) {
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
                        const size_t *starts, size_t n, float *qkv, float *x, const float **token_rows,
                        const float **position_rows) {
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
                if (t->ffn_cols) { /* the folded block's parts of the row come after q|k|v and the residual's */
                    token_rows[row] = tok + (t->cols - t->ffn_cols);
                    position_rows[row] = pos + (t->cols - t->ffn_cols);
                }
            }
        free(x0);
    }
    return failed ? -1 : 0;
}
