/* test_layer0_tables.c: layer 0's q|k|v and residual looked up from its tables (engine/cpu/layer0_tables.c)
 * against the products they replace, computed the direct way on the fp32 CPU path: x0 = (E + PE) + E, then
 * LN(x0) . Wqkv + bqkv and x0 . Wd + bd (cpu_layer_norm and gemm_dense, the generic kernels). Only the
 * rounding order differs, so the two agree within atol + |ref| * eps. Then layer 0's feed-forward block folded
 * through the tables (gemm_fold) against the block computed from its normalised input (gemm_mlp with a norm), both
 * against float64. The model: USEREC_TEST_MODEL. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu_ops.h"
#include "cpu/layer0_tables.h"

static const double ATOL = 1e-5, EPS = 1e-5;

/* The worst |got - want| / (ATOL + |want| * EPS) over n values (over 1: out of tolerance), with its index. */
static double worst_ratio(const float *got, const float *want, size_t n, size_t *at) {
    double worst = 0;
    *at = 0;
    for (size_t i = 0; i < n; i++) {
        const double r = fabs((double)got[i] - want[i]) / (ATOL + fabs((double)want[i]) * EPS);
        if (r > worst || isnan(r)) worst = r, *at = i;
    }
    return worst;
}

static void report(const char *name, const float *got, const float *want, size_t n) {
    size_t at;
    const double ratio = worst_ratio(got, want, n, &at);
    printf("%s: max |diff| %.3g at %zu (%.2f of atol %.0e + |ref| * %.0e)\n", name, fabs((double)got[at] - want[at]), at,
           ratio, ATOL, EPS);
    for (size_t i = 0; i < 4 && i < n; i++) printf("    got %12.9f   ref %12.9f\n", got[i], want[i]);
    CHECK(ratio <= 1, name, "value %zu: got %.9g, ref %.9g", at, got[at], want[at]);
}

/* x1 = x + ctx . Wo + bo for made-up ctx rows (the attention's output: weighted means of v rows, values near 1),
 * then x1 + FFN(LN(x1)) two ways: folded through the tables, and the direct way; each against float64. */
static void check_folded_ffn(const userec_model *m, const layer0_tables *t, const float *const *token_rows,
                             const float *const *position_rows, const float *x, size_t rows) {
    const cpu_kernels *k = &cpu_kernels_generic;
    const encoder_layer *l = &m->layers[0];
    const size_t w0 = m->hp.layer_width[0], d = m->hp.d_model, ffn = t->ffn_cols;
    float *ctx = malloc(rows * w0 * sizeof *ctx), *x1 = malloc(rows * d * sizeof *x1);
    float *folded = malloc(rows * d * sizeof *folded), *direct = malloc(rows * d * sizeof *direct);
    for (size_t i = 0; i < rows * w0; i++) ctx[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    memcpy(x1, x, rows * d * sizeof *x1);
    int failed = gemm_dense(k, ctx, rows, NULL, &l->out.packed, x1, GEMM_BIAS_ADD);
    memcpy(folded, x1, rows * d * sizeof *folded);
    memcpy(direct, x1, rows * d * sizeof *direct);
    const gemm_norm norm = {l->ffn_norm.scale, l->ffn_norm.bias, m->hp.ln_eps};
    const gemm_fold fold = {token_rows, position_rows, t->ffn_colsum, t->ffn_const, m->hp.ln_eps};
    failed = failed || gemm_mlp(k, ctx, rows, NULL, &fold, &t->ffn_up.packed, &l->ffn_down.packed, folded) ||
             gemm_mlp(k, direct, rows, &norm, NULL, &l->ffn_up.packed, &l->ffn_down.packed, direct);
    CHECK(!failed, "layer 0 tables: the feed-forward products", "out of memory");
    report("layer 0 tables: x1 + FFN(LN(x1)) folded through the tables", folded, direct, rows * d);
    double *h = malloc(ffn * sizeof *h), err_folded = 0, err_direct = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x1 + r * d;
        double mean = 0, var = 0;
        for (size_t c = 0; c < d; c++) mean += row[c];
        mean /= (double)d;
        for (size_t c = 0; c < d; c++) var += (row[c] - mean) * (row[c] - mean);
        const double inv = 1 / sqrt(var / (double)d + m->hp.ln_eps);
        for (size_t j = 0; j < ffn; j++) h[j] = l->ffn_up.b[j];
        for (size_t c = 0; c < d; c++) {
            const double hc = (row[c] - mean) * inv * l->ffn_norm.scale[c] + l->ffn_norm.bias[c];
            for (size_t j = 0; j < ffn; j++) h[j] += hc * l->ffn_up.w[c * ffn + j];
        }
        for (size_t c = 0; c < d; c++) {
            double y = (double)row[c] + l->ffn_down.b[c];
            for (size_t j = 0; j < ffn; j++) y += (h[j] > 0 ? h[j] : 0) * l->ffn_down.w[j * d + c];
            err_folded = fmax(err_folded, fabs(folded[r * d + c] - y));
            err_direct = fmax(err_direct, fabs(direct[r * d + c] - y));
        }
    }
    printf("layer 0 tables: folded block vs float64 max |error| %.3g, direct %.3g\n", err_folded, err_direct);
    CHECK(err_folded <= 2 * err_direct + 1e-7, "layer 0 tables: the folded block as close to float64 as the direct one",
          "folded %.3g, direct %.3g", err_folded, err_direct);
    free(ctx), free(x1), free(folded), free(direct), free(h);
}

