/* test_input.c: the input readers (engine/input.h) on hand-made files.
 * Without arguments: the edge cases, as ok / not ok lines. The expected CSV results are what Python's csv
 * module gives for the same bytes (tests/test_input.py compares the two on the real exports).
 * With arguments it is the driver tests/test_input.py runs:
 *   test_input --format F [--text-col A,B] [--id-col C] [--delimiter X] [--no-header] [--max-record N]
 *              [--summary] PATH
 * printing each record as a JSON line (bytes >= 0x80 as \u00XX, i.e. Latin-1, so Python gets the exact
 * bytes back), or with --summary only the rejected rows and a last line of counts, time and peak memory
 * (VmHWM: getrusage's ru_maxrss would include the parent's memory from before exec on Linux). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common/error.h"
#include "input/input.h"

/* ---- the driver ---- */

static void print_json_bytes(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7F) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void print_record(const input_record *rec) {
    printf("{\"line\": %zu, \"row\": %zu, \"id\": ", rec->line, rec->row);
    print_json_bytes(rec->id, strlen(rec->id));
    printf(", \"text\": ");
    print_json_bytes(rec->text, rec->text_len);
    printf(", \"invalid_utf8\": %d, \"reject\": ", rec->invalid_utf8);
    if (rec->reject) print_json_bytes(rec->reject, strlen(rec->reject));
    else printf("null");
    printf("}\n");
}

/* The process's peak resident memory in KiB (VmHWM), or -1 when /proc cannot say. */
static long peak_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

static int parse_format(const char *name, input_format *out) {
    static const char *names[] = {"lines", "csv", "tsv", "jsonl", "ids"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, names[i])) return *out = (input_format)i, 0;
    return -1;
}

static int driver(int argc, char **argv) {
    input_options opt = {0};
    const char *path = NULL, *format = NULL;
    int summary = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--summary")) summary = 1;
        else if (!strcmp(a, "--no-header")) opt.no_header = 1;
        else if (v && !strcmp(a, "--format")) format = v, i++;
        else if (v && !strcmp(a, "--text-col")) opt.text_cols = v, i++;
        else if (v && !strcmp(a, "--id-col")) opt.id_col = v, i++;
        else if (v && !strcmp(a, "--delimiter")) opt.delimiter = v[0], i++;
        else if (v && !strcmp(a, "--max-record")) opt.max_record = strtoull(v, NULL, 10), i++;
        else if (a[0] != '-' || !strcmp(a, "-")) path = a;
        else return fprintf(stderr, "test_input: unknown argument %s\n", a), 2;
    }
    if (!path) return fprintf(stderr, "test_input: no input path\n"), 2;
    if (format ? parse_format(format, &opt.format) : input_guess_format(path, &opt.format))
        return fprintf(stderr, "test_input: unknown format\n"), 2;
    char err[1024];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    input_reader *r = input_open(path, &opt, NULL, err, sizeof err);
    if (!r) return fprintf(stderr, "test_input: %s\n", err), 1;
    input_record rec;
    size_t rows = 0, rejected = 0, invalid = 0, text_bytes = 0;
    int rc;
    while ((rc = input_next(r, &rec, err, sizeof err)) == 1) {
        rows++;
        rejected += rec.reject != NULL;
        invalid += (size_t)rec.invalid_utf8;
        text_bytes += rec.text_len;
        if (!summary || rec.reject) print_record(&rec);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc < 0) {
        input_close(r);
        return fprintf(stderr, "test_input: %s\n", err), 1;
    }
    if (summary)
        printf("{\"rows\": %zu, \"rejected\": %zu, \"invalid_utf8\": %zu, \"text_bytes\": %zu, \"bytes\": %zu, "
               "\"size\": %zu, \"seconds\": %.6f, \"max_rss_kb\": %ld}\n",
               rows, rejected, invalid, text_bytes, input_bytes_read(r), input_size(r),
               (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), peak_rss_kb());
    input_close(r);
    return 0;
}

/* ---- the unit tests ---- */

#define MAX_RECORDS 16

/* A record copied out of the reader (whose memory is reused by the next call). */
typedef struct {
    size_t line, row, text_len;
    char id[64], text[256], reject[160];
    int invalid_utf8, rejected;
} copy;

