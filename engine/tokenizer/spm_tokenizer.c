/* spm_tokenizer.c: SentencePiece's unigram encoder (SPEC 4.1 step 3), as sentencepiece 0.1.97's
 * unigram::Model::EncodeOptimized and SentencePieceProcessor::Encode compute it, arithmetic included:
 * - at each character start, every piece that prefixes the rest is an edge; a candidate path score is
 *   (double)piece_score + (float)best_so_far, compared in double against the stored float and stored
 *   rounded to float; the first candidate reaching a position wins exact ties (strict >);
 * - when no piece covers exactly the one character at that start, an unknown edge of that character scores
 *   unk_score + best_so_far, all in float;
 * - the backtrace follows the best edges from the end; consecutive unknowns merge into one <unk>. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "common/util.h"

typedef struct {
    float score;       /* best path score ending here */
    int32_t starts_at; /* where the last edge of that path starts, -1 = not reached yet */
    int32_t id;
} best_path;

static int valid_blobs(const spm_blobs *b, char *err, size_t err_len) {
    if (b->n_pieces == 0 || b->n_pieces > INT32_MAX)
        return ERR(err, err_len, "spm: %u pieces", b->n_pieces);
    if (b->pieces_bytes > UINT32_MAX) return ERR(err, err_len, "spm: the pieces blob is over 4 GB");
    if (!b->pieces_bytes || b->pieces[b->pieces_bytes - 1] != '\0')
        return ERR(err, err_len, "spm: the pieces blob (%zu bytes) does not end with NUL", b->pieces_bytes);
    size_t n_strings = 0, unknowns = 0;
    for (size_t i = 0; i < b->pieces_bytes; i++) n_strings += b->pieces[i] == '\0';
    if (n_strings != b->n_pieces)
        return ERR(err, err_len, "spm: the pieces blob holds %zu strings, expected %u", n_strings, b->n_pieces);
    for (uint32_t i = 0; i < b->n_pieces; i++) {
        if (b->types[i] < SPM_NORMAL || b->types[i] > SPM_UNUSED)
            return ERR(err, err_len, "spm: piece %u has type %u (%s)", i, b->types[i],
                       b->types[i] == SPM_BYTE ? "byte-fallback models are not supported" : "unknown type");
        unknowns += b->types[i] == SPM_UNKNOWN;
        if (!isfinite(b->scores[i])) return ERR(err, err_len, "spm: piece %u has score %g", i, b->scores[i]);
    }
    if (unknowns != 1) return ERR(err, err_len, "spm: %zu <unk> pieces, expected exactly one", unknowns);
    return 0;
}

/* Builds a byte-labelled trie of the pieces whose type passes keep(type). */
static int build_piece_trie(trie *t, const spm_blobs *b, int (*keep)(uint8_t), int *any, char *err,
                            size_t err_len) {
    uint16_t *labels = malloc(b->pieces_bytes * sizeof *labels);
    uint32_t *offsets = malloc(((size_t)b->n_pieces + 1) * sizeof *offsets);
    int32_t *values = malloc((size_t)b->n_pieces * sizeof *values);
    int rc = -1;
    if (!labels || !offsets || !values) {
        ERR(err, err_len, "spm: out of memory for %u pieces (%s:%d)", b->n_pieces, __FILE__, __LINE__);
        goto done;
    }
    const uint8_t *p = (const uint8_t *)b->pieces;
    uint32_t n_labels = 0;
    *any = 0;
    for (uint32_t id = 0; id < b->n_pieces; id++) {
        size_t len = strlen((const char *)p);
        if (len == 0) {
            ERR(err, err_len, "spm: piece %u is empty", id);
            goto done;
        }
        offsets[id] = n_labels;
        values[id] = (int32_t)id;
        if (keep(b->types[id])) {
            for (size_t k = 0; k < len; k++) labels[n_labels++] = p[k];
            *any = 1;
        }
        p += len + 1;
    }
    offsets[b->n_pieces] = n_labels;
    uint32_t dup = UINT32_MAX;
    rc = trie_build(t, labels, offsets, values, b->n_pieces, 255, TRIE_DUP_REFUSE, &dup, err, err_len);
    if (rc && dup != UINT32_MAX)
        ERR(err, err_len, "spm: piece %u is already defined (SentencePiece refuses duplicate pieces)", dup);
done:
    free(labels);
    free(offsets);
    free(values);
    return rc;
}

static int matched_by_viterbi(uint8_t type) { return type == SPM_NORMAL || type == SPM_USER_DEFINED; }
static int user_defined(uint8_t type) { return type == SPM_USER_DEFINED; }

