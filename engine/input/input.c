/* input.c: the input readers' front: opening (options, header, columns), the buffered byte source, plain
 * lines, ids and TSV, and what every record goes through at the end (id and empty-text checks, UTF-8
 * validation). CSV is in csv.c, JSON in input_json.c. */
#include <fcntl.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/utf8.h"
#include "common/util.h"
#include "input/gunzip.h"
#include "input/input_impl.h"

static const char *const format_names[] = {"lines", "csv", "tsv", "jsonl", "ids"}; /* in input_format order */

const char *input_format_name(input_format format) {
    return (unsigned)format < sizeof format_names / sizeof *format_names ? format_names[format] : "unknown";
}

int input_format_parse(const char *name, input_format *out) {
    for (size_t i = 0; i < sizeof format_names / sizeof *format_names; i++)
        if (!strcmp(name, format_names[i])) {
            *out = (input_format)i;
            return 0;
        }
    return -1;
}

int input_guess_format(const char *path, input_format *out) {
    static const struct {
        const char *ext;
        input_format format;
    } known[] = {{".txt", INPUT_LINES}, {".csv", INPUT_CSV},    {".tsv", INPUT_TSV},   {".jsonl", INPUT_JSONL},
                 {".json", INPUT_JSONL}, {".ndjson", INPUT_JSONL}, {".ids", INPUT_IDS}};
    size_t len = strlen(path);
    if (len > 3 && !strcasecmp(path + len - 3, ".gz")) len -= 3; /* items.csv.gz: a compressed .csv */
    const char *dot = memrchr(path, '.', len);
    if (!dot || memchr(dot, '/', len - (size_t)(dot - path))) return -1;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strlen(known[i].ext) == len - (size_t)(dot - path) && !strncasecmp(dot, known[i].ext, strlen(known[i].ext))) {
            *out = known[i].format;
            return 0;
        }
    return -1;
}

/* ---- the byte source ---- */

/* Reads more of the input after buf[end]. Returns the bytes read (0 at the end of the input) or -1. */
static long read_more(input_reader *r, char *err, size_t err_len) {
    if (r->gz) {
        const long n = gunzip_read(r->gz, r->fd, r->buf + r->end, INPUT_READ_CHUNK - r->end, r->name, &r->failure, err,
                                   err_len);
        if (n > 0) r->end += (size_t)n;
        r->eof = n == 0;
        return n;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, INPUT_READ_CHUNK - r->end);
        if (n >= 0) {
            r->end += (size_t)n;
            r->eof = n == 0;
            return (long)n;
        }
        if (errno != EINTR) return INPUT_FAIL(r, USEREC_ERR_IO, SYS_ERR(err, err_len, r->name, "read"));
    }
}

int input_fill(input_reader *r, char *err, size_t err_len) {
    if (r->pos < r->end) return 1;
    if (r->eof) return 0;
    r->consumed_before_buf += r->end;
    r->pos = r->end = 0;
    long n = read_more(r, err, err_len);
    return n < 0 ? -1 : n > 0;
}

int input_prefetch(input_reader *r, size_t want, char *err, size_t err_len) {
    if (r->pos + want > INPUT_READ_CHUNK) { /* make room: move the unconsumed bytes to the front */
        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->consumed_before_buf += r->pos;
        r->end -= r->pos;
        r->pos = 0;
    }
    while (r->end - r->pos < want && !r->eof)
        if (read_more(r, err, err_len) < 0) return -1;
    return 0;
}

size_t input_offset(const input_reader *r) { return r->consumed_before_buf + r->pos; }

size_t input_bytes_read(const input_reader *r) { return r->gz ? gunzip_compressed_bytes(r->gz) : input_offset(r); }

size_t input_size(const input_reader *r) { return r->file_size; }

/* ---- record storage ---- */

/* Record memory counts the stored bytes and the field table, so neither can grow past max_record. */
static int fits(input_reader *r, size_t more_bytes, size_t more_fields) {
    if (!r->overflow && r->rec.len + more_bytes + (r->n_fields + more_fields) * sizeof(input_span) > r->opt.max_record)
        r->overflow = 1;
    return !r->overflow;
}

