/* npy_header.c: the header of a .npy file, a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (20, 512), }
 * read by a small literal parser: exactly the keys descr, fortran_order and shape, each once; strings in single
 * or double quotes; True or False; a tuple of any number of non-negative integers. Reading the dict as a whole,
 * rather than searching it for substrings, is what makes a header say one thing only: a decoy key cannot hide
 * 'fortran_order': True, and a 3-D shape is not taken for its first two dimensions. */
#include <stdint.h>
#include <string.h>

#include "common/util.h"
#include "output/npy.h"

typedef struct {
    const char *s;
    size_t len, pos;
    char *err;
    size_t err_len;
} cursor;

static void skip_blanks(cursor *c) {
    while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' || c->s[c->pos] == '\n' || c->s[c->pos] == '\r'))
        c->pos++;
}

static int fail(cursor *c, const char *expected) {
    return ERR(c->err, c->err_len, "malformed header at byte %zu: expected %s", c->pos, expected);
}

/* Consumes ch (after blanks) when it is next; returns 1 if it was. */
static int take(cursor *c, char ch) {
    skip_blanks(c);
    if (c->pos < c->len && c->s[c->pos] == ch) return c->pos++, 1;
    return 0;
}

/* A quoted string without escapes (none of the header's values needs one) into out[out_len]. */
static int string(cursor *c, char *out, size_t out_len) {
    skip_blanks(c);
    if (c->pos >= c->len || (c->s[c->pos] != '\'' && c->s[c->pos] != '"')) return fail(c, "a quoted string");
    const char quote = c->s[c->pos++];
    const size_t start = c->pos;
    while (c->pos < c->len && c->s[c->pos] != quote) {
        if (c->s[c->pos] == '\\') return fail(c, "a string without backslash escapes");
        c->pos++;
    }
    if (c->pos >= c->len) return fail(c, "the end of a string");
    const size_t n = c->pos - start;
    c->pos++;
    if (n >= out_len) return ERR(c->err, c->err_len, "malformed header at byte %zu: a %zu-byte string", start, n);
    memcpy(out, c->s + start, n);
    out[n] = 0;
    return 0;
}

static int boolean(cursor *c, int *out) {
    skip_blanks(c);
    const char *rest = c->s + c->pos;
    const size_t left = c->len - c->pos;
    if (left >= 4 && !memcmp(rest, "True", 4)) return *out = 1, c->pos += 4, 0;
    if (left >= 5 && !memcmp(rest, "False", 5)) return *out = 0, c->pos += 5, 0;
    return fail(c, "True or False");
}

/* A non-negative integer (Python 2's numpy wrote a trailing L). */
static int integer(cursor *c, uint64_t *out) {
    skip_blanks(c);
    if (c->pos >= c->len || c->s[c->pos] < '0' || c->s[c->pos] > '9') return fail(c, "a non-negative integer");
    uint64_t v = 0;
    while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
        const unsigned digit = (unsigned)(c->s[c->pos++] - '0');
        if (v > (UINT64_MAX - digit) / 10) return fail(c, "a dimension below 2^64");
        v = v * 10 + digit;
    }
    if (c->pos < c->len && c->s[c->pos] == 'L') c->pos++;
    *out = v;
    return 0;
}

/* (), (n,), (a, b), (a, b, c, ...): Python's tuple syntax. */
static int shape(cursor *c, npy_header *h) {
    if (!take(c, '(')) return fail(c, "'(' opening the shape");
    h->ndim = 0;
    if (take(c, ')')) return 0;
    for (;;) {
        uint64_t dim = 0;
        if (integer(c, &dim)) return -1;
        if (h->ndim == NPY_MAX_DIMS) return fail(c, "at most 64 dimensions");
        h->shape[h->ndim++] = dim;
        if (take(c, ',')) {
            if (take(c, ')')) return 0;
            continue;
        }
        if (!take(c, ')')) return fail(c, "',' or ')' in the shape");
        /* (n) without a comma is a parenthesised number in Python, not a tuple */
        return h->ndim == 1 ? fail(c, "a comma after a single dimension") : 0;
    }
}

int npy_parse_header(const char *text, size_t len, npy_header *h, char *err, size_t err_len) {
    memset(h, 0, sizeof *h);
    cursor c = {.s = text, .len = len, .err = err, .err_len = err_len};
    int seen_descr = 0, seen_order = 0, seen_shape = 0;
    if (!take(&c, '{')) return fail(&c, "'{' opening the header dict");
    while (!take(&c, '}')) {
        char key[32];
        if (string(&c, key, sizeof key)) return -1;
        if (!take(&c, ':')) return fail(&c, "':' after a key");
        int *seen = !strcmp(key, "descr") ? &seen_descr : !strcmp(key, "fortran_order") ? &seen_order
                                                         : !strcmp(key, "shape")       ? &seen_shape
                                                                                       : NULL;
        if (!seen) return ERR(err, err_len, "malformed header: unknown key '%s' (a .npy header has descr, fortran_order "
                              "and shape)", key);
        if (*seen) return ERR(err, err_len, "malformed header: key '%s' appears twice", key);
        *seen = 1;
        skip_blanks(&c);
        if (!strcmp(key, "descr")) {
            if (c.pos < c.len && c.s[c.pos] == '[')
                return ERR(err, err_len, "a structured dtype (descr is a list); expected a plain float array");
            if (string(&c, h->descr, sizeof h->descr)) return -1;
        } else if (!strcmp(key, "fortran_order")) {
            if (boolean(&c, &h->fortran_order)) return -1;
        } else if (shape(&c, h)) {
            return -1;
        }
        if (!take(&c, ',')) {
            if (take(&c, '}')) break;
            return fail(&c, "',' or '}' after a value");
        }
    }
    skip_blanks(&c);
    if (c.pos != c.len) return fail(&c, "only blanks after the header dict");
    if (!seen_descr || !seen_order || !seen_shape)
        return ERR(err, err_len, "malformed header: no '%s' key", !seen_descr ? "descr" : !seen_order ? "fortran_order" : "shape");
    return 0;
}