typedef struct {
    copy rec[MAX_RECORDS];
    size_t n;
    int open_failed, read_failed;
    char err[1024];
    size_t bytes_read, size;
} result;

static char tmp_path[64];

static void write_file(const void *bytes, size_t n) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/userec-test-input-XXXXXX");
    int fd = mkstemp(tmp_path);
    if (fd < 0 || write(fd, bytes, n) != (ssize_t)n || close(fd)) {
        perror("test_input: temp file");
        exit(2);
    }
}

/* Reads n bytes of content through a reader with opt; keeps the first MAX_RECORDS records. */
static result read_bytes(const void *content, size_t n, input_options opt) {
    static result res;
    memset(&res, 0, sizeof res);
    write_file(content, n);
    input_reader *r = input_open(tmp_path, &opt, NULL, res.err, sizeof res.err);
    if (!r) {
        res.open_failed = 1;
        unlink(tmp_path);
        return res;
    }
    input_record rec;
    int rc;
    size_t total = 0;
    while ((rc = input_next(r, &rec, res.err, sizeof res.err)) == 1) {
        if (total++ >= MAX_RECORDS) continue;
        copy *c = &res.rec[res.n++];
        c->line = rec.line;
        c->row = rec.row;
        c->text_len = rec.text_len;
        c->invalid_utf8 = rec.invalid_utf8;
        c->rejected = rec.reject != NULL;
        snprintf(c->id, sizeof c->id, "%s", rec.id);
        memcpy(c->text, rec.text, rec.text_len < sizeof c->text - 1 ? rec.text_len : sizeof c->text - 1);
        snprintf(c->reject, sizeof c->reject, "%s", rec.reject ? rec.reject : "");
    }
    res.read_failed = rc < 0;
    res.bytes_read = input_bytes_read(r);
    res.size = input_size(r);
    input_close(r);
    unlink(tmp_path);
    res.n = total < MAX_RECORDS ? total : MAX_RECORDS;
    if (total > MAX_RECORDS) res.n = MAX_RECORDS + 1; /* "more than we keep": a test sees a wrong count */
    return res;
}

static result read_text(const char *content, input_options opt) { return read_bytes(content, strlen(content), opt); }

/* Record i is accepted with this id and text. */
static int accepted(const result *res, size_t i, const char *id, const char *text) {
    const copy *c = &res->rec[i];
    return i < res->n && !c->rejected && !strcmp(c->id, id) && c->text_len == strlen(text) &&
           !memcmp(c->text, text, c->text_len);
}

static int rejected(const result *res, size_t i, const char *reason) {
    return i < res->n && res->rec[i].rejected && !strcmp(res->rec[i].reject, reason);
}

static void describe(const result *res) {
    if (res->open_failed || res->read_failed) printf("(error: %s) ", res->err);
    printf("%zu records:", res->n);
    for (size_t i = 0; i < res->n && i < MAX_RECORDS; i++)
        printf(" [line %zu row %zu id '%s' text '%.*s' reject '%s' utf8bad %d]", res->rec[i].line, res->rec[i].row,
               res->rec[i].id, (int)res->rec[i].text_len, res->rec[i].text, res->rec[i].reject,
               res->rec[i].invalid_utf8);
}

#define CHECK_RESULT(cond, name, res)                                 \
    do {                                                              \
        int ok_ = (cond);                                             \
        CHECK(ok_, name, "unexpected result");                        \
        if (!ok_) describe(&(res)), printf("\n");                     \
    } while (0)

static void test_csv_rfc4180(void) {
    input_options o = {.format = INPUT_CSV, .text_cols = "name,desc", .id_col = "id"};
    result res = read_text("\xEF\xBB\xBF" "id,name,desc\r\n"
                           "1,Red shoe,\"light, fast\"\r\n"
                           "2,\"Say \"\"hi\"\"\",\"two\r\nlines\"\r\n"
                           "3,Blue hat,warm",
                           o);
    CHECK_RESULT(res.n == 3 && accepted(&res, 0, "1", "Red shoe light, fast") &&
                     accepted(&res, 1, "2", "Say \"hi\" two\r\nlines") && accepted(&res, 2, "3", "Blue hat warm"),
                 "csv: BOM, CRLF, quoted delimiter, doubled quotes, line break in quotes, no final newline", res);
    CHECK_RESULT(res.n == 3 && res.rec[0].line == 2 && res.rec[1].line == 3 && res.rec[2].line == 5 &&
                     res.rec[2].row == 2,
                 "csv: a record's line is where it starts (a quoted line break counts)", res);
    CHECK(res.bytes_read == res.size && res.size > 0, "csv: bytes read reach the file size",
          "%zu of %zu bytes", res.bytes_read, res.size);
}

