/* fuzz_tokenizer.c: both tokenizers of the test model (USEREC_FUZZ_MODEL, set by `make fuzz`) on any bytes, and
 * tokenizer_encode_first checked against tokenizer_encode on the same text: its ids must be the first ids of the
 * whole text (of the prefix it says it capped the text to), its invalid_utf8 the whole text's. The first byte picks
 * the tokenizer and how many ids, the second how small the prefixes are, so that a few bytes get cut. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/weights.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

static tokenizer *tokenizers[2];
static tok_scratch *whole, *first;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *path = getenv("USEREC_FUZZ_MODEL");
    char err[512];
    usew_file *f = path ? usew_open(path, NULL, err, sizeof err) : NULL;
    if (!f) {
        fprintf(stderr, "fuzz_tokenizer: set USEREC_FUZZ_MODEL to a .usew with both tokenizers (%s)\n",
                path ? err : "unset");
        exit(1);
    }
    for (int k = 0; k < 2; k++)
        if (!(tokenizers[k] = tokenizer_from_usew(f, k ? USEW_TOK_TFJS : USEW_TOK_SPM, err, sizeof err))) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", err);
            exit(1);
        }
    usew_close(f);
    whole = tok_scratch_new(), first = tok_scratch_new();
    return whole && first ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const tokenizer *t = tokenizers[data[0] & 1];
    const size_t max_ids = 1 + ((data[0] >> 1) & 15), len = size - 2;
    first->first_budget = 1 + (data[1] & 15);
    first->first_cap = first->first_budget * (1 + (data[1] >> 4));
    char *text = malloc(len ? len : 1), err[256];
    if (!text) return 0;
    memcpy(text, data + 2, len);
    tok_result all, got;
    if (tokenizer_encode(t, text, len, 1, whole, &all, err, sizeof err)) abort();
    for (size_t i = 1; i < all.n_ids; i++)
        if (all.piece_end[i] < all.piece_end[i - 1]) abort();
    const int invalid = all.invalid_utf8;
    size_t n_all = all.n_ids;
    int32_t *ids = malloc((n_all + 1) * sizeof *ids);
    if (!ids) abort();
    memcpy(ids, all.ids, n_all * sizeof *ids);
    if (tokenizer_encode_first(t, text, len, max_ids, first, &got, err, sizeof err)) abort();
    if (got.capped_at) { /* the reference is then the prefix it was capped to */
        if (got.capped_at > len || tokenizer_encode(t, text, got.capped_at, 0, whole, &all, err, sizeof err)) abort();
        n_all = all.n_ids;
        int32_t *grown = realloc(ids, (n_all + 1) * sizeof *ids);
        if (!grown) abort();
        ids = grown;
        memcpy(ids, all.ids, n_all * sizeof *ids);
    }
    const size_t n = n_all < max_ids ? n_all : max_ids;
    if (got.n_ids != n || memcmp(got.ids, ids, n * sizeof *ids) || got.invalid_utf8 != invalid) {
        fprintf(stderr, "fuzz_tokenizer: encode_first differs from encode (%zu vs %zu ids, max %zu, capped at %zu)\n",
                got.n_ids, n, max_ids, got.capped_at);
        abort();
    }
    free(ids);
    free(text);
    return 0;
}
