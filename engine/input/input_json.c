/* input_json.c: JSON input: one object per line (JSON lines), or, when the input starts with '[', the
 * objects of one top-level JSON array (a pretty-printed export such as talks.json), element by element so
 * memory stays bounded. Text keys are top-level keys; json_scan.c does the parsing. */
#include "input/input_impl.h"
#include "input/json_scan.h"
#include "common/error.h"
#include "common/util.h"

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Consumes white space, counting lines. Returns 1 when a non-space byte is next, 0 at the end, -1 on error. */
static int skip_space(input_reader *r, char *err, size_t err_len) {
    int f;
    while ((f = input_fill(r, err, err_len)) > 0) {
        uint8_t c = r->buf[r->pos];
        if (!is_space(c)) return 1;
        r->line += c == '\n';
        r->pos++;
    }
    return f;
}

int json_input_start(input_reader *r, char *err, size_t err_len) {
    /* JSON lines' blank lines are rows, so look ahead without consuming: only a leading '[' is taken. */
    size_t i = r->pos;
    for (;;) {
        while (i < r->end && is_space(r->buf[i])) i++;
        if (i < r->end || r->eof || r->end == INPUT_READ_CHUNK) break;
        if (input_prefetch(r, r->end - r->pos + 1, err, err_len)) return -1;
        i = r->pos; /* prefetch may have moved the bytes */
    }
    if (i == r->end || r->buf[i] != '[') return 0;
    r->json_array = 1;
    if (skip_space(r, err, err_len) < 0) return -1;
    r->pos++; /* the '[' */
    return 0;
}

/* A lone surrogate escape decodes to its 3-byte form ED A0..BF xx; each becomes U+FFFD (EF BF BD, the same
 * length) and marks the text repaired. */
static void replace_lone_surrogates(input_reader *r) {
    uint8_t *s = r->text.data;
    for (size_t i = 0; i + 2 < r->text.len; i++)
        if (s[i] == 0xED && s[i + 1] >= 0xA0 && s[i + 1] <= 0xBF && (s[i + 2] & 0xC0) == 0x80) {
            memcpy(s + i, "\xEF\xBF\xBD", 3);
            r->text_repaired = 1;
            i += 2;
        }
}

/* The id and text of the JSON object now in r->rec. */
static int take_members(input_reader *r, const char **reject, char *err, size_t err_len) {
    const uint8_t *obj = r->rec.data;
    size_t len = r->rec.len, n_keys = r->n_text + (r->id_name != NULL);
    char why[160];
    if (json_scan_object(obj, len, r->keys, n_keys, r->index, &r->scratch, why, sizeof why)) {
        *reject = input_reject(r, "invalid JSON: %s", why);
        return 0;
    }
    if (r->id_name) { /* first, so that a rejected row still has its id */
        size_t at = r->index[r->n_text];
        if (at == SIZE_MAX) {
            *reject = input_reject(r, "missing key '%s'", r->id_name);
            return 0;
        }
        if (obj[at] != '"' && obj[at] != '-' && (obj[at] < '0' || obj[at] > '9')) {
            *reject = input_reject(r, "the id key '%s' holds no string or number", r->id_name);
            return 0;
        }
        if (json_value_text(obj, len, at, &r->id, err, err_len)) return -1;
    }
    for (size_t k = 0; k < r->n_text; k++) {
        if (r->index[k] == SIZE_MAX) {
            *reject = input_reject(r, "missing key '%s'", r->keys[k]);
            return 0;
        }
        if (k && byte_buf_append(&r->text, " ", 1, err, err_len)) return -1;
        if (json_value_text(obj, len, r->index[k], &r->text, why, sizeof why)) {
            *reject = input_reject(r, "key '%s' %s", r->keys[k], why);
            return 0;
        }
    }
    replace_lone_surrogates(r);
    return 0;
}

/* Copies the next array element into r->rec: an object or array up to its matching bracket (counted outside
 * strings), anything else up to the next ',', ']' or space. Returns 1 when the element is complete, 0 when
 * the input ended inside it, -1 on error. */
static int read_element(input_reader *r, char *err, size_t err_len) {
    r->rec.len = r->n_fields = 0;
    r->overflow = 0;
    int depth = 0, in_string = 0, escaped = 0, f;
    while ((f = input_fill(r, err, err_len)) > 0) {
        const uint8_t *p = r->buf + r->pos, *end = r->buf + r->end, *q = p;
        int complete = 0;
        for (; q < end && !complete; q++) {
            uint8_t c = *q;
            if (!in_string && !depth && (c == ',' || c == ']' || is_space(c))) { /* a scalar's end, left unread */
                complete = 1;
                break;
            }
            r->line += c == '\n';
            if (in_string) {
                if (escaped) escaped = 0;
                else if (c == '\\') escaped = 1;
                else if (c == '"') in_string = 0;
            } else if (c == '"') {
                in_string = 1;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if ((c == '}' || c == ']') && depth) {
                complete = --depth == 0;
            }
        }
        if (input_keep(r, p, (size_t)(q - p), err, err_len)) return -1;
        r->pos += (size_t)(q - p);
        if (complete) return 1;
    }
    return f < 0 ? -1 : 0;
}

/* The next element of the top-level array, or its end. */
static int next_array_element(input_reader *r, size_t *line, const char **reject, char *err, size_t err_len) {
    for (;;) {
        int f = skip_space(r, err, err_len);
        if (f <= 0) return f; /* an array cut short after a whole element: nothing is lost */
        uint8_t c = r->buf[r->pos];
        if (c == ']') {
            r->pos++;
            r->done = 1;
            f = skip_space(r, err, err_len);
            if (f > 0)
                return INPUT_FAIL(r, USEREC_ERR_FORMAT,
                                  ERR(err, err_len, "%s:%zu: text after the end of the JSON array", r->name, r->line));
            return f;
        }
        if (!r->json_after_element) break;
        if (c != ',')
            return INPUT_FAIL(r, USEREC_ERR_FORMAT, ERR(err, err_len, "%s:%zu: expected ',' or ']' after an element of "
                                                                      "the JSON array", r->name, r->line));
        r->pos++;
        r->json_after_element = 0;
    }
    *line = r->line;
    int rc = read_element(r, err, err_len);
    if (rc < 0) return -1;
    r->json_after_element = 1;
    if (rc == 0) {
        r->done = 1;
        *reject = "invalid JSON: the input ends inside this element of the array";
    } else if (r->overflow) {
        *reject = input_too_long(r);
    } else {
        return take_members(r, reject, err, err_len) < 0 ? -1 : 1;
    }
    return 1;
}

int json_input_next(input_reader *r, size_t *line, const char **reject, char *err, size_t err_len) {
    if (r->json_array) return next_array_element(r, line, reject, err, err_len);
    *line = r->line;
    int rc = input_read_line(r, err, err_len);
    if (rc <= 0) return rc;
    if (r->overflow) *reject = input_too_long(r);
    else if (input_is_blank(r->rec.data, r->rec.len)) *reject = "empty line";
    else if (take_members(r, reject, err, err_len)) return -1;
    return 1;
}
