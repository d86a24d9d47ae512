/* encoder_cpu.c: the fp32 CPU forward pass of USE-lite (SPEC 1), the reference every other path is checked
 * against. Sentences are packed without padding: every per-token step runs over the real tokens only, so
 * FLOPs track tokens and no padding can leak into a valid position. */
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "model.h"

/* Activations of one batch, kept by a userec_encoder between calls: buffers this size are mmapped fresh by
 * malloc, and page-faulting them in again for every batch cost about 5% of the encoder's time. */
struct cpu_workspace {
    float *x, *x0, *h, *qkv, *ctx;
    size_t *starts;
    size_t rows, n; /* capacity: tokens and sentences */
};

static void workspace_release(cpu_workspace *ws) {
    free(ws->x);
    free(ws->x0);
    free(ws->h);
    free(ws->qkv);
    free(ws->ctx);
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
    rows = rows > n ? rows : n; /* h also holds the n pooled rows */
    rows = rows ? rows : 1;
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
    ws->starts = malloc((n + 1) * sizeof(size_t));
    if (ws->x && ws->x0 && ws->h && ws->qkv && ws->ctx && ws->starts) {
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

/* One layer on the workspace; -1 when scratch memory cannot be had. */
static int encoder_layer_forward(const userec_model *m, const encoder_layer *l, const float *x_in, size_t rows,
                                 cpu_workspace *ws, size_t n) {
    const usew_hparams *hp = &m->hp;
    const uint32_t w = l->width, d = hp->d_model;
    cpu_layer_norm(x_in, rows, w, &l->attn_norm, hp->ln_eps, ws->h);
    if (gemm_dense(ws->h, rows, &l->qkv.packed, ws->qkv, GEMM_BIAS)) return -1;
    if (cpu_attention(ws->qkv, ws->starts, n, w, hp->n_heads, ws->ctx)) return -1;
    if (l->proj.w) { /* the residual changes width: x = x_in . Wd + bd, written fresh */
        if (gemm_dense(x_in, rows, &l->proj.packed, ws->x, GEMM_BIAS)) return -1;
    } else if (x_in != ws->x) {
        memcpy(ws->x, x_in, rows * d * sizeof *ws->x);
    }
    if (gemm_dense(ws->ctx, rows, &l->out.packed, ws->x, GEMM_BIAS_ADD)) return -1; /* x += ctx . Wo + bo */
    cpu_layer_norm(ws->x, rows, d, &l->ffn_norm, hp->ln_eps, ws->h);
    return gemm_mlp(ws->h, rows, &l->ffn_up.packed, &l->ffn_down.packed, ws->x); /* x += relu(..) . W2 + b2 */
}

userec_status cpu_encode_ids(const userec_model *m, cpu_workspace *ws, const int32_t *ids, const size_t *offsets,
                             size_t n, float *out, userec_counts *counts, userec_error *err) {
    const usew_hparams *hp = &m->hp;
    size_t rows, clipped;
    userec_status status = model_check_ids(hp, ids, offsets, n, &rows, &clipped, err);
    if (status) return status;
    if (workspace_reserve(ws, hp, rows, n))
        return userec_fail(err, USEREC_ERR_NOMEM, "out of memory for a batch of %zu sentences, %zu tokens", n, rows);
    ws->starts[0] = 0;
    for (size_t s = 0; s < n; s++) {
        size_t len = offsets[s + 1] - offsets[s];
        ws->starts[s + 1] = ws->starts[s] + (len > hp->max_len ? hp->max_len : len);
    }
    embed_tokens(m, ids, offsets, ws->starts, n, ws->x0);
    for (uint32_t i = 0; i < hp->n_layers && !status; i++)
        if (encoder_layer_forward(m, &m->layers[i], i == 0 ? ws->x0 : ws->x, rows, ws, n))
            status = userec_fail(err, USEREC_ERR_NOMEM, "out of memory for the threads' scratch buffers");
    if (status) return status;
    /* Pool into h (n rows), then the tanh head and L2 normalisation straight into out. */
    cpu_mean_pool(ws->x, ws->starts, n, hp->d_model, ws->h);
    if (gemm_dense(ws->h, n, &m->head.packed, out, GEMM_BIAS))
        return userec_fail(err, USEREC_ERR_NOMEM, "out of memory for the threads' scratch buffers");
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
    if (!ws) return userec_fail(err, USEREC_ERR_NOMEM, "out of memory");
    userec_status status = cpu_encode_ids(m, ws, ids, offsets, n, out, counts, err);
    cpu_workspace_free(ws);
    return status;
}
