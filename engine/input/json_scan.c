/* json_scan.c: validates one JSON object and finds its wanted top-level members in a single pass, without
 * building a tree; strings go through json_string_decode (so escapes are checked the same way everywhere). */
#include "input/json_scan.h"

#include <string.h>

#include "common/json_string.h"
#include "common/util.h"

typedef struct {
    const uint8_t *s;
    size_t len, pos;
    byte_buf *scratch;
    char *why;
    size_t why_len;
} scanner;

static int fail(scanner *sc, const char *problem) {
    if (sc->pos >= sc->len) return ERR(sc->why, sc->why_len, "byte %zu: the JSON ends too early (%s)", sc->pos, problem);
    return ERR(sc->why, sc->why_len, "byte %zu: %s", sc->pos, problem);
}

static void skip_space(scanner *sc) {
    while (sc->pos < sc->len &&
           (sc->s[sc->pos] == ' ' || sc->s[sc->pos] == '\t' || sc->s[sc->pos] == '\n' || sc->s[sc->pos] == '\r'))
        sc->pos++;
}

static int at(const scanner *sc, uint8_t c) { return sc->pos < sc->len && sc->s[sc->pos] == c; }

static int is_digit(const scanner *sc) { return sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9'; }

/* A string, decoded into the scratch buffer; *n is its decoded length. */
static int scan_string(scanner *sc, size_t *n) {
    sc->scratch->len = 0;
    int rc = json_string_decode(sc->s, sc->len, &sc->pos, sc->scratch, sc->why, sc->why_len);
    *n = sc->scratch->len;
    return rc;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(scanner *sc) {
    if (at(sc, '-')) sc->pos++;
    if (at(sc, '0')) sc->pos++;
    else if (is_digit(sc)) while (is_digit(sc)) sc->pos++;
    else return fail(sc, "invalid number");
    if (at(sc, '.')) {
        sc->pos++;
        if (!is_digit(sc)) return fail(sc, "a digit must follow the decimal point");
        while (is_digit(sc)) sc->pos++;
    }
    if (at(sc, 'e') || at(sc, 'E')) {
        sc->pos++;
        if (at(sc, '+') || at(sc, '-')) sc->pos++;
        if (!is_digit(sc)) return fail(sc, "a digit must follow the exponent");
        while (is_digit(sc)) sc->pos++;
    }
    return 0;
}

static int scan_word(scanner *sc, const char *word) {
    size_t n = strlen(word);
    if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n)) return fail(sc, "unexpected character");
    sc->pos += n;
    return 0;
}

static int scan_value(scanner *sc, int depth);

/* The object at sc->pos ('{'); at the top level (keys != NULL) records where wanted keys' values start. */
static int scan_object(scanner *sc, int depth, const char *const *keys, size_t n_keys, size_t *value_at) {
    sc->pos++;
    skip_space(sc);
    if (at(sc, '}')) {
        sc->pos++;
        return 0;
    }
    for (;;) {
        skip_space(sc);
        if (!at(sc, '"')) return fail(sc, "expected a key string");
        size_t key_len;
        if (scan_string(sc, &key_len)) return -1;
        skip_space(sc);
        if (!at(sc, ':')) return fail(sc, "expected ':' after the key");
        sc->pos++;
        skip_space(sc);
        for (size_t k = 0; k < n_keys; k++)
            if (strlen(keys[k]) == key_len && !memcmp(sc->scratch->data, keys[k], key_len)) value_at[k] = sc->pos;
        if (scan_value(sc, depth + 1)) return -1;
        skip_space(sc);
        if (at(sc, '}')) {
            sc->pos++;
            return 0;
        }
        if (!at(sc, ',')) return fail(sc, "expected ',' or '}' after a member");
        sc->pos++;
    }
}

static int scan_array(scanner *sc, int depth) {
    sc->pos++;
    skip_space(sc);
    if (at(sc, ']')) {
        sc->pos++;
        return 0;
    }
    for (;;) {
        if (scan_value(sc, depth + 1)) return -1;
        skip_space(sc);
        if (at(sc, ']')) {
            sc->pos++;
            return 0;
        }
        if (!at(sc, ',')) return fail(sc, "expected ',' or ']' after an array item");
        sc->pos++;
    }
}

static int scan_value(scanner *sc, int depth) {
    if (depth > JSON_SCAN_MAX_DEPTH) return fail(sc, "nested too deeply");
    skip_space(sc);
    if (sc->pos >= sc->len) return fail(sc, "expected a value");
    size_t n;
    switch (sc->s[sc->pos]) {
    case '{': return scan_object(sc, depth, NULL, 0, NULL);
    case '[': return scan_array(sc, depth);
    case '"': return scan_string(sc, &n);
    case 't': return scan_word(sc, "true");
    case 'f': return scan_word(sc, "false");
    case 'n': return scan_word(sc, "null");
    default: return scan_number(sc);
    }
}

int json_scan_object(const uint8_t *text, size_t len, const char *const *keys, size_t n_keys, size_t *value_at,
                     byte_buf *scratch, char *why, size_t why_len) {
    scanner sc = {text, len, 0, scratch, why, why_len};
    for (size_t k = 0; k < n_keys; k++) value_at[k] = SIZE_MAX;
    skip_space(&sc);
    if (!at(&sc, '{')) return fail(&sc, "expected a JSON object");
    if (scan_object(&sc, 0, keys, n_keys, value_at)) return -1;
    skip_space(&sc);
    if (sc.pos != len) return fail(&sc, "unexpected text after the object");
    return 0;
}

/* Appends the scalar (string, number, true, false) at sc->pos; null appends nothing. */
static int append_scalar(scanner *sc, byte_buf *out) {
    if (at(sc, '"')) return json_string_decode(sc->s, sc->len, &sc->pos, out, sc->why, sc->why_len);
    if (at(sc, 'n')) return scan_word(sc, "null");
    size_t from = sc->pos;
    int rc = at(sc, 't') ? scan_word(sc, "true") : at(sc, 'f') ? scan_word(sc, "false") : scan_number(sc);
    return rc ? -1 : byte_buf_append(out, sc->s + from, sc->pos - from, sc->why, sc->why_len);
}

int json_value_text(const uint8_t *text, size_t len, size_t at_pos, byte_buf *out, char *why, size_t why_len) {
    scanner sc = {text, len, at_pos, NULL, why, why_len};
    if (at(&sc, '{')) return ERR(why, why_len, "is a JSON object, not text");
    if (!at(&sc, '[')) return append_scalar(&sc, out);
    sc.pos++;
    for (int items = 0;; sc.pos++) { /* the array was validated: items separated by ',' up to ']' */
        skip_space(&sc);
        if (at(&sc, ']')) return 0;
        if (at(&sc, '[') || at(&sc, '{')) return ERR(why, why_len, "holds an array or object inside its array, not text");
        int is_null = at(&sc, 'n');
        if (!is_null && items++ && byte_buf_append(out, " ", 1, why, why_len)) return -1;
        if (append_scalar(&sc, out)) return -1;
        skip_space(&sc);
        if (at(&sc, ']')) return 0;
    }
}

size_t json_value_end(const uint8_t *text, size_t len, size_t at_pos, byte_buf *scratch) {
    char why[8];
    scanner sc = {text, len, at_pos, scratch, why, sizeof why};
    return scan_value(&sc, 0) ? SIZE_MAX : sc.pos;
}
