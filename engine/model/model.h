/* model.h: a USE-lite model resolved from a .usew file: tensor pointers checked against the header. */
#ifndef USEREC_MODEL_H
#define USEREC_MODEL_H

#include <pthread.h>

#include "common/error.h"
#include "cpu/cpu_gemm.h"
#include "tokenizer/tokenizer.h"
#include "userec.h"
#include "model/weights.h"

typedef struct {
    const float *w, *b;  /* as stored in the file: w [in, out] row-major, b [out] */
    gemm_weights packed; /* the same repacked at load for the CPU's micro-kernel (cpu_gemm.h) */
} dense;

typedef struct {
    const float *scale, *bias;
} layer_norm;

typedef struct {
    uint32_t width;     /* input width of this layer */
    layer_norm attn_norm, ffn_norm;
    dense qkv, out, proj; /* proj.w is NULL unless the residual is projected (layer 0) */
    dense ffn_up, ffn_down;
} encoder_layer;

/* What a CPU encoder builds from the weights on first use (the GPU needs none of it), under lock. */
typedef struct {
    pthread_mutex_t lock;
    struct layer0_tables *layer0; /* cpu/layer0_tables.h */
} model_cpu_cache;

struct userec_model {
    usew_file *file;
    usew_hparams hp;
    const float *embed;   /* [vocab_rows, layer_width[0]] */
    float *timing;        /* [max_len, layer_width[0]]: concat(sin(p*inv), cos(p*inv)), computed at load */
    encoder_layer layers[USEW_MAX_LAYERS];
    dense head;
    tokenizer *tokenizers[3]; /* by enum usew_tokenizer; NULL where the file has no such payload */
    model_cpu_cache *cpu_cache;
};

/* The model's tokenizer of that kind (USEW_TOK_NONE: the file's default), or NULL with err set. */
const tokenizer *model_tokenizer(const userec_model *m, enum usew_tokenizer kind, userec_error *err);

/* Builds the model on an opened file, taking ownership of it (closed on failure too). */
userec_model *model_from_file(usew_file *f, userec_error *err);

/* Checks a batch's ids and offsets (every encoder runs the same checks, with the same messages) and counts
 * the rows it will encode (tokens after clipping to max_len) and the clipped sentences. */
userec_status model_check_ids(const usew_hparams *hp, const int32_t *ids, const size_t *offsets, size_t n,
                              size_t *rows, size_t *clipped, userec_error *err);

/* Sentence s's tokens that the encoders keep: its length, clipped to max_len. */
static inline size_t model_kept_tokens(const usew_hparams *hp, const size_t *offsets, size_t s) {
    const size_t len = offsets[s + 1] - offsets[s];
    return len > hp->max_len ? hp->max_len : len;
}

#endif
