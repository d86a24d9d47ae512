/* userec.h: the public C API. Load a .usew model, encode batches of token-id sequences into unit vectors.
 * No global state: every function works on the objects passed in; a loaded model is read-only and may be
 * shared by any number of threads. */
#ifndef USEREC_H
#define USEREC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    USEREC_OK = 0,
    USEREC_ERR_IO = 1,          /* a file could not be opened, mapped or read */
    USEREC_ERR_FORMAT = 2,      /* the model file is malformed, corrupted or of another version */
    USEREC_ERR_UNSUPPORTED = 3, /* a well-formed model this engine does not implement */
    USEREC_ERR_INPUT = 4,       /* bad arguments or input data (e.g. a token id out of range) */
    USEREC_ERR_NOMEM = 5,
    USEREC_ERR_DEVICE = 6,      /* no usable GPU (no driver, no device, too old a card, a build without CUDA) or a
                                   failure of the CUDA runtime or its libraries */
} userec_status;

typedef struct {
    userec_status status;
    char message[512]; /* names the file or input position and the problem */
} userec_error;

typedef struct userec_model userec_model;

typedef struct {
    uint32_t dim;        /* output width (512) */
    uint32_t max_len;    /* tokens kept per sentence (128) */
    uint32_t vocab_rows; /* valid ids are 0 .. vocab_rows-1 */
    uint32_t n_layers;
    double flops_per_token;    /* multiply-adds x 2 of the per-token matrix products */
    double flops_per_sentence; /* once per sentence: the last feed-forward down-projection (after pooling), the head */
} userec_model_info;

/* Per-call counts: what was encoded and what had to be clipped. */
typedef struct {
    size_t sentences;
    size_t tokens;  /* tokens actually encoded (after clipping) */
    size_t clipped; /* sentences longer than max_len, encoded from their first max_len tokens */
} userec_counts;

userec_model *userec_load(const char *path, userec_error *err);
void userec_free(userec_model *model);
userec_model_info userec_info(const userec_model *model);
const char *userec_status_name(userec_status status);

/* Encodes n sentences. Sentence i is ids[offsets[i] .. offsets[i+1]) (offsets has n+1 entries). Writes n rows
 * of info.dim floats to out. A sentence's vector does not depend on the rest of the batch. counts may be
 * NULL; when given, its fields are incremented. */
userec_status userec_encode_ids(const userec_model *model, const int32_t *ids, const size_t *offsets, size_t n,
                                float *out, userec_counts *counts, userec_error *err);

/* ---- text ---- */

typedef enum {
    USEREC_TOKENIZER_DEFAULT = 0, /* the model's default: spm when it carries a SentencePiece model */
    USEREC_TOKENIZER_SPM = 1,     /* exactly SentencePiece's ids (what the TF Hub module was fed) */
    USEREC_TOKENIZER_TFJS = 2,    /* exactly the npm package's ids, quirks included */
} userec_tokenizer_kind;

typedef struct {
    size_t texts;
    size_t tokens;       /* tokens encoded (after clipping) */
    size_t clipped;      /* texts longer than max_len tokens, encoded from their first max_len */
    size_t invalid_utf8; /* texts with invalid UTF-8, read as U+FFFD */
} userec_text_counts;

/* Texts in, unit vectors out: tokenizes texts[i] (lens[i] bytes, any bytes) with the model's tokenizer of
 * that kind and encodes them on the CPU; out gets n rows of info.dim floats. A text without tokens (empty)
 * gets the vector of the empty sentence. counts may be NULL; when given, its fields are incremented. */
userec_status userec_encode_texts(const userec_model *model, userec_tokenizer_kind kind, const char *const *texts,
                                  const size_t *lens, size_t n, float *out, userec_text_counts *counts,
                                  userec_error *err);

#ifdef __cplusplus
}
#endif
#endif
