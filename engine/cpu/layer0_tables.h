/* layer0_tables.h: layer 0's per-token products looked up instead of computed, and its feed-forward
 * up-projection folded into a narrower product (layer0_tables.c). */
#ifndef USEREC_LAYER0_TABLES_H
#define USEREC_LAYER0_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "model/model.h"

/* With W' = diag(gamma) Wqkv (layer 0's attention norm folded into its qkv weights), Wd the residual
 * projection (absent in a model without one) and, when the feed-forward block is folded,
 * G = diag(gamma_ffn) W1 (its norm folded into its up-projection): */
typedef struct layer0_tables {
    uint32_t qkv_cols, ffn_cols, cols; /* 3 * layer_width[0]; d_ffn when folded, else 0; all of the row's */
    float *by_token;    /* [vocab_rows][cols]: E[id] . [W' | Wd | Wd G] */
    float *by_position; /* [max_len][cols]: PE[p] . [W' | Wd | Wd G] + [0 | bd | (bd + bo) G] */
    float *qkv_colsum;  /* [qkv_cols]: the column sums of W', 1 . W' */
    float *qkv_const;   /* [qkv_cols]: beta . Wqkv + bqkv */
    /* The folded feed-forward block (gemm_fold), when ffn_cols: */
    float *ffn_colsum, *ffn_const; /* [ffn_cols]: 1 . G; beta_ffn . W1 + b1 */
    dense ffn_up; /* Wo G (Wo the attention's output projection): w [layer_width[0]][ffn_cols], owned; b zeros */
} layer0_tables;

/* The FLOPs per token the tables save the CPU: layer 0's two products, and the folded block's narrower input. */
double layer0_tables_flops_saved(const userec_model *m);

/* m's tables into *out: built on the first call (once per model, whichever thread asks; the products on every
 * OpenMP thread) and freed with the model. USEREC_ERR_NOMEM when they do not fit. */
userec_status layer0_tables_of(const userec_model *m, const layer0_tables **out, userec_error *err);

void layer0_tables_free(layer0_tables *t);

/* Layer 0's q|k|v (rows of t->qkv_cols) and the residual stream it adds to (rows of d_model: x0 . Wd + bd, or
 * x0 itself without a projection) for the packed tokens of n sentences, ids[offsets[s] + p] at row starts[s] + p;
 * when t->ffn_cols, the rows' token and position pointers of the folded block (gemm_fold) into token_rows and
 * position_rows. Returns -1 when out of memory. */
int layer0_tables_apply(const layer0_tables *t, const userec_model *m, const int32_t *ids, const size_t *offsets,
                        const size_t *starts, size_t n, float *qkv, float *x, const float **token_rows,
                        const float **position_rows);

#endif
