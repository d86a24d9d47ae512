/* layer0_tables.h: layer 0's two per-token products, looked up instead of computed (layer0_tables.c). */
#ifndef USEREC_LAYER0_TABLES_H
#define USEREC_LAYER0_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct userec_model userec_model;

/* With W' = diag(gamma) Wqkv (layer 0's attention norm folded into its qkv weights) and Wd the residual
 * projection (absent in a model without one): */
typedef struct layer0_tables {
    uint32_t qkv_cols, cols; /* 3 * layer_width[0]; then + d_model when layer 0 projects its residual */
    float *by_token;         /* [vocab_rows][cols]: E[id] . [W' | Wd] */
    float *by_position;      /* [max_len][cols]: PE[p] . [W' | Wd] + [0 | bd] */
    float *qkv_colsum;       /* [qkv_cols]: the column sums of W', 1 . W' */
    float *qkv_const;        /* [qkv_cols]: beta . Wqkv + bqkv */
} layer0_tables;

/* The tables' columns for m: the outputs of layer 0's two products, whose inputs are layer_width[0] wide. */
uint32_t layer0_tables_cols(const userec_model *m);

/* m's tables into *out: built on the first call (once per model, whichever thread asks; the products on every
 * OpenMP thread) and freed with the model. USEREC_ERR_NOMEM when they do not fit. */
userec_status layer0_tables_of(const userec_model *m, const layer0_tables **out, userec_error *err);

void layer0_tables_free(layer0_tables *t);

/* Layer 0's q|k|v (rows of t->qkv_cols) and the residual stream it adds to (rows of d_model: x0 . Wd + bd, or
 * x0 itself without a projection) for the packed tokens of n sentences, ids[offsets[s] + p] at row starts[s] + p.
 * Returns -1 when out of memory. */
int layer0_tables_apply(const layer0_tables *t, const userec_model *m, const int32_t *ids, const size_t *offsets,
                        const size_t *starts, size_t n, float *qkv, float *x);

#endif
