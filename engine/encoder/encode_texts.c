/* encode_texts.c: texts to vectors: tokenize, then encode: userec_encode_texts (the CPU, stateless) and
 * userec_encoder_encode_texts (any device). */
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "model/model.h"

/* enc NULL: the stateless CPU call. */
static userec_status encode_texts(const userec_model *m, userec_encoder *enc, userec_tokenizer_kind kind,
                                  const char *const *texts, const size_t *lens, size_t n, float *out,
                                  userec_text_counts *counts, userec_error *err) {
    const tokenizer *tok = model_tokenizer(m, (enum usew_tokenizer)kind, err);
    if (!tok) return err ? err->status : USEREC_ERR_UNSUPPORTED;
    tok_scratch *scratch = tok_scratch_new();
    size_t *offsets = malloc((n + 1) * sizeof *offsets), n_ids = 0, cap = 0, invalid = 0;
    int32_t *ids = NULL;
    userec_status status = USEREC_OK;
    char msg[256];
    if (!scratch || !offsets) status = set_error(err, USEREC_ERR_NOMEM, "out of memory for %zu texts", n);
    for (size_t i = 0; i < n && !status; i++) {
        tok_result r;
        offsets[i] = n_ids;
        /* the encoder keeps max_len tokens; one more tells it the text was clipped */
        if (tokenizer_encode_first(tok, texts[i], lens[i], (size_t)m->hp.max_len + 1, scratch, &r, msg, sizeof msg)) {
            status = set_error(err, USEREC_ERR_NOMEM, "text %zu: %s", i, msg);
            break;
        }
        invalid += r.invalid_utf8 != 0;
        if (GROW(ids, cap, n_ids + r.n_ids + 1)) {
            status = set_error(err, USEREC_ERR_NOMEM, "out of memory for the tokens of %zu texts", n);
            break;
        }
        memcpy(ids + n_ids, r.ids, r.n_ids * sizeof *ids);
        n_ids += r.n_ids;
    }
    userec_counts c = {0};
    if (!status) {
        offsets[n] = n_ids;
        status = enc ? userec_encoder_encode(enc, ids, offsets, n, out, &c, err)
                     : userec_encode_ids(m, ids, offsets, n, out, &c, err);
    }
    if (!status && counts) {
        counts->texts += n;
        counts->tokens += c.tokens;
        counts->clipped += c.clipped;
        counts->invalid_utf8 += invalid;
    }
    tok_scratch_free(scratch);
    free(offsets);
    free(ids);
    return status;
}

userec_status userec_encode_texts(const userec_model *m, userec_tokenizer_kind kind, const char *const *texts,
                                  const size_t *lens, size_t n, float *out, userec_text_counts *counts,
                                  userec_error *err) {
    return encode_texts(m, NULL, kind, texts, lens, n, out, counts, err);
}

userec_status userec_encoder_encode_texts(userec_encoder *e, userec_tokenizer_kind kind, const char *const *texts,
                                          const size_t *lens, size_t n, float *out, userec_text_counts *counts,
                                          userec_error *err) {
    return encode_texts(userec_encoder_model(e), e, kind, texts, lens, n, out, counts, err);
}