static void test_csv_like_python(void) {
    /* Python 3.11: 'x"y"z' -> x"y"z ; '"x"y' -> xy ; '"x" ' -> 'x ' ; a lone \r ends a record */
    input_options o = {.format = INPUT_CSV, .text_cols = "t"};
    result res = read_text("t\nx\"y\"z\n\"x\"y\n\"x\" \rlast\n", o);
    CHECK_RESULT(res.n == 4 && accepted(&res, 0, "0", "x\"y\"z") && accepted(&res, 1, "1", "xy") &&
                     accepted(&res, 2, "2", "x ") && accepted(&res, 3, "3", "last") && res.rec[3].line == 5,
                 "csv: bare quotes and text after a closing quote kept as Python's csv does", res);
}

static void test_csv_unterminated(void) {
    input_options o = {.format = INPUT_CSV, .text_cols = "b", .id_col = "a"};
    result res = read_text("a,b\n1,ok\n2,\"multi\nline\",\"open\nstill\nopen\n", o);
    CHECK_RESULT(res.n == 2 && accepted(&res, 0, "1", "ok") &&
                     rejected(&res, 1, "unterminated quoted field starting at line 4") && res.rec[1].line == 3 &&
                     !res.read_failed,
                 "csv: an unterminated quote at the end is one rejected row, reported where the quote opens", res);
}

static void test_csv_short_rows_and_empty_text(void) {
    input_options o = {.format = INPUT_CSV, .text_cols = "name,desc", .id_col = "id"};
    result res = read_text("id,name,desc\n1,a\n2, ,\"\"\n\n3,,x\n4,\" \t\",\" \"\n", o);
    CHECK_RESULT(res.n == 5 && rejected(&res, 0, "missing column 'desc'") && !strcmp(res.rec[0].id, "1") &&
                     rejected(&res, 1, "empty text") && rejected(&res, 2, "empty line") && res.rec[2].line == 4 &&
                     accepted(&res, 3, "3", " x") && rejected(&res, 4, "empty text"),
                 "csv: short row, blank text columns, a blank line (rows are never skipped)", res);
    input_options no_id = {.format = INPUT_CSV, .text_cols = "t", .id_col = "id"};
    res = read_text("id,t\n,text\n\"a\tb\",text\n", no_id);
    CHECK_RESULT(res.n == 2 && rejected(&res, 0, "empty id") &&
                     rejected(&res, 1, "the id holds a tab, a line break or a NUL byte") && !strcmp(res.rec[1].id, ""),
                 "csv: an empty id, an id that would break the line-based outputs", res);
}

static void test_csv_delimiter_and_header_errors(void) {
    input_options o = {.format = INPUT_CSV, .delimiter = ';', .text_cols = "name", .id_col = "item_id"};
    result res = read_text("X1;item_id;name\n0;9042;\"FREKVENS; bar\";extra\n", o);
    CHECK_RESULT(res.n == 1 && accepted(&res, 0, "9042", "FREKVENS; bar"), "csv: ';' delimiter, extra fields", res);

    input_options missing = {.format = INPUT_CSV, .text_cols = "name,Description", .id_col = "id"};
    res = read_text("id,name,description\n1,a,b\n", missing);
    CHECK(res.open_failed && strstr(res.err, "no column 'Description'") &&
              strstr(res.err, "'id', 'name', 'description'"),
          "csv: a missing text column is a fatal error listing the header's columns", "%s", res.err);
    res = read_text("id,name,name\n1,a,b\n", (input_options){.format = INPUT_CSV, .text_cols = "name"});
    CHECK(res.open_failed && strstr(res.err, "appears twice"), "csv: an ambiguous column name is refused", "%s",
          res.err);
    res = read_text("", (input_options){.format = INPUT_CSV, .text_cols = "name"});
    CHECK(res.open_failed && strstr(res.err, "no header row"), "csv: an empty file has no header", "%s", res.err);
}