int input_keep(input_reader *r, const void *bytes, size_t n, char *err, size_t err_len) {
    return n && fits(r, n, 0) ? byte_buf_append(&r->rec, bytes, n, err, err_len) : 0;
}

int input_field_push(input_reader *r, size_t start, size_t end, char *err, size_t err_len) {
    if (!fits(r, 0, 1)) return 0;
    if (r->n_fields == r->fields_cap) {
        size_t cap = r->fields_cap ? 2 * r->fields_cap : 64;
        input_span *grown = realloc(r->fields, cap * sizeof *grown);
        if (!grown) return ERR(err, err_len, "out of memory for %zu fields (%s:%d)", cap, __FILE__, __LINE__);
        r->fields = grown;
        r->fields_cap = cap;
    }
    r->fields[r->n_fields++] = (input_span){start, end};
    return 0;
}

int input_read_line(input_reader *r, char *err, size_t err_len) {
    r->rec.len = r->n_fields = 0;
    r->overflow = 0;
    int f, any = 0;
    while ((f = input_fill(r, err, err_len)) > 0) {
        any = 1;
        const uint8_t *p = r->buf + r->pos, *nl = memchr(p, '\n', r->end - r->pos);
        size_t n = nl ? (size_t)(nl - p) : r->end - r->pos;
        if (input_keep(r, p, n, err, err_len)) return -1;
        r->pos += n + (nl != NULL);
        if (nl) break;
    }
    if (f < 0) return -1;
    if (!any) return 0;
    r->line++;
    if (!r->overflow && r->rec.len && r->rec.data[r->rec.len - 1] == '\r') r->rec.len--; /* CRLF */
    return 1;
}

int input_is_blank(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r'))) return 0;
    return 1;
}

const char *input_reject(input_reader *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    return r->reason;
}

const char *input_too_long(input_reader *r) {
    return input_reject(r, "record longer than %zu bytes (the limit)", r->opt.max_record);
}

/* ---- columns ---- */

/* Splits opt.text_cols at commas into r->keys, then adds opt.id_col. */
static int parse_column_names(input_reader *r, char *err, size_t err_len) {
    r->names_copy = strdup(r->opt.text_cols);
    if (!r->names_copy) return ERR(err, err_len, "out of memory");
    size_t n = 1;
    for (const char *p = r->names_copy; *p; p++) n += *p == ',';
    r->keys = malloc((n + 1) * sizeof *r->keys);
    r->index = malloc((n + 1) * sizeof *r->index);
    if (!r->keys || !r->index) return ERR(err, err_len, "out of memory");
    char *name = r->names_copy;
    for (size_t i = 0; i < n; i++) {
        char *comma = strchr(name, ',');
        if (comma) *comma = 0;
        if (!*name)
            return INPUT_FAIL(r, USEREC_ERR_INPUT,
                              ERR(err, err_len, "text columns '%s': a column name is empty", r->opt.text_cols));
        r->keys[i] = name;
        if (comma) name = comma + 1;
    }
    r->n_text = n;
    if (r->id_name) r->keys[n] = r->id_name;
    return 0;
}

/* The current record's stored bytes, which fields index. r->rec.data is NULL while no byte was stored (every
 * field empty), and NULL + 0 is undefined behaviour: then "". */
static const uint8_t *record_bytes(const input_reader *r) { return r->rec.data ? r->rec.data : (const uint8_t *)""; }

