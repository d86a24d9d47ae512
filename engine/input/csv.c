/* csv.c: RFC 4180 records (quoted fields, doubled quotes, line breaks inside quotes, CRLF), read the way
 * Python's csv module reads them (strict=False) so that exports Python reads come out the same: a quote
 * inside an unquoted field is an ordinary character, text after a closing quote is appended to the field,
 * and \n, \r\n or a lone \r ends a record. Lines are counted the same way (Python's reader.line_num).
 * Unlike Python, a quoted field still open at the end of the input is an error (the row is rejected). */
#include "input/input_impl.h"
#include "common/util.h"

enum csv_state { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED };

typedef struct {
    input_reader *r;
    size_t keep_fields; /* fields from this index on are parsed but not stored */
    size_t field;       /* the index of the field being read */
    size_t field_start; /* where it starts in r->rec */
} csv_cursor;

static int keep(csv_cursor *c, const void *bytes, size_t n, char *err, size_t err_len) {
    return c->field < c->keep_fields ? input_keep(c->r, bytes, n, err, err_len) : 0;
}

static int end_field(csv_cursor *c, char *err, size_t err_len) {
    if (c->field < c->keep_fields && input_field_push(c->r, c->field_start, c->r->rec.len, err, err_len)) return -1;
    c->field++;
    c->field_start = c->r->rec.len;
    return 0;
}

/* After a consumed '\r': consumes a '\n' that follows. Returns 1 when it did, 0 when not, -1 on error. */
static int take_lf(input_reader *r, char *err, size_t err_len) {
    int f = input_fill(r, err, err_len);
    if (f <= 0) return f;
    if (r->buf[r->pos] != '\n') return 0;
    r->pos++;
    return 1;
}

/* Ends the record at the line break whose first byte (already consumed) is nl. */
static int end_record(input_reader *r, uint8_t nl, size_t start, const char **reject, char *err, size_t err_len) {
    size_t size = input_offset(r) - 1 - start;
    r->line++;
    if (nl == '\r' && take_lf(r, err, err_len) < 0) return -1;
    if (r->overflow || size > r->opt.max_record) *reject = input_too_long(r);
    return 1;
}

int csv_read_record(input_reader *r, size_t keep_fields, const char **reject, char *err, size_t err_len) {
    const uint8_t delim = (uint8_t)r->opt.delimiter;
    csv_cursor c = {.r = r, .keep_fields = keep_fields};
    enum csv_state state = FIELD_START;
    size_t start = input_offset(r), quote_line = 0;
    r->rec.len = r->n_fields = 0;
    r->overflow = 0;
    int f;
    while ((f = input_fill(r, err, err_len)) > 0) {
        const uint8_t *p = r->buf + r->pos, *end = r->buf + r->end, *q = p;
        uint8_t ch = *p;
        switch (state) {
        case FIELD_START:
            if (ch == '"') {
                state = QUOTED;
                quote_line = r->line;
                r->pos++;
            } else if (c.field == 0 && (ch == '\r' || ch == '\n')) { /* a blank line: Python's empty row */
                r->pos++;
                *reject = "empty line";
                return end_record(r, ch, start, reject, err, err_len);
            } else {
                state = UNQUOTED;
            }
            break;
        case UNQUOTED:
            while (q < end && *q != delim && *q != '\r' && *q != '\n') q++;
            if (keep(&c, p, (size_t)(q - p), err, err_len)) return -1;
            r->pos += (size_t)(q - p);
            if (q == end) break;
            r->pos++;
            if (end_field(&c, err, err_len)) return -1;
            if (*q != delim) return end_record(r, *q, start, reject, err, err_len);
            state = FIELD_START;
            break;
        case QUOTED:
            while (q < end && *q != '"' && *q != '\r' && *q != '\n') q++;
            if (keep(&c, p, (size_t)(q - p), err, err_len)) return -1;
            r->pos += (size_t)(q - p);
            if (q == end) break;
            r->pos++;
            if (*q == '"') {
                state = QUOTE_IN_QUOTED;
                break;
            }
            /* a line break inside quotes is part of the field */
            ch = *q;
            r->line++;
            if (keep(&c, &ch, 1, err, err_len)) return -1;
            if (ch == '\r') {
                int lf = take_lf(r, err, err_len);
                if (lf < 0 || (lf && keep(&c, "\n", 1, err, err_len))) return -1;
            }
            break;
        case QUOTE_IN_QUOTED:
            r->pos++;
            if (ch == '"') { /* a doubled quote */
                if (keep(&c, &ch, 1, err, err_len)) return -1;
                state = QUOTED;
            } else if (ch == delim || ch == '\r' || ch == '\n') {
                if (end_field(&c, err, err_len)) return -1;
                if (ch != delim) return end_record(r, ch, start, reject, err, err_len);
                state = FIELD_START;
            } else { /* text after the closing quote: kept, as Python does */
                if (keep(&c, &ch, 1, err, err_len)) return -1;
                state = UNQUOTED;
            }
            break;
        }
    }
    if (f < 0) return -1;
    if (input_offset(r) == start) return 0;
    if (state == QUOTED) { /* every remaining line belonged to this row */
        *reject = input_reject(r, "unterminated quoted field starting at line %zu", quote_line);
        return 1;
    }
    if (end_field(&c, err, err_len)) return -1;
    if (r->overflow || input_offset(r) - start > r->opt.max_record) *reject = input_too_long(r);
    return 1;
}