int main(void) {
    const char *path = getenv("USEREC_TEST_MODEL");
    if (!path) {
        SKIP("layer 0 tables", "USEREC_TEST_MODEL is not set (tests/run.py sets it)");
        return 0;
    }
    userec_error err;
    userec_model *m = userec_load(path, &err);
    CHECK(m, "layer 0 tables: the test model loads", "%s", err.message);
    if (!m) CHECK_DONE();
    const usew_hparams *hp = &m->hp;
    const encoder_layer *l = &m->layers[0];
    const layer0_tables *t, *again;
    CHECK(!layer0_tables_of(m, &t, &err) && !layer0_tables_of(m, &again, &err) && t == again,
          "layer 0 tables: built once per model", "%s", err.message);

    /* Sentences of 1 to max_len tokens; ids cover both ends of the vocabulary. */
    const size_t lens[] = {1, 5, 0, 17, hp->max_len, 3};
    const size_t n = sizeof lens / sizeof *lens;
    size_t offsets[sizeof lens / sizeof *lens + 1] = {0};
    for (size_t s = 0; s < n; s++) offsets[s + 1] = offsets[s] + lens[s];
    const size_t rows = offsets[n], w0 = hp->layer_width[0], d = hp->d_model;
    int32_t *ids = malloc(rows * sizeof *ids);
    for (size_t i = 0; i < rows; i++)
        ids[i] = i == 0 ? 0 : i == 1 ? (int32_t)hp->vocab_rows - 1 : (int32_t)((i * 2654435761u) % hp->vocab_rows);
    float *qkv = malloc(rows * t->qkv_cols * sizeof *qkv), *x = malloc(rows * d * sizeof *x);
    float *x0 = malloc(rows * w0 * sizeof *x0), *h = malloc(rows * w0 * sizeof *h);
    float *qkv_ref = malloc(rows * t->qkv_cols * sizeof *qkv_ref), *x_ref = malloc(rows * d * sizeof *x_ref);
    const float **token_rows = malloc(2 * rows * sizeof *token_rows), **position_rows = token_rows + rows;
    CHECK(!layer0_tables_apply(t, m, ids, offsets, offsets, n, qkv, x, token_rows, position_rows),
          "layer 0 tables: apply", "out of memory");

    for (size_t s = 0; s < n; s++)
        for (size_t p = 0; p < lens[s]; p++) {
            const size_t row = offsets[s] + p;
            const float *e = m->embed + (size_t)ids[row] * w0, *pe = m->timing + p * w0;
            for (size_t c = 0; c < w0; c++) x0[row * w0 + c] = (e[c] + pe[c]) + e[c];
        }
    cpu_layer_norm(&cpu_kernels_generic, x0, rows, (uint32_t)w0, &l->attn_norm, hp->ln_eps, h);
    const int failed = gemm_dense(&cpu_kernels_generic, h, rows, NULL, &l->qkv.packed, qkv_ref, GEMM_BIAS) ||
                       (l->proj.w && gemm_dense(&cpu_kernels_generic, x0, rows, NULL, &l->proj.packed, x_ref, GEMM_BIAS));
    if (!l->proj.w) memcpy(x_ref, x0, rows * d * sizeof *x_ref);
    CHECK(!failed, "layer 0 tables: the direct products", "out of memory");
    report("layer 0 tables: q|k|v = LN(x0) . Wqkv + bqkv", qkv, qkv_ref, rows * t->qkv_cols);
    /* Neither is the exact value: against float64 (SPEC 1's arithmetic), the tables must do no worse than the
     * direct products (their worst errors within 2x: the max over thousands of values). */
    double *q64 = malloc(t->qkv_cols * sizeof *q64), *r64 = malloc(d * sizeof *r64), *x64 = malloc(w0 * sizeof *x64);
    double err_tables[2] = {0}, err_direct[2] = {0};
    for (size_t s = 0; s < n; s++)
        for (size_t p = 0; p < lens[s]; p++) {
            const size_t row = offsets[s] + p;
            const float *e = m->embed + (size_t)ids[row] * w0, *pe = m->timing + p * w0;
            double mean = 0, var = 0;
            for (size_t c = 0; c < w0; c++) mean += x64[c] = 2.0 * e[c] + pe[c];
            mean /= (double)w0;
            for (size_t c = 0; c < w0; c++) var += (x64[c] - mean) * (x64[c] - mean);
            const double inv = 1 / sqrt(var / (double)w0 + hp->ln_eps);
            for (size_t j = 0; j < t->qkv_cols; j++) q64[j] = l->qkv.b[j];
            for (size_t j = 0; j < d; j++) r64[j] = l->proj.w ? l->proj.b[j] : x64[j];
            for (size_t c = 0; c < w0; c++) {
                const double hc = (x64[c] - mean) * inv * l->attn_norm.scale[c] + l->attn_norm.bias[c];
                for (size_t j = 0; j < t->qkv_cols; j++) q64[j] += hc * l->qkv.w[c * t->qkv_cols + j];
                for (size_t j = 0; l->proj.w && j < d; j++) r64[j] += x64[c] * l->proj.w[c * d + j];
            }
            for (size_t j = 0; j < t->qkv_cols; j++) {
                err_tables[0] = fmax(err_tables[0], fabs(qkv[row * t->qkv_cols + j] - q64[j]));
                err_direct[0] = fmax(err_direct[0], fabs(qkv_ref[row * t->qkv_cols + j] - q64[j]));
            }
            for (size_t j = 0; j < d; j++) {
                err_tables[1] = fmax(err_tables[1], fabs(x[row * d + j] - r64[j]));
                err_direct[1] = fmax(err_direct[1], fabs(x_ref[row * d + j] - r64[j]));
            }
        }
    const char *what[2] = {"q|k|v", "residual"};
    for (int i = 0; i < 2; i++) {
        char name[128];
        snprintf(name, sizeof name, "layer 0 tables: %s as close to float64 as the direct products", what[i]);
        printf("%s: max |error| tables %.3g, direct %.3g\n", name, err_tables[i], err_direct[i]);
        CHECK(err_tables[i] <= 2 * err_direct[i] + 1e-7, name, "tables %.3g, direct %.3g", err_tables[i], err_direct[i]);
    }
    free(q64), free(r64), free(x64);
    report(l->proj.w ? "layer 0 tables: residual = x0 . Wd + bd" : "layer 0 tables: residual = x0", x, x_ref, rows * d);
    if (!l->proj.w) CHECK(!memcmp(x, x_ref, rows * d * sizeof *x), "layer 0 tables: residual x0 bit for bit", "differs");

    if (t->ffn_cols) check_folded_ffn(m, t, token_rows, position_rows, x, rows);
    else SKIP("layer 0 tables: the folded feed-forward block", "this model's layer 0 does not fold it");
    free(ids), free(qkv), free(x), free(x0), free(h), free(qkv_ref), free(x_ref), free(token_rows);
    userec_free(m);
    CHECK_DONE();
}
