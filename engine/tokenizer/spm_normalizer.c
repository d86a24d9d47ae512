/* spm_normalizer.c: SentencePiece's text normalisation (SPEC 4.1 steps 1-2), rule for rule as
 * sentencepiece/src/normalizer.cc (0.1.97) does it:
 * - at each position, the longest user-defined piece is copied through untouched; else the longest key of
 *   the precompiled charsmap is replaced by its pool string; else one UTF-8 character is copied, and a byte
 *   that does not start a valid character becomes U+FFFD (consuming that one byte);
 * - with remove_extra_whitespaces: leading prefixes that normalise to exactly " " are dropped, a chunk's
 *   leading spaces are dropped after a chunk that ended in a space, trailing space symbols are dropped;
 * - add_dummy_prefix puts one space first; escape_whitespaces writes every space as U+2581.
 * "Space" here is the byte 0x20 of the normalised chunks, as in SentencePiece. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tokenizer_impl.h"
#include "common/util.h"

static const char SPACE_SYMBOL[] = "\xe2\x96\x81"; /* U+2581 LOWER ONE EIGHTH BLOCK */
static const char REPLACEMENT[] = "\xef\xbf\xbd"; /* U+FFFD */

/* darts-clone DoubleArrayUnit fields. */
static inline uint32_t da_has_leaf(uint32_t unit) { return (unit >> 8) & 1; }
static inline uint32_t da_value(uint32_t unit) { return unit & 0x7FFFFFFFu; }
static inline uint32_t da_label(uint32_t unit) { return unit & (0x80000000u | 0xFFu); }
static inline uint32_t da_offset(uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); }

int spm_charsmap_init(spm_charsmap *c, const uint8_t *blob, size_t len, char *err, size_t err_len) {
    memset(c, 0, sizeof *c);
    if (len == 0) return 0; /* no rules: text is only validated */
    if (len <= 4) return ERR(err, err_len, "charsmap: %zu bytes, too short for its trie size field", len);
    uint32_t trie_bytes = rd_u32(blob);
    if (trie_bytes == 0 || trie_bytes % 4 || (uint64_t)trie_bytes + 4 > len)
        return ERR(err, err_len, "charsmap: trie size %u does not fit a %zu-byte blob of 4-byte units", trie_bytes,
                   len);
    size_t pool_len = len - 4 - trie_bytes;
    if (pool_len == 0 || blob[len - 1] != 0 || pool_len > UINT32_MAX)
        return ERR(err, err_len, "charsmap: the replacement pool (%zu bytes) is empty or not NUL-terminated", pool_len);
    c->n_units = trie_bytes / 4;
    c->units = malloc(trie_bytes);
    c->pool = malloc(pool_len);
    if (!c->units || !c->pool) {
        spm_charsmap_release(c);
        return ERR(err, err_len, "charsmap: out of memory for %zu bytes (%s:%d)", len, __FILE__, __LINE__);
    }
    for (uint32_t i = 0; i < c->n_units; i++) c->units[i] = rd_u32(blob + 4 + 4 * (size_t)i);
    memcpy(c->pool, blob + 4 + trie_bytes, pool_len);
    c->pool_len = (uint32_t)pool_len;
    return 0;
}

void spm_charsmap_release(spm_charsmap *c) {
    free(c->units);
    free(c->pool);
    memset(c, 0, sizeof *c);
}

/* darts-clone commonPrefixSearch, keeping the longest key: its length (0 = none), replacement in *repl.
 * Bounds are checked so that a malformed blob cannot read outside the array. */
static size_t charsmap_match(const spm_charsmap *c, const uint8_t *text, size_t len, const char **repl) {
    const uint32_t *units = c->units;
    if (!units) return 0;
    size_t longest = 0;
    uint32_t pos = da_offset(units[0]);
    for (size_t i = 0; i < len; i++) {
        pos ^= text[i];
        if (pos >= c->n_units) break;
        uint32_t unit = units[pos];
        if (da_label(unit) != text[i]) break;
        pos ^= da_offset(unit);
        if (pos >= c->n_units) break;
        if (da_has_leaf(unit) && da_value(units[pos]) < c->pool_len) {
            longest = i + 1;
            *repl = c->pool + da_value(units[pos]);
        }
    }
    return longest;
}

