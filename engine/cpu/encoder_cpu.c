/* encoder_cpu.c: the CPU forward pass of USE-lite (SPEC 1); in fp32 the reference every other path is checked
 * against. Sentences are packed without padding: every per-token step runs over the real tokens only, so
 * FLOPs track tokens and no padding can leak into a valid position. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "cpu/layer0_tables.h"
#include "model/model.h"

/* A batch of at least RUN_MIN_TOKENS tokens per thread is cut into one run of sentences per thread (at most
 * MAX_RUNS), each run through the whole pass on its thread; a smaller one shares every step among the threads. A
 * run ends at a sentence boundary, within half a sentence (64 tokens, 3% of a run) of its equal share. */
#define RUN_MIN_TOKENS 2048
#define MAX_RUNS 64

/* The weights of one layer's per-token products, as this workspace computes them (layer 0's qkv is NULL: it
 * comes from layer 0's tables, with the residual projection, the only one in the model). */
typedef struct {
    const gemm_weights *qkv, *out, *ffn_up, *ffn_down;
} layer_weights;

/* Activations of one batch, kept by a userec_encoder between calls: buffers this size are mmapped fresh by
 * malloc, and page-faulting them in again for every batch cost about 5% of the encoder's time. */
struct cpu_workspace {
    const cpu_kernels *k;
    const layer0_tables *layer0;
    layer_weights layers[USEW_MAX_LAYERS]; /* the model's fp32 packs, or bf16 ones owned by the workspace */
    gemm_weights *bf16;                    /* the owned bf16 packs (NULL in fp32), bf16_count of them */
    size_t bf16_count;
    float *x, *qkv, *ctx; /* per token */
    const float **fold_rows; /* per token, two: layer 0's folded block's table rows (gemm_fold) */
    float *pooled, *pooled_hidden; /* per sentence */
    size_t *starts; /* each run's, n + MAX_RUNS entries (batch_run) */
    size_t rows, n; /* capacity: tokens and sentences */
};

/* A run of whole sentences of the batch, sentences [first, first + n): its rows of the workspace's buffers, and
 * its sentences' first rows counted from its own first row (starts[0] = 0, starts[n] = rows). */
typedef struct {
    float *x, *qkv, *ctx, *pooled, *pooled_hidden;
    const float **token_rows, **position_rows;
    const size_t *starts;
    size_t rows, n, first;
} batch_run;

static void buffers_release(cpu_workspace *ws) {
    free(ws->x);
    free(ws->qkv);
    free(ws->ctx);
    free(ws->pooled);
    free(ws->pooled_hidden);
    free(ws->starts);
    free(ws->fold_rows);
    ws->x = ws->qkv = ws->ctx = ws->pooled = ws->pooled_hidden = NULL;
    ws->fold_rows = NULL;
    ws->starts = NULL;
    ws->rows = ws->n = 0;
}

void cpu_workspace_free(cpu_workspace *ws) {
    if (!ws) return;
    buffers_release(ws);
    for (size_t i = 0; i < ws->bf16_count; i++) gemm_weights_free(&ws->bf16[i]);
    free(ws->bf16);
    free(ws);
}

/* The per-token products of every layer in bf16 (packed from the fp32 weights: the file's, and layer 0's folded
 * up-projection from its tables). Layer 0's tables stay fp32; the last layer's down-projection runs per sentence,
 * after pooling, and stays fp32 with the head. */
static userec_status pack_bf16(const userec_model *m, cpu_workspace *ws, userec_error *err) {
    const uint32_t layers = m->hp.n_layers;
    if (!(ws->bf16 = calloc(4 * (size_t)layers, sizeof *ws->bf16))) return set_error(err, USEREC_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < layers; i++) {
        const encoder_layer *l = &m->layers[i];
        const dense *ffn_up = i == 0 && ws->layer0->ffn_cols ? &ws->layer0->ffn_up : &l->ffn_up;
        const dense *of_layer[] = {ws->layers[i].qkv ? &l->qkv : NULL, &l->out, ffn_up, i + 1 < layers ? &l->ffn_down : NULL};
        const gemm_weights **to[] = {&ws->layers[i].qkv, &ws->layers[i].out, &ws->layers[i].ffn_up,
                                     &ws->layers[i].ffn_down};
        for (size_t j = 0; j < 4; j++) {
            const dense *d = of_layer[j];
            if (!d) continue;
            gemm_weights *packed = &ws->bf16[ws->bf16_count];
            if (gemm_weights_pack_bf16(d->w, d->b, d->packed.in, d->packed.out, packed))
                return set_error(err, USEREC_ERR_NOMEM, "out of memory for the bf16 weights");
            ws->bf16_count++;
            *to[j] = packed;
        }
    }
    return USEREC_OK;
}