/* The whitespace symbol as the normaliser writes it. */
static const char *space_symbol(const spm_model *m, size_t *len) {
    const int escape = !!(m->normalizer_flags & USEW_N_ESCAPE_WHITESPACES);
    *len = escape ? 3 : 1;
    return escape ? "\xe2\x96\x81" : " ";
}

/* Whether a cut just before a whitespace symbol can never split a piece: no piece holds the symbol, or the
 * start of it, at any byte but its first (SentencePiece trained with split_by_whitespace, as USE-lite's was). */
static int pieces_stay_within_words(const spm_model *m, const spm_blobs *b) {
    size_t sym_len;
    const char *sym = space_symbol(m, &sym_len);
    const char *p = b->pieces;
    for (uint32_t id = 0; id < b->n_pieces; id++) {
        const size_t len = strlen(p);
        if (b->types[id] == SPM_NORMAL || b->types[id] == SPM_USER_DEFINED)
            for (size_t j = 1; j < len; j++) {
                const size_t n = len - j < sym_len ? len - j : sym_len;
                if (!memcmp(p + j, sym, n)) return 0;
            }
        p += len + 1;
    }
    return 1;
}

int spm_init(spm_model *m, const spm_blobs *b, char *err, size_t err_len) {
    memset(m, 0, sizeof *m);
    if (valid_blobs(b, err, err_len)) return -1;
    m->n_pieces = b->n_pieces;
    m->normalizer_flags = b->normalizer_flags;
    /* SentencePiece's Model(): min and max over normal pieces, starting from FLT_MAX and FLT_MIN (the
     * smallest positive float, so an all-negative vocabulary has max_score = FLT_MIN). */
    float min_score = FLT_MAX, max_score = FLT_MIN;
    for (uint32_t i = 0; i < b->n_pieces; i++) {
        if (b->types[i] != SPM_NORMAL) continue;
        if (b->scores[i] < min_score) min_score = b->scores[i];
        if (b->scores[i] > max_score) max_score = b->scores[i];
    }
    for (uint32_t i = 0; i < b->n_pieces; i++)
        if (b->types[i] == SPM_UNKNOWN) m->unk_id = (int32_t)i;
    m->unk_score = min_score - 10.0f;
    m->edge_score = malloc((size_t)b->n_pieces * sizeof *m->edge_score);
    if (!m->edge_score) {
        ERR(err, err_len, "spm: out of memory for %u pieces (%s:%d)", b->n_pieces, __FILE__, __LINE__);
        return -1;
    }
    const char *p = b->pieces;
    for (uint32_t i = 0; i < b->n_pieces; i++) {
        size_t len = strlen(p);
        m->edge_score[i] = b->types[i] == SPM_USER_DEFINED ? (double)((float)len * max_score) - 0.1
                                                             : (double)b->scores[i];
        p += len + 1;
    }
    m->cut_at_space = pieces_stay_within_words(m, b);
    int any;
    if (build_piece_trie(&m->pieces, b, matched_by_viterbi, &any, err, err_len) ||
        build_piece_trie(&m->user_defined, b, user_defined, &m->has_user_defined, err, err_len) ||
        spm_charsmap_init(&m->charsmap, b->charsmap, b->charsmap_bytes, err, err_len)) {
        spm_release(m);
        return -1;
    }
    return 0;
}

void spm_release(spm_model *m) {
    free(m->edge_score);
    trie_free(&m->pieces);
    trie_free(&m->user_defined);
    spm_charsmap_release(&m->charsmap);
    memset(m, 0, sizeof *m);
}

/* SentencePiece's OneCharLen: the UTF-8 length announced by a lead byte. */
static inline size_t one_char_len(uint8_t lead) { return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[lead >> 4]; }

