/* encoder_cpu.c: the fp32 CPU forward pass of USE-lite (SPEC 1), the reference every other path is checked
 * against. Sentences are packed without padding: every per-token step runs over the real tokens only, so
 * FLOPs track tokens and no padding can leak into a valid position. */
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "model/model.h"

/* Activations of one batch, kept by a userec_encoder between calls: buffers this size are mmapped fresh by
 * malloc, and page-faulting them in again for every batch cost about 5% of the encoder's time. */
struct cpu_workspace {
    float *x, *x0, *h, *qkv, *ctx; /* per token */
    float *pooled, *pooled_hidden; /* per sentence */
    size_t *starts;
    size_t rows, n; /* capacity: tokens and sentences */
};

static void workspace_release(cpu_workspace *ws) {
    free(ws->x);
    free(ws->x0);
    free(ws->h);
    free(ws->qkv);
    free(ws->ctx);
    free(ws->pooled);
    free(ws->pooled_hidden);
    free(ws->starts);
    *ws = (cpu_workspace){0};
}

cpu_workspace *cpu_workspace_new(void) { return calloc(1, sizeof(cpu_workspace)); }

void cpu_workspace_free(cpu_workspace *ws) {
    if (!ws) return;
    workspace_release(ws);
    free(ws);
}

/* Room for rows tokens of n sentences; grows (never shrinks) the buffers. */
static int workspace_reserve(cpu_workspace *ws, const usew_hparams *hp, size_t rows, size_t n) {
    rows = rows ? rows : 1;
    n = n ? n : 1;
    if (rows <= ws->rows && n <= ws->n) return 0;
    rows = rows > ws->rows ? rows : ws->rows;
    n = n > ws->n ? n : ws->n;
    workspace_release(ws);
    size_t widest = hp->d_model;
    for (uint32_t i = 0; i < hp->n_layers; i++) widest = hp->layer_width[i] > widest ? hp->layer_width[i] : widest;
    ws->x = malloc(rows * hp->d_model * sizeof(float));
    ws->x0 = malloc(rows * hp->layer_width[0] * sizeof(float));
    ws->h = malloc(rows * widest * sizeof(float));
    ws->qkv = malloc(rows * 3 * widest * sizeof(float));
    ws->ctx = malloc(rows * widest * sizeof(float));
    ws->pooled = malloc(n * hp->d_model * sizeof(float));
    ws->pooled_hidden = malloc(n * hp->d_ffn * sizeof(float));
    ws->starts = malloc((n + 1) * sizeof(size_t));
    if (ws->x && ws->x0 && ws->h && ws->qkv && ws->ctx && ws->pooled && ws->pooled_hidden && ws->starts) {
        ws->rows = rows, ws->n = n;
        return 0;
    }
    workspace_release(ws);
    return -1;
}

/* x0 = 2*E[id] + PE[p] (the EMB_TWICE quirk, which userec_load requires) for every kept token, packed. */
static void embed_tokens(const userec_model *m, const int32_t *ids, const size_t *offsets, const size_t *starts,
                         size_t n, float *x0) {
    const uint32_t w = m->hp.layer_width[0];
#pragma omp parallel for schedule(static)
    for (size_t s = 0; s < n; s++)
        for (size_t p = 0; p < starts[s + 1] - starts[s]; p++) {
            const float *e = m->embed + (size_t)ids[offsets[s] + p] * w, *pe = m->timing + p * w;
            float *out = x0 + (starts[s] + p) * w;
            for (uint32_t c = 0; c < w; c++) out[c] = (e[c] + pe[c]) + e[c]; /* the graph's order of additions */
        }
}

/* A layer's attention block, ws->x = residual(x_in) + MHA(LN(x_in)); -1 when scratch memory cannot be had. */
static int attention_block(const userec_model *m, const encoder_layer *l, const float *x_in, size_t rows,
                           cpu_workspace *ws, size_t n) {
    const usew_hparams *hp = &m->hp;
    cpu_layer_norm(x_in, rows, l->width, &l->attn_norm, hp->ln_eps, ws->h);
    if (gemm_dense(ws->h, rows, &l->qkv.packed, ws->qkv, GEMM_BIAS)) return -1;
    if (cpu_attention(ws->qkv, ws->starts, n, l->width, hp->n_heads, ws->ctx)) return -1;
    if (l->proj.w) { /* the residual changes width: x = x_in . Wd + bd, written fresh */
        if (gemm_dense(x_in, rows, &l->proj.packed, ws->x, GEMM_BIAS)) return -1;
    } else if (x_in != ws->x) {
        memcpy(ws->x, x_in, rows * hp->d_model * sizeof *ws->x);
    }
    return gemm_dense(ws->ctx, rows, &l->out.packed, ws->x, GEMM_BIAS_ADD); /* x += ctx . Wo + bo */
}