/* The longest key of t that prefixes text, as its length (0 = none). */
static size_t longest_key(const trie *t, const uint8_t *text, size_t len) {
    size_t longest = 0;
    int32_t node = 0;
    for (size_t i = 0; i < len && (node = trie_child(t, node, text[i])) >= 0; i++)
        if (trie_value(t, node) >= 0) longest = i + 1;
    return longest;
}

typedef struct {
    const char *out; /* what the consumed bytes normalise to */
    size_t out_len;
    size_t consumed; /* >= 1 */
} normalized_prefix;

/* Normalizer::NormalizePrefix. */
static normalized_prefix normalize_prefix(const spm_model *m, const uint8_t *text, size_t len, int *invalid_utf8) {
    const char *raw = (const char *)text;
    if (m->has_user_defined) {
        size_t n = longest_key(&m->user_defined, text, len);
        if (n) return (normalized_prefix){raw, n, n};
    }
    const char *repl;
    size_t n = charsmap_match(&m->charsmap, text, len, &repl);
    if (n) return (normalized_prefix){repl, strlen(repl), n};
    if (text[0] < 0x80) return (normalized_prefix){raw, 1, 1};
    utf8proc_int32_t cp;
    utf8proc_ssize_t char_len = utf8proc_iterate(text, (utf8proc_ssize_t)len, &cp);
    if (char_len > 0) return (normalized_prefix){raw, (size_t)char_len, (size_t)char_len};
    *invalid_utf8 = 1;
    return (normalized_prefix){REPLACEMENT, 3, 1};
}

/* Appends a chunk, writing spaces as U+2581 when escaping; s->text has room (see the reserve below). */
static size_t append_chunk(uint8_t *out, size_t at, const char *chunk, size_t n, int escape) {
    for (size_t i = 0; i < n; i++) {
        if (escape && chunk[i] == ' ') {
            memcpy(out + at, SPACE_SYMBOL, 3);
            at += 3;
        } else {
            out[at++] = (uint8_t)chunk[i];
        }
    }
    return at;
}

long long spm_normalize(const spm_model *m, const uint8_t *text, size_t len, size_t stop_at, size_t *consumed,
                        tok_scratch *s, int *invalid_utf8, char *err, size_t err_len) {
    size_t unused;
    if (!consumed) consumed = &unused;
    *consumed = len;
    const int remove_extra = !!(m->normalizer_flags & USEW_N_REMOVE_EXTRA_WHITESPACES);
    const int escape = !!(m->normalizer_flags & USEW_N_ESCAPE_WHITESPACES);
    const char *space = escape ? SPACE_SYMBOL : " ";
    const size_t space_len = escape ? 3 : 1;
    *invalid_utf8 = 0;
    size_t pos = 0;
    if (remove_extra) {
        while (pos < len) {
            normalized_prefix p = normalize_prefix(m, text + pos, len - pos, invalid_utf8);
            if (p.out_len != 1 || p.out[0] != ' ') break;
            pos += p.consumed;
        }
    }
    if (pos == len) return 0;

    size_t at = 0;
    if (TOK_GROW(s, text, 64, err, err_len)) return -1;
    if (m->normalizer_flags & USEW_N_ADD_DUMMY_PREFIX) at = append_chunk(s->text, at, " ", 1, escape);
    int prev_is_space = remove_extra;
    while (pos < len) {
        normalized_prefix p = normalize_prefix(m, text + pos, len - pos, invalid_utf8);
        const char *chunk = p.out;
        size_t n = p.out_len;
        while (prev_is_space && n && chunk[0] == ' ') chunk++, n--;
        if (n) {
            /* a space takes 3 bytes once escaped */
            if (at + 3 * n > s->text_cap && TOK_GROW(s, text, at + 3 * n, err, err_len)) return -1;
            at = append_chunk(s->text, at, chunk, n, escape);
            prev_is_space = chunk[n - 1] == ' ';
        }
        pos += p.consumed;
        if (!remove_extra) prev_is_space = 0;
        if (at >= stop_at && pos < len) { /* the rest of the text could still drop trailing spaces: keep them */
            *consumed = pos;
            return (long long)at;
        }
    }
    if (remove_extra)
        while (at >= space_len && !memcmp(s->text + at - space_len, space, space_len)) at -= space_len;
    return (long long)at;
}