static void test_no_header(void) {
    input_options o = {.format = INPUT_TSV, .text_cols = "6,7", .id_col = "4", .no_header = 1};
    result res = read_text("g\tf\t2012\t0001\t5.0\tA plane.\tAn air \"plane\".\ng\tf\t2012\t0002\n", o);
    CHECK_RESULT(res.n == 2 && accepted(&res, 0, "0001", "A plane. An air \"plane\".") &&
                     rejected(&res, 1, "missing column '6'") && res.rec[0].line == 1,
                 "tsv without a header: columns named by number, quotes are plain text", res);
    res = read_text("a\n", (input_options){.format = INPUT_TSV, .text_cols = "name", .no_header = 1});
    CHECK(res.open_failed && strstr(res.err, "named by number"), "no header: names must be numbers", "%s", res.err);
}

static void test_tsv(void) {
    input_options o = {.format = INPUT_TSV, .text_cols = "s", .id_col = "id"};
    result res = read_text("id\ts\r\n7\t\"quoted\r\n8\t a\"b \r\n\r\n9\n", o);
    CHECK_RESULT(res.n == 4 && accepted(&res, 0, "7", "\"quoted") && accepted(&res, 1, "8", " a\"b ") &&
                     rejected(&res, 2, "empty line") && rejected(&res, 3, "missing column 's'") &&
                     res.rec[3].line == 5,
                 "tsv: plain tab split, CRLF, blank line, short row", res);
}

static void test_lines_and_ids(void) {
    static const char text[] = "first\r\n\n  \t\nwith\0nul\nlast";
    result res = read_bytes(text, sizeof text - 1, (input_options){.format = INPUT_LINES});
    CHECK_RESULT(res.n == 5 && accepted(&res, 0, "0", "first") && rejected(&res, 1, "empty text") &&
                     rejected(&res, 2, "empty text") && res.rec[3].text_len == 8 &&
                     !memcmp(res.rec[3].text, "with\0nul", 8) && accepted(&res, 4, "4", "last") &&
                     res.rec[4].line == 5,
                 "lines: CRLF, empty and blank lines rejected, NUL bytes kept, no final newline", res);
    res = read_text("1 2 3\n\n4\n", (input_options){.format = INPUT_IDS});
    CHECK_RESULT(res.n == 3 && accepted(&res, 0, "0", "1 2 3") && accepted(&res, 1, "1", "") &&
                     accepted(&res, 2, "2", "4"),
                 "ids: an empty line is an empty sentence, not a reject", res);
}

static void test_jsonl(void) {
    input_options o = {.format = INPUT_JSONL, .text_cols = "title,description", .id_col = "asin"};
    result res = read_text(
        "{\"asin\": \"B1\", \"title\": \"caf\\u00e9 \\\"A\\\"\\n\", \"description\": [\"one\", null, \"two\"]}\n"
        "{\"asin\": 42, \"title\": 1.5e3, \"description\": \"\\ud83d\\ude00 \\ud800 x\"}\n"
        "\n"
        "{\"asin\": \"B3\", \"title\": \"t\"}\n"
        "{\"asin\": \"B4\", \"title\": \"t\", \"description\": {\"a\": 1}}\n"
        "{\"asin\": \"B5\", \"title\": \"t\", \"description\": \"d\",}\n"
        "{\"asin\": \"B6\", \"title\": null, \"description\": \" \"}\n"
        "{\"asin\": \"B7\", \"title\": \"old\", \"title\": \"new\", \"description\": true} \r\n"
        "[1, 2]\n",
        o);
    CHECK_RESULT(res.n == 9 && accepted(&res, 0, "B1", "caf\xC3\xA9 \"A\"\n one two") &&
                     accepted(&res, 1, "42", "1.5e3 \xF0\x9F\x98\x80 \xEF\xBF\xBD x") && res.rec[1].invalid_utf8 &&
                     !res.rec[0].invalid_utf8 && rejected(&res, 2, "empty line") &&
                     rejected(&res, 3, "missing key 'description'") && !strcmp(res.rec[3].id, "B3") &&
                     rejected(&res, 4, "key 'description' is a JSON object, not text") &&
                     /* Python's json.loads: "Expecting property name ... (char 48)" */
                     rejected(&res, 5, "invalid JSON: byte 48: expected a key string") &&
                     rejected(&res, 6, "empty text") && accepted(&res, 7, "B7", "new true") &&
                     rejected(&res, 8, "invalid JSON: byte 0: expected a JSON object") && res.rec[8].line == 9,
                 "jsonl: escapes, surrogate pair, lone surrogate -> U+FFFD, arrays, numbers, null, missing key, "
                 "objects, malformed, blank line, duplicate key",
                 res);
}