/* The last layer's feed-forward block straight into the pooled sentence vectors. Only the mean over a sentence's
 * tokens reaches the output and the down-projection is linear, so it is applied after pooling:
 *   mean_p(x_p + relu(h_p . W1 + b1) . W2 + b2) = mean_p x_p + mean_p(relu(h_p . W1 + b1)) . W2 + b2
 * which moves W2, a sixth of the model's FLOPs, from every token to every sentence. */
static int pooled_ffn_block(const userec_model *m, const encoder_layer *l, size_t rows, cpu_workspace *ws,
                            size_t n) {
    const usew_hparams *hp = &m->hp;
    cpu_layer_norm(ws->x, rows, hp->d_model, &l->ffn_norm, hp->ln_eps, ws->h);
    if (gemm_relu_mean(ws->h, ws->starts, n, &l->ffn_up.packed, ws->pooled_hidden)) return -1;
    cpu_mean_pool(ws->x, ws->starts, n, hp->d_model, ws->pooled);
    if (gemm_dense(ws->pooled_hidden, n, &l->ffn_down.packed, ws->pooled, GEMM_BIAS_ADD)) return -1;
    for (size_t s = 0; s < n; s++) /* an empty sentence pools to zeros (SPEC 1.6), not to b2 */
        if (ws->starts[s + 1] == ws->starts[s]) memset(ws->pooled + s * hp->d_model, 0, hp->d_model * sizeof(float));
    return 0;
}

/* Every layer, then the pooled sentence vectors in ws->pooled; -1 when scratch memory cannot be had. */
static int encoder_forward(const userec_model *m, size_t rows, cpu_workspace *ws, size_t n) {
    for (uint32_t i = 0; i < m->hp.n_layers; i++) {
        const encoder_layer *l = &m->layers[i];
        if (attention_block(m, l, i == 0 ? ws->x0 : ws->x, rows, ws, n)) return -1;
        if (i + 1 == m->hp.n_layers) return pooled_ffn_block(m, l, rows, ws, n);
        cpu_layer_norm(ws->x, rows, m->hp.d_model, &l->ffn_norm, m->hp.ln_eps, ws->h);
        if (gemm_mlp(ws->h, rows, &l->ffn_up.packed, &l->ffn_down.packed, ws->x)) return -1; /* x += FFN(h) */
    }
    return 0;
}

userec_status cpu_encode_ids(const userec_model *m, cpu_workspace *ws, const int32_t *ids, const size_t *offsets,
                             size_t n, float *out, userec_counts *counts, userec_error *err) {
    const usew_hparams *hp = &m->hp;
    size_t rows, clipped;
    userec_status status = model_check_ids(hp, ids, offsets, n, &rows, &clipped, err);
    if (status) return status;
    if (workspace_reserve(ws, hp, rows, n))
        return set_error(err, USEREC_ERR_NOMEM, "out of memory for a batch of %zu sentences, %zu tokens", n, rows);
    ws->starts[0] = 0;
    for (size_t s = 0; s < n; s++) {
        size_t len = offsets[s + 1] - offsets[s];
        ws->starts[s + 1] = ws->starts[s] + (len > hp->max_len ? hp->max_len : len);
    }
    embed_tokens(m, ids, offsets, ws->starts, n, ws->x0);
    /* Then the tanh head and L2 normalisation straight into out. */
    if (encoder_forward(m, rows, ws, n) || gemm_dense(ws->pooled, n, &m->head.packed, out, GEMM_BIAS))
        return set_error(err, USEREC_ERR_NOMEM, "out of memory for the threads' scratch buffers");
    cpu_tanh_l2_normalize(out, n, hp->d_model, hp->l2_floor);
    if (counts) {
        counts->sentences += n;
        counts->tokens += rows;
        counts->clipped += clipped;
    }
    return USEREC_OK;
}

userec_status userec_encode_ids(const userec_model *m, const int32_t *ids, const size_t *offsets, size_t n,
                                float *out, userec_counts *counts, userec_error *err) {
    cpu_workspace *ws = cpu_workspace_new();
    if (!ws) return set_error(err, USEREC_ERR_NOMEM, "out of memory");
    userec_status status = cpu_encode_ids(m, ws, ids, offsets, n, out, counts, err);
    cpu_workspace_free(ws);
    return status;
}