userec_status cpu_workspace_new(const userec_model *m, userec_precision precision, cpu_workspace **out,
                                userec_error *err) {
    char why[200];
    const cpu_kernels *k = cpu_kernels_choose(why, sizeof why);
    const cpu_kernels *widest = cpu_kernels_for(CPU_ISA_AVX512);
    *out = NULL;
    if (!k) return set_error(err, USEREC_ERR_DEVICE, "%s", why);
    if (precision == USEREC_TF32)
        return set_error(err, USEREC_ERR_INPUT, "--precision tf32 is for --device cuda; the CPU computes fp32 or bf16");
    if (precision == USEREC_BF16 && !k->bf16)
        return set_error(err, USEREC_ERR_DEVICE, "--precision bf16 on the CPU needs AVX-512 with avx512_bf16, and %s",
                         widest && widest->bf16 ? "USEREC_CPU_ISA forces a lower ISA" : "this CPU has none: use fp32");
    cpu_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) return set_error(err, USEREC_ERR_NOMEM, "out of memory");
    ws->k = k;
    for (uint32_t i = 0; i < m->hp.n_layers; i++) {
        const encoder_layer *l = &m->layers[i];
        ws->layers[i] = (layer_weights){i ? &l->qkv.packed : NULL, &l->out.packed, &l->ffn_up.packed,
                                        &l->ffn_down.packed};
    }
    userec_status status = layer0_tables_of(m, &ws->layer0, err);
    if (!status && ws->layer0->ffn_cols) ws->layers[0].ffn_up = &ws->layer0->ffn_up.packed;
    if (!status && precision == USEREC_BF16) status = pack_bf16(m, ws, err);
    if (status) cpu_workspace_free(ws);
    else *out = ws;
    return status;
}

/* The widest of the model's layers: the width of the qkv and ctx buffers' rows. */
static size_t widest_layer(const usew_hparams *hp) {
    size_t widest = hp->d_model;
    for (uint32_t i = 0; i < hp->n_layers; i++) widest = hp->layer_width[i] > widest ? hp->layer_width[i] : widest;
    return widest;
}

/* Room for rows tokens of n sentences; grows (never shrinks) the buffers. */
static int workspace_reserve(cpu_workspace *ws, const usew_hparams *hp, size_t rows, size_t n) {
    rows = rows ? rows : 1;
    n = n ? n : 1;
    if (rows <= ws->rows && n <= ws->n) return 0;
    rows = rows > ws->rows ? rows : ws->rows;
    n = n > ws->n ? n : ws->n;
    buffers_release(ws);
    const size_t widest = widest_layer(hp);
    ws->x = malloc(rows * hp->d_model * sizeof(float));
    ws->qkv = malloc(rows * 3 * widest * sizeof(float));
    ws->ctx = malloc(rows * widest * sizeof(float));
    ws->pooled = malloc(n * hp->d_model * sizeof(float));
    ws->pooled_hidden = malloc(n * hp->d_ffn * sizeof(float));
    ws->starts = malloc((n + MAX_RUNS) * sizeof(size_t));
    ws->fold_rows = malloc(2 * rows * sizeof *ws->fold_rows);
    if (ws->x && ws->qkv && ws->ctx && ws->pooled && ws->pooled_hidden && ws->starts && ws->fold_rows) {
        ws->rows = rows, ws->n = n;
        return 0;
    }
    buffers_release(ws);
    return -1;
}

/* A layer's attention block, x += MHA(LN(x)) (layer 0: x and qkv come from its tables, layer0_tables_apply);
 * -1 when scratch memory cannot be had. */