static void test_json_nesting_limit(void) {
    char line[1400], *p = line;
    p += sprintf(p, "{\"t\": ");
    memset(p, '[', 600), p += 600;
    memset(p, ']', 600), p += 600;
    sprintf(p, "}\n");
    result res = read_text(line, (input_options){.format = INPUT_JSONL, .text_cols = "t"});
    /* the top-level object is depth 0, the array at byte 6 depth 1: byte 6 + 512 is the first one too deep */
    CHECK_RESULT(res.n == 1 && rejected(&res, 0, "invalid JSON: byte 518: nested too deeply"),
                 "jsonl: nesting deeper than 512 levels is rejected, not a stack overflow", res);
}

static void test_json_array(void) {
    input_options o = {.format = INPUT_JSONL, .text_cols = "description", .id_col = "objectID"};
    result res = read_text("\n[\n  {\n    \"description\": \"a, [b] {c}\",\n    \"objectID\": \"1\"\n  },\n"
                           "  {\"description\": \"x\", \"objectID\": \"2\"}, 7,\n"
                           "  {\"description\": \"cut", o);
    CHECK_RESULT(res.n == 4 && accepted(&res, 0, "1", "a, [b] {c}") && res.rec[0].line == 3 &&
                     accepted(&res, 1, "2", "x") && res.rec[1].line == 7 &&
                     rejected(&res, 2, "invalid JSON: byte 0: expected a JSON object") &&
                     rejected(&res, 3, "invalid JSON: the input ends inside this element of the array") &&
                     res.rec[3].line == 8 && !res.read_failed,
                 "json array: elements over several lines, a non-object element, an element cut short", res);
    res = read_text("[{\"description\": \"x\", \"objectID\": \"1\"}] [", o);
    CHECK(res.read_failed && strstr(res.err, "after the end of the JSON array"),
          "json array: text after the array is an error", "%s", res.err);
}

static void test_long_records(void) {
    /* a record longer than the 256 KiB read buffer, and a line break split across two reads */
    size_t big = 600000;
    char *content = malloc(big + 64), *p = content;
    p += sprintf(p, "id,t\n1,\"");
    memset(p, 'x', big);
    p += big;
    p += sprintf(p, "\"\n2,y\n");
    result res = read_bytes(content, (size_t)(p - content), (input_options){.format = INPUT_CSV, .text_cols = "t", .id_col = "id"});
    CHECK_RESULT(res.n == 2 && !res.rec[0].rejected && accepted(&res, 1, "2", "y"),
                 "csv: a record longer than the read buffer", res);

    size_t chunk = (size_t)256 << 10;
    memset(content, 'a', chunk + 8);
    memcpy(content, "t\n", 2);
    memcpy(content + chunk - 1, "\r\nb\r\n", 5); /* the \r ends the first read, its \n starts the next */
    res = read_bytes(content, chunk + 4, (input_options){.format = INPUT_CSV, .text_cols = "t"});
    CHECK_RESULT(res.n == 2 && res.rec[0].text_len == chunk - 3 && accepted(&res, 1, "1", "b") && res.rec[1].line == 3,
                 "csv: a CRLF split across two reads is one line break", res);

    input_options small = {.format = INPUT_CSV, .text_cols = "t", .max_record = 64};
    memset(content, 'z', 200);
    memcpy(content, "t\n\"", 3);
    memcpy(content + 100, "\n", 1);
    memcpy(content + 197, "\"\nok\n", 5);
    res = read_bytes(content, 202, small);
    CHECK_RESULT(res.n == 2 && rejected(&res, 0, "record longer than 64 bytes (the limit)") &&
                     accepted(&res, 1, "1", "ok") && res.rec[1].line == 4,
                 "csv: a record over max_record is rejected and skipped whole", res);
    memset(content, 'z', 200);
    memcpy(content + 150, "\nok\n", 4);
    res = read_bytes(content, 154, (input_options){.format = INPUT_LINES, .max_record = 64});
    CHECK_RESULT(res.n == 2 && rejected(&res, 0, "record longer than 64 bytes (the limit)") &&
                     accepted(&res, 1, "1", "ok"),
                 "lines: a line over max_record is rejected and skipped whole", res);
    free(content);
}