/* Viterbi over the normalised text s->text[0 .. size) into out (ids, piece ends, pieces). */
static int viterbi(const spm_model *m, size_t size, tok_scratch *s, tok_result *out, char *err, size_t err_len) {
    if (size > INT32_MAX - 1)
        return ERR(err, err_len, "spm: a text of %zu normalised bytes is longer than 2^31", size);
    const uint8_t *norm = s->text;
    out->pieces = (const char *)norm;
    out->n_ids = 0;
    if (size == 0) return 0;

    if (tok_grow(&s->lattice, &s->lattice_cap, (size + 1) * sizeof(best_path), 1, err, err_len)) return -1;
    best_path *best = s->lattice;
    for (size_t i = 0; i <= size; i++) best[i] = (best_path){0.0f, -1, -1};

    for (size_t start = 0; start < size;) {
        const float till_here = best[start].score;
        size_t mblen = one_char_len(norm[start]);
        if (mblen > size - start) mblen = size - start;
        int has_single_node = 0;
        int32_t node = 0;
        for (size_t key = start; key < size;) {
            node = trie_child(&m->pieces, node, norm[key++]);
            if (node < 0) break;
            int32_t id = trie_value(&m->pieces, node);
            if (id < 0) continue;
            const double candidate = m->edge_score[id] + (double)till_here;
            best_path *target = &best[key];
            if (target->starts_at < 0 || candidate > (double)target->score) {
                target->score = (float)candidate;
                target->starts_at = (int32_t)start;
                target->id = id;
            }
            has_single_node |= key - start == mblen;
        }
        if (!has_single_node) {
            const float candidate = m->unk_score + till_here;
            best_path *target = &best[start + mblen];
            if (target->starts_at < 0 || candidate > target->score) {
                target->score = candidate;
                target->starts_at = (int32_t)start;
                target->id = m->unk_id;
            }
        }
        start += mblen;
    }

    size_t n = 0;
    for (size_t end = size; end > 0; end = (size_t)best[end].starts_at) n++;
    if (TOK_GROW(s, ids, n, err, err_len) || TOK_GROW(s, piece_end, n, err, err_len)) return -1;
    size_t k = n;
    for (size_t end = size; end > 0; end = (size_t)best[end].starts_at) {
        k--;
        s->ids[k] = best[end].id;
        s->piece_end[k] = end;
    }
    /* Merge runs of unknowns, as SentencePieceProcessor does when it builds its result. */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w && s->ids[i] == m->unk_id && s->ids[w - 1] == m->unk_id) {
            s->piece_end[w - 1] = s->piece_end[i];
            continue;
        }
        s->ids[w] = s->ids[i];
        s->piece_end[w++] = s->piece_end[i];
    }
    out->ids = s->ids;
    out->n_ids = w;
    out->piece_end = s->piece_end;
    return 0;
}

int spm_encode(const spm_model *m, const uint8_t *text, size_t len, int want_pieces, tok_scratch *s,
               tok_result *out, char *err, size_t err_len) {
    (void)want_pieces; /* the pieces are slices of the normalised text, which is at hand anyway */
    memset(out, 0, sizeof *out);
    long long size = spm_normalize(m, text, len, SIZE_MAX, NULL, s, &out->invalid_utf8, err, err_len);
    return size < 0 ? -1 : viterbi(m, (size_t)size, s, out, err, err_len);
}

/* The last position q > 0 of the normalised text where a whitespace symbol starts a character (as the Viterbi
 * steps through characters) and something else than whitespace symbols follows, or 0. No piece crosses q
 * (pieces_stay_within_words), so every segmentation of the whole text passes through q, and the best one up to
 * q is the best one of norm[0 .. q). The whitespace symbols that end the text so far are left out: if the rest
 * of the text normalises to nothing, the normaliser drops them all (literal U+2581 included), and norm[0 .. q)
 * would not be a prefix of the whole text's normalisation. */
static size_t last_word_start(const spm_model *m, const uint8_t *norm, size_t size) {
    size_t sym_len, last = 0;
    const char *sym = space_symbol(m, &sym_len);
    while (size >= sym_len && !memcmp(norm + size - sym_len, sym, sym_len)) size -= sym_len;
    for (size_t at = 0; at < size; at += one_char_len(norm[at]))
        if (at && size - at >= sym_len && !memcmp(norm + at, sym, sym_len)) last = at;
    return last;
}

int spm_encode_first(const spm_model *m, const uint8_t *text, size_t len, size_t max_ids, tok_scratch *s,
                     tok_result *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    size_t consumed = len;
    for (size_t budget = s->first_budget;; budget *= 2) {
        const size_t stop_at = budget < s->first_cap ? budget : s->first_cap;
        const long long size = spm_normalize(m, text, len, stop_at, &consumed, s, &out->invalid_utf8, err, err_len);
        if (size < 0) return -1;
        if (consumed == len) { /* the whole text */
            if (viterbi(m, (size_t)size, s, out, err, err_len)) return -1;
            break;
        }
        const size_t cut = m->cut_at_space ? last_word_start(m, s->text, (size_t)size) : 0;
        if (cut) {
            if (viterbi(m, cut, s, out, err, err_len)) return -1;
            if (out->n_ids >= max_ids) break;
        }
        if (stop_at == s->first_cap) { /* one run of text too long to cut: tokenize it as if it ended here */
            const long long capped = spm_normalize(m, text, consumed, SIZE_MAX, NULL, s, &out->invalid_utf8, err, err_len);
            if (capped < 0 || viterbi(m, (size_t)capped, s, out, err, err_len)) return -1;
            out->capped_at = consumed;
            break;
        }
    }
    tok_keep_first(out, max_ids, text + consumed, len - consumed);
    return 0;
}