/* Appends the header's column names to err after its first used bytes, as many as fit. */
static void list_columns(const input_reader *r, char *err, size_t err_len) {
    size_t used = strlen(err);
    for (size_t i = 0; i < r->n_fields && used + 1 < err_len; i++) {
        const input_span *f = &r->fields[i];
        int n = snprintf(err + used, err_len - used, "%s'%.*s'", i ? ", " : "", (int)(f->end - f->start),
                         (const char *)record_bytes(r) + f->start);
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* The column of each wanted name in the header row now in r->rec / r->fields. */
static int find_header_columns(input_reader *r, char *err, size_t err_len) {
    size_t n_keys = r->n_text + (r->id_name != NULL);
    for (size_t k = 0; k < n_keys; k++) {
        size_t len = strlen(r->keys[k]), found = SIZE_MAX;
        for (size_t i = 0; i < r->n_fields; i++) {
            const input_span *f = &r->fields[i];
            if (f->end - f->start != len || memcmp(r->rec.data + f->start, r->keys[k], len)) continue;
            if (found != SIZE_MAX)
                return INPUT_FAIL(r, USEREC_ERR_FORMAT,
                                  ERR(err, err_len, "%s: column '%s' appears twice in the header (columns %zu and %zu)",
                                      r->name, r->keys[k], found + 1, i + 1));
            found = i;
        }
        if (found == SIZE_MAX) {
            ERR(err, err_len, "%s: no column '%s' in the header; its %zu columns are: ", r->name, r->keys[k],
                r->n_fields);
            list_columns(r, err, err_len);
            return INPUT_FAIL(r, USEREC_ERR_FORMAT, -1);
        }
        r->index[k] = found;
    }
    return 0;
}

/* Without a header, columns are named by their 1-based number. */
static int number_columns(input_reader *r, char *err, size_t err_len) {
    size_t n_keys = r->n_text + (r->id_name != NULL);
    for (size_t k = 0; k < n_keys; k++) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(r->keys[k], &end, 10);
        if (*end || errno || n < 1 || r->keys[k][0] == '-' || r->keys[k][0] == '+')
            return INPUT_FAIL(r, USEREC_ERR_INPUT, ERR(err, err_len, "without a header, columns are named by number (1, "
                                                                     "2, ...), not '%s'", r->keys[k]));
        r->index[k] = (size_t)(n - 1);
    }
    return 0;
}

/* Splits the TSV line in r->rec at tabs, storing its first keep_fields fields. */
static int split_tabs(input_reader *r, size_t keep_fields, char *err, size_t err_len) {
    size_t start = 0;
    while (r->n_fields < keep_fields) {
        const uint8_t *tab = memchr(r->rec.data + start, '\t', r->rec.len - start);
        size_t end = tab ? (size_t)(tab - r->rec.data) : r->rec.len;
        if (input_field_push(r, start, end, err, err_len)) return -1;
        if (!tab) break;
        start = end + 1;
    }
    return 0;
}

static int tsv_read_record(input_reader *r, size_t keep_fields, const char **reject, char *err, size_t err_len) {
    int rc = input_read_line(r, err, err_len);
    if (rc <= 0) return rc;
    if (r->overflow) *reject = input_too_long(r);
    else if (!r->rec.len) *reject = "empty line";
    else if (split_tabs(r, keep_fields, err, err_len)) return -1;
    return 1;
}

/* Finds the wanted columns (in the header row, unless there is none) and how many fields rows must keep. */
static int find_columns(input_reader *r, char *err, size_t err_len) {
    if (r->opt.no_header) {
        if (number_columns(r, err, err_len)) return -1;
    } else {
        const char *reject = NULL;
        int rc = r->opt.format == INPUT_CSV ? csv_read_record(r, SIZE_MAX, &reject, err, err_len)
                                            : tsv_read_record(r, SIZE_MAX, &reject, err, err_len);
        if (rc < 0) return -1;
        if (rc == 0) return INPUT_FAIL(r, USEREC_ERR_FORMAT, ERR(err, err_len, "%s: no header row: the input is empty", r->name));
        if (reject) return INPUT_FAIL(r, USEREC_ERR_FORMAT, ERR(err, err_len, "%s: the header row: %s", r->name, reject));
        if (find_header_columns(r, err, err_len)) return -1;
    }
    for (size_t k = 0; k < r->n_text + (r->id_name != NULL); k++)
        if (r->index[k] + 1 > r->keep_fields) r->keep_fields = r->index[k] + 1;
    return 0;
}

/* The id and text of the CSV/TSV row now in r->fields (the id first, so a rejected row still has it). */
static int take_fields(input_reader *r, const char **reject, char *err, size_t err_len) {
    const uint8_t *rec = record_bytes(r);
    if (r->id_name) {
        size_t i = r->index[r->n_text];
        if (i >= r->n_fields) {
            *reject = input_reject(r, "missing column '%s'", r->id_name);
            return 0;
        }
        if (byte_buf_append(&r->id, rec + r->fields[i].start, r->fields[i].end - r->fields[i].start, err, err_len))
            return -1;
    }
    for (size_t k = 0; k < r->n_text; k++) {
        if (r->index[k] >= r->n_fields) {
            *reject = input_reject(r, "missing column '%s'", r->keys[k]);
            return 0;
        }
        const input_span *f = &r->fields[r->index[k]];
        if ((k && byte_buf_append(&r->text, " ", 1, err, err_len)) ||
            byte_buf_append(&r->text, rec + f->start, f->end - f->start, err, err_len))
            return -1;
    }
    return 0;
}

/* ---- open, next, close ---- */

static int check_options(const input_options *opt, char *err, size_t err_len) {
    int tabular = opt->format == INPUT_CSV || opt->format == INPUT_TSV, keyed = tabular || opt->format == INPUT_JSONL;
    if ((unsigned)opt->format > INPUT_IDS) return ERR(err, err_len, "unknown input format %d", (int)opt->format);
    if (keyed && !opt->text_cols) return ERR(err, err_len, "csv, tsv and jsonl input need the text column(s) named");
    if (!keyed && (opt->text_cols || opt->id_col))
        return ERR(err, err_len, "text and id columns apply to csv, tsv and jsonl input only");
    if (opt->id_col && !*opt->id_col) return ERR(err, err_len, "the id column name is empty");
    if (opt->delimiter && opt->format != INPUT_CSV) return ERR(err, err_len, "a delimiter applies to csv input only");
    if (opt->delimiter == '"' || opt->delimiter == '\r' || opt->delimiter == '\n')
        return ERR(err, err_len, "a quote or a line break cannot be the CSV delimiter");
    if (opt->no_header && !tabular) return ERR(err, err_len, "only csv and tsv input have a header to leave out");
    return 0;
}

input_reader *input_open(const char *path, const input_options *opt, int *failure, char *err, size_t err_len) {
    int ignored;
    if (!failure) failure = &ignored;
    *failure = USEREC_ERR_INPUT;
    if (check_options(opt, err, err_len)) return NULL;
    *failure = USEREC_ERR_NOMEM;
    input_reader *r = calloc(1, sizeof *r);
    if (!r) return ERR(err, err_len, "out of memory"), NULL;
    r->opt = *opt;
    if (!r->opt.max_record) r->opt.max_record = INPUT_MAX_RECORD;
    if (r->opt.format == INPUT_CSV && !r->opt.delimiter) r->opt.delimiter = ',';
    r->id_name = opt->id_col;
    r->line = 1;
    r->fd = -1;
    int from_stdin = !strcmp(path, "-");
    r->name = strdup(from_stdin ? "<stdin>" : path);
    r->buf = malloc(INPUT_READ_CHUNK);
    if (!r->name || !r->buf) {
        ERR(err, err_len, "out of memory");
        goto fail;
    }
    r->fd = from_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    r->owns_fd = !from_stdin;
    struct stat st;
    if (r->fd < 0) {
        INPUT_FAIL(r, USEREC_ERR_IO, SYS_ERR(err, err_len, path, "open"));
        goto fail;
    }
    if (fstat(r->fd, &st)) {
        INPUT_FAIL(r, USEREC_ERR_IO, SYS_ERR(err, err_len, r->name, "fstat"));
        goto fail;
    }
    if (S_ISREG(st.st_mode)) r->file_size = (size_t)st.st_size;
    if (input_prefetch(r, 2, err, err_len)) goto fail;
    if (r->end - r->pos >= 2 && !memcmp(r->buf + r->pos, GZIP_MAGIC, 2)) { /* read on through the decoder */
        if (!(r->gz = gunzip_new(r->buf + r->pos, r->end - r->pos, err, err_len))) goto fail; /* memory */
        r->pos = r->end = 0;
        r->eof = 0;
    }
    if (input_prefetch(r, 3, err, err_len)) goto fail;
    if (r->end - r->pos >= 3 && !memcmp(r->buf + r->pos, "\xEF\xBB\xBF", 3)) r->pos += 3; /* a UTF-8 BOM */
    if (opt->text_cols && parse_column_names(r, err, err_len)) goto fail;
    if ((opt->format == INPUT_CSV || opt->format == INPUT_TSV) && find_columns(r, err, err_len)) goto fail;
    if (opt->format == INPUT_JSONL && json_input_start(r, err, err_len)) goto fail;
    *failure = 0;
    return r;
fail:
    *failure = input_failure(r);
    input_close(r);
    return NULL;
}

int input_failure(const input_reader *r) { return r->failure ? r->failure : USEREC_ERR_NOMEM; }

/* Puts a NUL after b's bytes (not counted in b->len). */
static int terminate(byte_buf *b, char *err, size_t err_len) {
    if (byte_buf_append(b, "", 1, err, err_len)) return -1;
    b->len--;
    return 0;
}

/* A tab, line break or NUL byte in b: an id holding one would break the line-based outputs. */
static int breaks_lines(const byte_buf *b) {
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] == '\t' || b->data[i] == '\n' || b->data[i] == '\r' || !b->data[i]) return 1;
    return 0;
}