static void test_invalid_utf8(void) {
    static const char content[] = "t\n"
                                  "caf\xE9\n"                 /* Latin-1 */
                                  "\xC0\x80\n"                /* overlong NUL */
                                  "\xED\xA0\x80\n"            /* a surrogate */
                                  "\xF4\x90\x80\x80\n"        /* past U+10FFFF */
                                  "ok \xE2\x82\n"             /* truncated */
                                  "\xF0\x9F\x98\x80 0123456789\n"; /* valid */
    result res = read_bytes(content, sizeof content - 1, (input_options){.format = INPUT_CSV, .text_cols = "t"});
    int flags_ok = res.n == 6;
    for (size_t i = 0; flags_ok && i < 5; i++) flags_ok = res.rec[i].invalid_utf8 && !res.rec[i].rejected;
    CHECK_RESULT(flags_ok && !res.rec[5].invalid_utf8 && res.rec[0].text_len == 4,
                 "invalid UTF-8 is flagged and left as it is", res);
}

static void test_options(void) {
    input_format f = INPUT_IDS;
    CHECK(!input_guess_format("a/b.CSV", &f) && f == INPUT_CSV && !input_guess_format("x.ndjson", &f) &&
              f == INPUT_JSONL && !input_guess_format("x.txt", &f) && f == INPUT_LINES &&
              !input_guess_format("x.json.gz", &f) && f == INPUT_JSONL && !input_guess_format("a/b.csv.GZ", &f) &&
              f == INPUT_CSV && input_guess_format("x.gz", &f) == -1 && input_guess_format("x.tgz", &f) == -1 &&
              input_guess_format("dir.csv/file", &f) == -1 && input_guess_format("dir.csv/file.gz", &f) == -1,
          "formats guessed from the extension (a .gz suffix aside)", "format %d", (int)f);
    char err[256] = "";
    int failure = 0;
    input_options bad = {.format = INPUT_LINES, .text_cols = "x"};
    CHECK(!input_open("/dev/null", &bad, &failure, err, sizeof err) && strstr(err, "csv, tsv and jsonl") &&
              failure == USEREC_ERR_INPUT,
          "text columns refused for lines input, as bad options", "%s (class %d)", err, failure);
    input_options none = {.format = INPUT_CSV};
    CHECK(!input_open("/dev/null", &none, NULL, err, sizeof err) && strstr(err, "text column"),
          "csv input needs text columns", "%s", err);
    input_options csv = {.format = INPUT_CSV, .text_cols = "t"};
    CHECK(!input_open("/nonexistent/x.csv", &csv, &failure, err, sizeof err) && strstr(err, "/nonexistent/x.csv") &&
              strstr(err, "No such file") && failure == USEREC_ERR_IO,
          "an unreadable file is named in the error, as an input that cannot be read", "%s (class %d)", err, failure);
    CHECK(!input_open("/dev/null", &csv, &failure, err, sizeof err) && strstr(err, "no header row") &&
              failure == USEREC_ERR_FORMAT,
          "a CSV without its header row is malformed data", "%s (class %d)", err, failure);
}

int main(int argc, char **argv) {
    if (argc > 1) return driver(argc, argv);
    test_csv_rfc4180();
    test_csv_like_python();
    test_csv_unterminated();
    test_csv_short_rows_and_empty_text();
    test_csv_delimiter_and_header_errors();
    test_no_header();
    test_tsv();
    test_lines_and_ids();
    test_jsonl();
    test_json_nesting_limit();
    test_json_array();
    test_long_records();
    test_invalid_utf8();
    test_options();
    CHECK_DONE();
}