static int attention_block(const userec_model *m, uint32_t i, const cpu_workspace *ws, const batch_run *b) {
    const encoder_layer *l = &m->layers[i];
    const layer_weights *w = &ws->layers[i];
    const gemm_norm norm = {l->attn_norm.scale, l->attn_norm.bias, m->hp.ln_eps};
    /* qkv = LN(x) . Wqkv + b; without qkv weights (layer 0) b->qkv already holds the looked-up values */
    if (w->qkv && gemm_dense(ws->k, b->x, b->rows, &norm, w->qkv, b->qkv, GEMM_BIAS)) return -1;
    if (cpu_attention(ws->k, b->qkv, b->starts, b->n, l->width, m->hp.n_heads, b->ctx)) return -1;
    return gemm_dense(ws->k, b->ctx, b->rows, NULL, w->out, b->x, GEMM_BIAS_ADD); /* x += ctx . Wo + bo */
}

/* The last layer's feed-forward block straight into the pooled sentence vectors. Only the mean over a sentence's
 * tokens reaches the output and the down-projection is linear, so it is applied after pooling:
 *   mean_p(x_p + relu(h_p . W1 + b1) . W2 + b2) = mean_p x_p + mean_p(relu(h_p . W1 + b1)) . W2 + b2
 * which moves W2, a sixth of the model's FLOPs, from every token to every sentence (in fp32 whatever the
 * workspace's precision, as the head). */
static int pooled_ffn_block(const userec_model *m, uint32_t i, const cpu_workspace *ws, const batch_run *b) {
    const usew_hparams *hp = &m->hp;
    const encoder_layer *l = &m->layers[i];
    const gemm_norm norm = {l->ffn_norm.scale, l->ffn_norm.bias, hp->ln_eps};
    if (gemm_relu_mean(ws->k, b->x, b->starts, b->n, &norm, ws->layers[i].ffn_up, b->pooled_hidden)) return -1;
    cpu_mean_pool(b->x, b->starts, b->n, hp->d_model, b->pooled);
    if (gemm_dense(ws->k, b->pooled_hidden, b->n, NULL, &l->ffn_down.packed, b->pooled, GEMM_BIAS_ADD)) return -1;
    for (size_t s = 0; s < b->n; s++) /* an empty sentence pools to zeros (SPEC 1.6), not to b2 */
        if (b->starts[s + 1] == b->starts[s]) memset(b->pooled + s * hp->d_model, 0, hp->d_model * sizeof(float));
    return 0;
}

/* Layer 0's lookups, every layer, the pooled vectors, then the tanh head and L2 normalisation into out (a row of
 * d_model per sentence of the run; offsets: the run's first sentence's); -1 when scratch memory cannot be had. */
static int run_forward(const userec_model *m, const cpu_workspace *ws, const int32_t *ids, const size_t *offsets,
                       const batch_run *b, float *out) {
    const layer0_tables *t = ws->layer0;
    if (layer0_tables_apply(t, m, ids, offsets, b->starts, b->n, b->qkv, b->x, b->token_rows, b->position_rows))
        return -1;
    for (uint32_t i = 0; i < m->hp.n_layers; i++) {
        const layer_weights *w = &ws->layers[i];
        if (attention_block(m, i, ws, b)) return -1;
        if (i + 1 == m->hp.n_layers) {
            if (pooled_ffn_block(m, i, ws, b)) return -1;
            break;
        }
        /* x += FFN(LN(x)); layer 0's from the attention's ctx through its tables (layer0_tables.c) */
        const layer_norm *ln = &m->layers[i].ffn_norm;
        const gemm_norm norm = {ln->scale, ln->bias, m->hp.ln_eps};
        const gemm_fold fold = {b->token_rows, b->position_rows, t->ffn_colsum, t->ffn_const, m->hp.ln_eps};
        const int failed = i == 0 && t->ffn_cols
                               ? gemm_mlp(ws->k, b->ctx, b->rows, NULL, &fold, w->ffn_up, w->ffn_down, b->x)
                               : gemm_mlp(ws->k, b->x, b->rows, &norm, NULL, w->ffn_up, w->ffn_down, b->x);
        if (failed) return -1;
    }
    if (gemm_dense(ws->k, b->pooled, b->n, NULL, &m->head.packed, out, GEMM_BIAS)) return -1;
    cpu_tanh_l2_normalize(out, b->n, m->hp.d_model, m->hp.l2_floor);
    return 0;
}

