/* tokenizer.c: the public side of the two tokenizers (tokenizer.h): construction from blobs or a .usew
 * file, per-thread scratch memory, and dispatch to spm_*.c / tfjs_*.c. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "common/grow.h"
#include "common/utf8.h"
#include "common/util.h"
#include "model/weights.h"

int tok_grow(void **buf, size_t *cap, size_t need, size_t elem, char *err, size_t err_len) {
    return grow(buf, cap, need, elem) ? ERR(err, err_len, "tokenizer: out of memory for %zu elements of %zu bytes", need, elem) : 0;
}

static tokenizer *new_tokenizer(enum usew_tokenizer kind, char *err, size_t err_len) {
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) ERR(err, err_len, "tokenizer: out of memory (%s:%d)", __FILE__, __LINE__);
    else t->kind = kind;
    return t;
}

tokenizer *tokenizer_new_spm(const spm_blobs *blobs, char *err, size_t err_len) {
    tokenizer *t = new_tokenizer(USEW_TOK_SPM, err, err_len);
    if (t && spm_init(&t->u.spm, blobs, err, err_len)) {
        free(t);
        return NULL;
    }
    return t;
}

tokenizer *tokenizer_new_tfjs(const uint8_t *vocab_json, size_t len, char *err, size_t err_len) {
    tokenizer *t = new_tokenizer(USEW_TOK_TFJS, err, err_len);
    if (t && tfjs_init(&t->u.tfjs, vocab_json, len, err, err_len)) {
        free(t);
        return NULL;
    }
    return t;
}

/* The u8/f32 tensor `name` with exactly `count` elements (count 0: any), or NULL with err set. */
static const usew_tensor *payload(const usew_file *f, const char *name, uint32_t dtype, uint64_t count, char *err,
                                  size_t err_len) {
    const usew_tensor *t = usew_find(f, name);
    if (!t) {
        ERR(err, err_len, "no tensor '%s' (convert the model with the tokenizer it needs; see docs/format.md)", name);
        return NULL;
    }
    uint64_t elems = t->nbytes / usew_dtype_size(t->dtype);
    if (t->dtype != dtype || t->ndim != 1 || (count && elems != count)) {
        ERR(err, err_len, "tensor '%s' is %s with %llu elements, expected 1-D %s%s", name,
            usew_dtype_name(t->dtype), (unsigned long long)elems, usew_dtype_name(dtype), count ? " of n_pieces" : "");
        return NULL;
    }
    return t;
}

/* The spm tokenizer of f's tok.spm.* tensors; NULL with err set. */
static tokenizer *spm_from_usew(const usew_file *f, char *err, size_t err_len) {
    uint32_t n = f->hp.n_pieces;
    const usew_tensor *pieces = payload(f, "tok.spm.pieces", USEW_U8, 0, err, err_len);
    const usew_tensor *scores = pieces ? payload(f, "tok.spm.scores", USEW_F32, n, err, err_len) : NULL;
    const usew_tensor *types = scores ? payload(f, "tok.spm.types", USEW_U8, n, err, err_len) : NULL;
    const usew_tensor *charsmap = types ? payload(f, "tok.spm.charsmap", USEW_U8, 0, err, err_len) : NULL;
    if (!charsmap) return NULL;
    spm_blobs blobs = {
        .pieces = pieces->data,
        .pieces_bytes = pieces->nbytes,
        .scores = scores->data, /* 64-byte aligned in the mapping */
        .types = types->data,
        .n_pieces = n,
        .charsmap = charsmap->data,
        .charsmap_bytes = charsmap->nbytes,
        .normalizer_flags = f->hp.normalizer_flags,
    };
    return tokenizer_new_spm(&blobs, err, err_len);
}

tokenizer *tokenizer_from_usew(const usew_file *f, enum usew_tokenizer kind, char *err, size_t err_len) {
    if (kind == USEW_TOK_NONE) kind = (enum usew_tokenizer)f->hp.default_tokenizer;
    if (kind != USEW_TOK_SPM && kind != USEW_TOK_TFJS) {
        ERR(err, err_len, "%s: the model carries no tokenizer (default_tokenizer %u); convert it with --spm-model or "
            "from a tfjs folder with vocab.json", f->path, f->hp.default_tokenizer);
        return NULL;
    }
    const usew_tensor *vocab = kind == USEW_TOK_TFJS ? payload(f, "tok.tfjs.vocab", USEW_U8, 0, err, err_len) : NULL;
    tokenizer *t = kind == USEW_TOK_SPM ? spm_from_usew(f, err, err_len)
                   : vocab              ? tokenizer_new_tfjs(vocab->data, vocab->nbytes, err, err_len)
                                        : NULL;
    if (!t) { /* name the file */
        char why[400];
        snprintf(why, sizeof why, "%s", err);
        ERR(err, err_len, "%s: %s", f->path, why);
    }
    return t;
}

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    if (t->kind == USEW_TOK_SPM) spm_release(&t->u.spm);
    else tfjs_release(&t->u.tfjs);
    free(t);
}

enum usew_tokenizer tokenizer_kind(const tokenizer *t) { return t->kind; }

const char *tokenizer_kind_name(enum usew_tokenizer kind) {
    return kind == USEW_TOK_SPM ? "spm" : kind == USEW_TOK_TFJS ? "tfjs" : "none";
}

tok_scratch *tok_scratch_new(void) {
    tok_scratch *s = calloc(1, sizeof *s);
    if (s) s->first_budget = TOK_FIRST_BUDGET, s->first_cap = TOK_FIRST_CAP;
    return s;
}

void tok_scratch_free(tok_scratch *s) {
    if (!s) return;
    free(s->text);
    free(s->cps);
    free(s->units);
    free(s->lattice);
    free(s->ids);
    free(s->piece_end);
    free(s);
}

static const int32_t no_ids[1]; /* valid pointers even for no tokens, so that callers may memcpy 0 bytes from them */

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int want_pieces, tok_scratch *s,
                     tok_result *out, char *err, size_t err_len) {
    static const size_t no_ends[1];
    const uint8_t *bytes = (const uint8_t *)text;
    int rc = t->kind == USEW_TOK_SPM ? spm_encode(&t->u.spm, bytes, len, want_pieces, s, out, err, err_len)
                                     : tfjs_encode(&t->u.tfjs, bytes, len, want_pieces, s, out, err, err_len);
    if (!out->n_ids) {
        out->ids = no_ids;
        out->pieces = "";
        out->piece_end = no_ends;
    }
    return rc;
}

void tok_keep_first(tok_result *out, size_t max_ids, const uint8_t *rest, size_t rest_len) {
    if (out->n_ids > max_ids) out->n_ids = max_ids;
    out->pieces = NULL, out->piece_end = NULL; /* they would describe a prefix whose end the caller cannot see */
    if (!out->invalid_utf8 && !utf8_valid(rest, rest_len)) out->invalid_utf8 = 1;
}

int tokenizer_encode_first(const tokenizer *t, const char *text, size_t len, size_t max_ids, tok_scratch *s,
                           tok_result *out, char *err, size_t err_len) {
    const uint8_t *bytes = (const uint8_t *)text;
    if (!max_ids) return ERR(err, err_len, "tokenizer: max_ids must be at least 1");
    int rc = t->kind == USEW_TOK_SPM ? spm_encode_first(&t->u.spm, bytes, len, max_ids, s, out, err, err_len)
                                     : tfjs_encode_first(&t->u.tfjs, bytes, len, max_ids, s, out, err, err_len);
    if (!out->n_ids) out->ids = no_ids;
    return rc;
}
