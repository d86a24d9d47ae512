/* test_input_ranges.c: the byte ranges embed --shard reads (input_options.ranged, engine/input/input.c). For every
 * split point of hand-made files whose records span lines (quoted line breaks, JSON values over several lines,
 * CRLF, blank lines, rejected rows, an unterminated quote at the very end; plain and gzip-compressed), the records
 * of [0, p) followed by those of [p, end) are exactly the records of the whole file: the same rows, lines, ids,
 * texts and reject reasons, in order, none twice and none lost; and the second block knows how many rows came
 * before it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "input/input.h"

static const char CSV[] = "id,name,description\r\n"
                          "1,Mug,\"Blue mug, 300 ml\"\r\n"
                          "2,\"Two\nline\nname\",\"says \"\"hi\"\"\"\r\n"
                          "\r\n"
                          "3,Short row\r\n"
                          "4,,\r\n"
                          "5,\"a,b\",\"quoted \r\nCRLF inside\"\n"
                          "6,Last,\"never closed\r\n"
                          "7,swallowed,by the open quote\r\n";

static const char JSONL[] = "{\"id\": \"a\", \"t\": \"one\"}\n"
                            "\n"
                            "{\"id\": \"b\", \"t\": \"two\\nlines\"}\r\n"
                            "{\"id\": \"c\", \"t\": 5}\n"
                            "not json\n"
                            "{\"id\": \"d\",\n \"t\": \"spread\"}\n"
                            "{\"id\": \"e\", \"t\": \"last, no newline\"}";

static const char JSON_ARRAY[] = "[\n  {\"id\": \"a\", \"t\": \"one\"},\n  {\"id\": \"b\",\n   \"t\": \"two\"},\n"
                                 "  {\"id\": \"c\", \"t\": \"three\"}\n]\n";

static const char LINES[] = "first\n\nthird line\r\n   \nfifth without newline";

static const char TSV[] = "id\ttext\nx1\tone\n\nx2\ttwo\nx3\n";

static char path[64];

/* Writes bytes to the temp file, gzip-compressed when gz. */
static void write_input(const char *bytes, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, bytes, (unsigned)n);
        gzclose(f);
        return;
    }
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, n, f);
    fclose(f);
}

/* The records of the file (within [start, end) when ranged), one line of text each, appended to out; the rows
 * before the range in *before. Returns the number of records, or -1 on a read error. */
static long read_records(input_options opt, char **out, size_t *out_len, size_t *before) {
    char err[256];
    int failure;
    input_reader *r = input_open(path, &opt, &failure, err, sizeof err);
    if (!r) return printf("# open: %s\n", err), -1;
    input_record rec;
    long n = 0;
    int got;
    FILE *f = open_memstream(out, out_len);
    while ((got = input_next(r, &rec, err, sizeof err)) > 0) {
        fprintf(f, "line %zu row %zu id '%s' invalid %d reject '%s' text '", rec.line, rec.row, rec.id,
                rec.invalid_utf8, rec.reject ? rec.reject : "");
        fwrite(rec.text, 1, rec.text_len, f);
        fputs("'\n", f);
        n++;
    }
    fclose(f);
    *before = input_rows_before(r);
    input_close(r);
    if (got < 0) return printf("# read: %s\n", err), -1;
    return n;
}

/* Every split point p of the file: [0, p) then [p, end) give the whole file's records. */
static void check_splits(const char *label, const char *bytes, size_t n, input_options opt, int gz) {
    write_input(bytes, n, gz);
    char *whole = NULL, *first = NULL, *second = NULL;
    size_t whole_len, first_len, second_len, before;
    const long total = read_records(opt, &whole, &whole_len, &before);
    int ok = total > 0, bad_p = -1;
    for (size_t p = 0; p <= n && ok; p++) {
        input_options a = opt, b = opt;
        a.ranged = b.ranged = 1;
        a.range_start = 0, a.range_end = p;
        b.range_start = p, b.range_end = SIZE_MAX;
        size_t before_a, before_b;
        const long na = read_records(a, &first, &first_len, &before_a);
        const long nb = read_records(b, &second, &second_len, &before_b);
        ok = na >= 0 && nb >= 0 && na + nb == total && before_a == 0 && before_b == (size_t)na &&
             first_len + second_len == whole_len && !memcmp(first, whole, first_len) &&
             !memcmp(second, whole + first_len, second_len);
        if (!ok) bad_p = (int)p;
        free(first), free(second);
        first = second = NULL;
    }
    char name[128];
    snprintf(name, sizeof name, "ranges: %s%s: every split point gives the whole file's %ld records", label,
             gz ? " (gzip)" : "", total);
    CHECK(ok, name, "split at byte %d of %zu breaks it; the whole file:\n%s", bad_p, n, whole ? whole : "");
    free(whole);
}

/* Three blocks, as --shard 1/3, 2/3, 3/3 cut them, give the whole too (the middle one bounded on both sides). */
static void check_three(const char *label, const char *bytes, size_t n, input_options opt) {
    write_input(bytes, n, 0);
    char *whole = NULL, *parts = NULL;
    size_t whole_len, parts_len = 0, before;
    const long total = read_records(opt, &whole, &whole_len, &before);
    int ok = 1;
    for (size_t p = 0; p <= n && ok; p += 3)
        for (size_t q = p; q <= n && ok; q += 5) {
            FILE *f = open_memstream(&parts, &parts_len);
            const size_t cuts[4] = {0, p, q, SIZE_MAX};
            long sum = 0;
            for (int i = 0; i < 3; i++) {
                input_options o = opt;
                o.ranged = 1, o.range_start = cuts[i], o.range_end = cuts[i + 1];
                char *text = NULL;
                size_t len;
                const long got = read_records(o, &text, &len, &before);
                sum += got;
                fwrite(text, 1, len, f);
                free(text);
            }
            fclose(f);
            ok = sum == total && parts_len == whole_len && !memcmp(parts, whole, whole_len);
            free(parts);
            parts = NULL;
        }
    char name[128];
    snprintf(name, sizeof name, "ranges: %s: three blocks give the whole file", label);
    CHECK(ok, name, "three blocks differ from the whole file");
    free(whole);
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/userec-ranges-XXXXXX");
    const int fd = mkstemp(path);
    if (fd < 0) return perror("mkstemp"), 1;
    close(fd);
    const input_options csv = {.format = INPUT_CSV, .text_cols = "name,description", .id_col = "id"};
    const input_options jsonl = {.format = INPUT_JSONL, .text_cols = "t", .id_col = "id"};
    const input_options lines = {.format = INPUT_LINES}, tsv = {.format = INPUT_TSV, .text_cols = "text", .id_col = "id"};
    check_splits("csv with quoted line breaks", CSV, strlen(CSV), csv, 0);
    check_splits("csv with quoted line breaks", CSV, strlen(CSV), csv, 1);
    check_splits("json lines", JSONL, strlen(JSONL), jsonl, 0);
    check_splits("json lines", JSONL, strlen(JSONL), jsonl, 1);
    check_splits("a json array", JSON_ARRAY, strlen(JSON_ARRAY), jsonl, 0);
    check_splits("lines", LINES, strlen(LINES), lines, 0);
    check_splits("tsv", TSV, strlen(TSV), tsv, 0);
    check_three("csv", CSV, strlen(CSV), csv);
    unlink(path);
    CHECK_DONE();
}
