/* tfjs_normalize.c: the text the npm tokenizer walks (SPEC 4.2 step 1), as JavaScript builds it:
 * bytes -> TextDecoder('utf-8') -> String.prototype.normalize('NFKC') -> '▁' + text with every U+0020 as
 * '▁' (nothing when NFKC gives an empty string) -> UTF-16 code units, the package's symbols.
 *
 * TextDecoder replaces each maximal ill-formed subsequence (Unicode's "U+FFFD substitution of maximal
 * subparts", the WHATWG Encoding standard) with one U+FFFD. NFKC is utf8proc's (Unicode 15.0) with the
 * canonical reordering done here in linear time, plus the few compatibility mappings that Unicode 16 and 17
 * added to characters utf8proc 2.8 does not know yet, so that the result equals Node 20's ICU (Unicode 17) on
 * every single code point (tests/test_tokenizer.py checks all of them). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tokenizer_impl.h"
#include "common/util.h"

#define SEPARATOR 0x2581 /* U+2581 LOWER ONE EIGHTH BLOCK */
#define MAX_DECOMPOSITION 32 /* the longest full compatibility decomposition is 18 code points (U+FDFA) */

/* Length of the maximal subpart of the ill-formed sequence at t (>= 1), per the WHATWG UTF-8 decoder. */
static size_t maximal_subpart(const uint8_t *t, size_t len) {
    uint8_t lead = t[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (lead >= 0xC2 && lead <= 0xDF) need = 1;
    else if (lead >= 0xE0 && lead <= 0xEF) need = 2, lo = lead == 0xE0 ? 0xA0 : 0x80, hi = lead == 0xED ? 0x9F : 0xBF;
    else if (lead >= 0xF0 && lead <= 0xF4) need = 3, lo = lead == 0xF0 ? 0x90 : 0x80, hi = lead == 0xF4 ? 0x8F : 0xBF;
    else return 1;
    size_t i = 1;
    while (i <= need && i < len && t[i] >= lo && t[i] <= hi) i++, lo = 0x80, hi = 0xBF;
    return i; /* i <= need: a complete sequence is valid and never comes here */
}

/* NFKC mappings new in Unicode 16.0 and 17.0 (absent from utf8proc 2.8's tables). */
static uint32_t newer_compat_mapping(uint32_t cp) {
    if (cp >= 0x1CCD6 && cp <= 0x1CCEF) return 'A' + (cp - 0x1CCD6); /* OUTLINED LATIN CAPITAL LETTER A..Z */
    if (cp >= 0x1CCF0 && cp <= 0x1CCF9) return '0' + (cp - 0x1CCF0); /* OUTLINED DIGIT ZERO..NINE */
    if (cp == 0xA7F1) return 'S';                                      /* MODIFIER LETTER CAPITAL S */
    return cp;
}

static inline uint8_t combining_class(uint32_t cp) {
    return cp < 0x300 ? 0 : (uint8_t)utf8proc_get_property((utf8proc_int32_t)cp)->combining_class;
}

static int by_key(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Canonical ordering of one run of non-starters: a stable sort by combining class (utf8proc's bubble sort
 * gives the same order, in quadratic time on long runs). */
static int order_run(uint32_t *run, size_t n, tok_scratch *s, char *err, size_t err_len) {
    if (n <= 32) {
        for (size_t i = 1; i < n; i++) {
            uint32_t cp = run[i];
            uint8_t ccc = combining_class(cp);
            size_t j = i;
            for (; j > 0 && combining_class(run[j - 1]) > ccc; j--) run[j] = run[j - 1];
            run[j] = cp;
        }
        return 0;
    }
    if (n > UINT32_MAX) return ERR(err, err_len, "tfjs: a run of 2^32 combining marks");
    if (tok_grow(&s->lattice, &s->lattice_cap, n * sizeof(uint64_t), 1, err, err_len)) return -1;
    uint64_t *keys = s->lattice; /* class, then position: sorting keys is a stable sort by class */
    for (size_t i = 0; i < n; i++) keys[i] = (uint64_t)combining_class(run[i]) << 53 | (uint64_t)i << 21 | run[i];
    qsort(keys, n, sizeof *keys, by_key);
    for (size_t i = 0; i < n; i++) run[i] = (uint32_t)(keys[i] & 0x1FFFFF);
    return 0;
}

/* Decodes, decomposes (compatibility) and orders into s->cps; returns the code point count or -1. */
static long long decompose(const uint8_t *text, size_t len, tok_scratch *s, int *invalid_utf8, char *err,
                           size_t err_len) {
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (n + MAX_DECOMPOSITION > s->cps_cap && TOK_GROW(s, cps, n + MAX_DECOMPOSITION, err, err_len)) return -1;
        uint32_t cp = text[i];
        if (cp < 0x80) {
            s->cps[n++] = cp;
            i++;
            continue;
        }
        utf8proc_int32_t decoded;
        utf8proc_ssize_t char_len = utf8proc_iterate(text + i, (utf8proc_ssize_t)(len - i), &decoded);
        if (char_len > 0) {
            cp = newer_compat_mapping((uint32_t)decoded);
            i += (size_t)char_len;
        } else {
            cp = 0xFFFD;
            i += maximal_subpart(text + i, len - i);
            *invalid_utf8 = 1;
        }
        int boundclass = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)cp, (utf8proc_int32_t *)s->cps + n,
                                                     MAX_DECOMPOSITION, UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE,
                                                     &boundclass);
        if (k < 0 || k > MAX_DECOMPOSITION)
            return ERR(err, err_len, "tfjs: utf8proc cannot decompose U+%04X: %s", cp,
                       k < 0 ? utf8proc_errmsg(k) : "longer than expected");
        n += (size_t)k;
    }
    for (size_t i = 0; i < n;) {
        if (!combining_class(s->cps[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && combining_class(s->cps[j])) j++;
        if (order_run(s->cps + i, j - i, s, err, err_len)) return -1;
        i = j;
    }
    return (long long)n;
}

long long tfjs_normalize(const uint8_t *text, size_t len, tok_scratch *s, int *invalid_utf8, char *err,
                         size_t err_len) {
    *invalid_utf8 = 0;
    long long n = decompose(text, len, s, invalid_utf8, err, err_len);
    if (n <= 0) return n;
    n = utf8proc_normalize_utf32((utf8proc_int32_t *)s->cps, n, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    if (n < 0) return ERR(err, err_len, "tfjs: utf8proc composition failed: %s", utf8proc_errmsg(n));
    if (n == 0) return 0;
    if (TOK_GROW(s, units, 2 * (size_t)n + 1, err, err_len)) return -1;
    size_t u = 0;
    s->units[u++] = SEPARATOR;
    for (long long i = 0; i < n; i++) {
        uint32_t cp = s->cps[i];
        if (cp >= 0x10000) {
            s->units[u++] = (uint16_t)(0xD800 + ((cp - 0x10000) >> 10));
            s->units[u++] = (uint16_t)(0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else {
            s->units[u++] = cp == ' ' ? SEPARATOR : (uint16_t)cp;
        }
    }
    return (long long)u;
}
