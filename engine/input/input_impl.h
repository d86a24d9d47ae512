/* input_impl.h: what the input readers share (engine/input.c, csv.c, input_json.c); not public. */
#ifndef USEREC_INPUT_IMPL_H
#define USEREC_INPUT_IMPL_H

#include <stdint.h>

#include "common/grow.h"
#include "input/input.h"

#define INPUT_READ_CHUNK ((size_t)256 << 10)


/* One field of the current record: bytes [start, end) of the record buffer. */
typedef struct {
    size_t start, end;
} input_span;

struct input_reader {
    input_options opt;
    char *name; /* the path, or "<stdin>", for messages */
    int fd, owns_fd; /* stdin is not ours to close */
    struct gunzip *gz; /* gzip input: its decoder (gunzip.h), else NULL */
    size_t file_size;

    /* The read buffer: bytes [pos, end) are read but not consumed yet. */
    uint8_t *buf;
    size_t pos, end;
    size_t consumed_before_buf; /* bytes of the input before buf[0] */
    int eof;
    size_t line; /* the line of the next unconsumed byte */

    /* Wanted columns: the text columns' names, then the id column's (when there is one). */
    char *names_copy;  /* opt.text_cols split in place */
    const char **keys; /* n_text + has_id names */
    size_t n_text;
    const char *id_name; /* NULL: the row number is the id */
    size_t *index;       /* CSV/TSV: each key's column index; JSON: where each key's value starts */
    size_t keep_fields;  /* CSV/TSV: a data row's fields past this many are not stored */

    /* The current record. */
    size_t row;    /* the next data row's number */
    size_t rows_before; /* rows passed over before opt.range_start */
    byte_buf rec; /* raw bytes: the line (lines, ids, TSV, JSON) or the stored fields (CSV) */
    input_span *fields;
    size_t n_fields, fields_cap;
    int overflow; /* the record outgrew opt.max_record: its bytes are being skipped, not stored */
    byte_buf text, id, scratch;
    char row_id[24];   /* the id when no column holds it */
    int text_repaired; /* JSON: a lone surrogate escape in the text became U+FFFD */
    char reason[256];  /* the reject reason of the current record */
    int json_array;    /* JSON input is one top-level array of objects, not JSON lines */
    int json_after_element;
    int done; /* the input ended (a JSON array's ']', or an element cut short): no more records */
    int failure; /* the class of the failure (common/error.h), set where it happens; 0: memory ran out */
};

/* Returns the -1 of an ERR(...) message call after recording the failure's class for input_failure. */
#define INPUT_FAIL(r, status, message_call) ((r)->failure = (status), (message_call))

/* input.c: the byte source and record storage. */
int input_fill(input_reader *r, char *err, size_t err_len); /* 1 bytes ready, 0 end of input, -1 error */
int input_prefetch(input_reader *r, size_t want, char *err, size_t err_len); /* at least want bytes buffered,
                                                                                unless the input is shorter */
size_t input_offset(const input_reader *r);                                  /* bytes consumed so far */
int input_keep(input_reader *r, const void *bytes, size_t n, char *err, size_t err_len); /* to r->rec, within
                                                                                            max_record */
int input_field_push(input_reader *r, size_t start, size_t end, char *err, size_t err_len);
int input_read_line(input_reader *r, char *err, size_t err_len); /* into r->rec; 1 line, 0 end, -1 error */
int input_is_blank(const uint8_t *p, size_t n);                  /* only ASCII white space, or nothing */
const char *input_reject(input_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *input_too_long(input_reader *r);

/* csv.c: reads one RFC 4180 record into r->rec / r->fields, storing its first keep_fields fields. Returns 1
 * (the record, with a reject reason in *reject when it is broken), 0 at the end of the input, -1 on a read
 * error. */
int csv_read_record(input_reader *r, size_t keep_fields, const char **reject, char *err, size_t err_len);

/* input_json.c: JSON lines, or the elements of one top-level JSON array. json_input_start looks at the
 * start of the input to tell which; json_input_next reads the next row's id and text into r->id / r->text
 * (same returns as csv_read_record; *line is where the row starts). */
int json_input_start(input_reader *r, char *err, size_t err_len);
int json_input_next(input_reader *r, size_t *line, const char **reject, char *err, size_t err_len);

#endif