/* A sentence's work in tokens' worth of products: attention adds a share that grows with its length (about 5%
 * at 128 tokens). */
static double sentence_cost(size_t len) { return (double)len * (1.0 + (double)len / 2560.0); }

/* The batch's n sentences cut into runs[0..count) of about equal cost, consecutive and in order; a sentence goes
 * to the run its cost's midpoint falls in. */
static void cut_runs(const usew_hparams *hp, cpu_workspace *ws, const size_t *offsets, size_t n, size_t count,
                     batch_run *runs) {
    const size_t widest = widest_layer(hp);
    double total = 0, done = 0;
    for (size_t s = 0; s < n; s++) total += sentence_cost(model_kept_tokens(hp, offsets, s));
    size_t *starts = ws->starts, s = 0, row = 0;
    for (size_t r = 0; r < count; r++) {
        const size_t first = s, first_row = row;
        const size_t *run_starts = starts;
        *starts++ = 0;
        for (; s < n; s++) {
            const size_t len = model_kept_tokens(hp, offsets, s);
            const double cost = sentence_cost(len);
            if (r + 1 < count && done + cost / 2 > total * (double)(r + 1) / (double)count) break;
            done += cost;
            row += len;
            *starts++ = row - first_row;
        }
        runs[r] = (batch_run){ws->x + first_row * hp->d_model, ws->qkv + first_row * 3 * widest,
                              ws->ctx + first_row * widest, ws->pooled + first * hp->d_model,
                              ws->pooled_hidden + first * hp->d_ffn, ws->fold_rows + first_row,
                              ws->fold_rows + ws->rows + first_row, run_starts, row - first_row, s - first, first};
    }
}

userec_status cpu_encode_ids(const userec_model *m, cpu_workspace *ws, const int32_t *ids, const size_t *offsets,
                             size_t n, float *out, userec_counts *counts, userec_error *err) {
    const usew_hparams *hp = &m->hp;
    size_t rows, clipped;
    userec_status status = model_check_ids(hp, ids, offsets, n, &rows, &clipped, err);
    if (status) return status;
    if (workspace_reserve(ws, hp, rows, n))
        return set_error(err, USEREC_ERR_NOMEM, "out of memory for a batch of %zu sentences, %zu tokens", n, rows);
    const size_t threads = (size_t)omp_get_max_threads();
    const size_t count = threads > 1 && n >= threads && rows >= threads * RUN_MIN_TOKENS
                             ? (threads < MAX_RUNS ? threads : MAX_RUNS) : 1;
    batch_run runs[MAX_RUNS];
    cut_runs(hp, ws, offsets, n, count, runs);
    /* A thread per run, and no thread waits for another between steps (the steps' own parallel regions then have
     * one thread each). A sentence's vector does not depend on the rest of its batch: the cut changes no bit. */
    int failed = 0;
#pragma omp parallel for num_threads(count) schedule(static, 1) reduction(| : failed) if (count > 1)
    for (size_t r = 0; r < count; r++) {
        if (count > 1) omp_set_num_threads(1);
        failed |= run_forward(m, ws, ids, offsets + runs[r].first, &runs[r], out + runs[r].first * hp->d_model);
    }
    if (failed) return set_error(err, USEREC_ERR_NOMEM, "out of memory for the threads' scratch buffers");
    if (counts) {
        counts->sentences += n;
        counts->tokens += rows;
        counts->clipped += clipped;
    }
    return USEREC_OK;
}

double cpu_flops_per_token(const userec_model *m) {
    return userec_info(m).flops_per_token - layer0_tables_flops_saved(m);
}

userec_status userec_encode_ids(const userec_model *m, const int32_t *ids, const size_t *offsets, size_t n,
                                float *out, userec_counts *counts, userec_error *err) {
    cpu_workspace *ws;
    userec_status status = cpu_workspace_new(m, USEREC_FP32, &ws, err);
    if (!status) status = cpu_encode_ids(m, ws, ids, offsets, n, out, counts, err);
    cpu_workspace_free(ws);
    return status;
}