/* What every record goes through last: the id (the row number when no column holds it), the id and empty
 * text checks, UTF-8 validation. */
static int finish_record(input_reader *r, input_record *rec, size_t line, byte_buf *text, const char *reject,
                         char *err, size_t err_len) {
    if (r->id_name && breaks_lines(&r->id)) {
        r->id.len = 0; /* it would break the rejects file too */
        if (!reject) reject = "the id holds a tab, a line break or a NUL byte";
    }
    if (!reject && r->id_name && !r->id.len) reject = "empty id";
    if (!reject && r->opt.format != INPUT_IDS && input_is_blank(text->data, text->len)) reject = "empty text";
    if (reject) text->len = 0;
    if (terminate(text, err, err_len) || terminate(&r->id, err, err_len)) return -1;
    if (!r->id_name) snprintf(r->row_id, sizeof r->row_id, "%zu", r->row);
    *rec = (input_record){.line = line,
                          .row = r->row++,
                          .id = r->id_name ? (const char *)r->id.data : r->row_id,
                          .text = (const char *)text->data,
                          .text_len = text->len,
                          .invalid_utf8 = !reject && (r->text_repaired || !utf8_valid(text->data, text->len)),
                          .reject = reject};
    return 0;
}

/* The next record, wherever it starts. */
static int next_record(input_reader *r, input_record *rec, char *err, size_t err_len) {
    if (r->done) return 0;
    const char *reject = NULL;
    size_t line = r->line;
    byte_buf *text = &r->text;
    r->text.len = r->id.len = 0;
    r->text_repaired = 0;
    int rc;
    switch (r->opt.format) {
    case INPUT_LINES:
    case INPUT_IDS:
        rc = input_read_line(r, err, err_len);
        text = &r->rec;
        if (rc > 0 && r->overflow) reject = input_too_long(r);
        break;
    case INPUT_CSV:
    case INPUT_TSV:
        rc = r->opt.format == INPUT_CSV ? csv_read_record(r, r->keep_fields, &reject, err, err_len)
                                        : tsv_read_record(r, r->keep_fields, &reject, err, err_len);
        if (rc > 0 && !reject && take_fields(r, &reject, err, err_len)) return -1;
        break;
    default:
        rc = json_input_next(r, &line, &reject, err, err_len);
    }
    if (rc <= 0) return rc;
    return finish_record(r, rec, line, text, reject, err, err_len) ? -1 : 1;
}

int input_next(input_reader *r, input_record *rec, char *err, size_t err_len) {
    for (;;) {
        const size_t start = input_offset(r); /* where the previous record ended */
        if (r->opt.ranged && start >= r->opt.range_end) return 0;
        const int rc = next_record(r, rec, err, err_len);
        if (rc <= 0 || !r->opt.ranged || start >= r->opt.range_start) return rc;
        r->rows_before++;
    }
}

size_t input_rows_before(const input_reader *r) { return r->rows_before; }

void input_close(input_reader *r) {
    if (!r) return;
    if (r->owns_fd && r->fd >= 0) close(r->fd); /* read-only: nothing to lose if close fails */
    gunzip_free(r->gz);
    free(r->name);
    free(r->buf);
    free(r->names_copy);
    free(r->keys);
    free(r->index);
    free(r->rec.data);
    free(r->fields);
    free(r->text.data);
    free(r->id.data);
    free(r->scratch.data);
    free(r);
}
