/* input.h: streaming readers for `userec embed` inputs (docs/input.md): plain lines, CSV (RFC 4180), TSV,
 * JSON lines (or one JSON array of objects) and token-id lines, each also gzip-compressed (read as it is
 * inflated). Memory stays bounded whatever the file size:
 * one fixed read buffer plus record buffers as large as the longest record, at most opt.max_record bytes.
 * Every data row comes back as one record, accepted or with a reject reason, so callers can account for
 * every row. */
#ifndef USEREC_INPUT_H
#define USEREC_INPUT_H

#include <stddef.h>

typedef enum { INPUT_LINES, INPUT_CSV, INPUT_TSV, INPUT_JSONL, INPUT_IDS } input_format;

typedef struct {
    input_format format;
    char delimiter;        /* CSV only; 0 means ',' (e.g. ';' for European exports) */
    const char *text_cols; /* comma-separated column names (CSV/TSV header names, JSON keys) whose values are
                              joined with single spaces into the text; NULL for lines and ids */
    const char *id_col;    /* the column holding each row's id; NULL: the id is the 0-based data row number */
    int no_header;         /* CSV/TSV: the first row is data; columns are named by 1-based number ("1", "2") */
    size_t max_record;     /* a record over this many bytes is rejected; 0 means INPUT_MAX_RECORD */
    /* ranged: a block of the input (embed --shard): only the records that start in bytes [range_start, range_end)
     * of the input, counted after gzip inflation, come back. A record starts where the one before it ended, so
     * the blocks of a file's byte ranges hold each record once. Every record is still parsed from the file's
     * start: quoted line breaks never cut one, and row numbers and lines stay the file's. */
    int ranged;
    size_t range_start, range_end;
} input_options;

#define INPUT_MAX_RECORD ((size_t)64 << 20)

typedef struct {
    size_t line;        /* 1-based line where the record starts */
    size_t row;         /* 0-based data row number (the header excluded) */
    const char *id;     /* NUL-terminated; "" when a rejected row's id could not be read */
    const char *text;   /* the joined text, NUL-terminated, but it may contain NUL bytes: use text_len;
                           "" for a rejected row */
    size_t text_len;
    int invalid_utf8;   /* the text holds invalid UTF-8, left as it is (the tokenizer reads it as U+FFFD) */
    const char *reject; /* NULL, or why this row cannot be embedded (the row still counts: report it) */
} input_record;

typedef struct input_reader input_reader;

/* "lines", "csv", "tsv", "jsonl", "ids" and back; parse returns 0, or -1 for another name. */
const char *input_format_name(input_format format);
int input_format_parse(const char *name, input_format *out);

/* The format named by the path's extension (any case), a trailing .gz aside: .txt lines, .csv, .tsv,
 * .jsonl/.json/.ndjson jsonl, .ids ids. Returns 0, or -1 when the extension says nothing. */
int input_guess_format(const char *path, input_format *out);

/* Opens path ("-" reads stdin) and, for CSV/TSV with a header, reads the header and finds the named columns.
 * Returns NULL with err set when the file cannot be read, the options do not fit the format, or a named
 * column is not in the header (the message lists the header's columns); *failure (when not NULL) then gets the
 * class of the failure (common/error.h): USEREC_ERR_IO (cannot be opened or read), USEREC_ERR_FORMAT (no header,
 * a missing column, corrupt gzip), USEREC_ERR_INPUT (options that do not fit the format) or USEREC_ERR_NOMEM. */
input_reader *input_open(const char *path, const input_options *opt, int *failure, char *err, size_t err_len);

/* Reads the next data row into *rec (its memory belongs to the reader and stays valid until the next call).
 * Returns 1 for a record, 0 at the end of the input, -1 on a read error (err set; input_failure says its class:
 * USEREC_ERR_IO, USEREC_ERR_FORMAT for a broken gzip stream or JSON array, USEREC_ERR_NOMEM). A malformed row is
 * not an error: it comes back as a record with a reject reason. */
int input_next(input_reader *r, input_record *rec, char *err, size_t err_len);
int input_failure(const input_reader *r);

size_t input_bytes_read(const input_reader *r); /* bytes consumed so far, for progress */
size_t input_rows_before(const input_reader *r); /* the data rows that started before range_start */
size_t input_size(const input_reader *r);       /* the file's size, or 0 when unknown (a pipe) */
void input_close(input_reader *r);

#endif
