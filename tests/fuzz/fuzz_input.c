/* fuzz_input.c: the embed input readers (lines, CSV, TSV, JSON lines or a JSON array, token-id lines; any of them
 * gzip-compressed) on any bytes, read through a memory file as `embed --input` reads a path. The first byte picks
 * the format and options; every record is read to the end of the input, and each must be whole: an id and a text
 * (empty for a rejected row) of the length it says. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "input/input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    static const char *const json_keys[4][2] = {{"text", NULL}, {"title,description", "asin"}, {"a,b", "id"},
                                                {"title", "id"}};
    const uint8_t pick = data[0];
    input_options opt = {.format = (input_format)(pick % 5)};
    const int no_header = (pick / 5) & 1, keys = (pick >> 4) & 3;
    if (pick & 0x80) opt.max_record = 100; /* the too-long path, on small inputs */
    if (opt.format == INPUT_CSV || opt.format == INPUT_TSV) {
        opt.no_header = no_header;
        opt.text_cols = no_header ? "1,2" : "a,b";
        opt.id_col = keys & 1 ? NULL : no_header ? "3" : "id";
        if (opt.format == INPUT_CSV && keys & 2) opt.delimiter = ';';
    } else if (opt.format == INPUT_JSONL) {
        opt.text_cols = json_keys[keys][0];
        opt.id_col = json_keys[keys][1];
    }
    const int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd < 0) abort();
    if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) abort();
    char path[64], err[512] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    input_reader *r = input_open(path, &opt, NULL, err, sizeof err);
    if (!r) {
        if (!err[0]) abort();
        close(fd);
        return 0;
    }
    input_record rec;
    int got;
    size_t rows = 0;
    while ((got = input_next(r, &rec, err, sizeof err)) == 1) {
        if (rec.row != rows++ || !rec.id || !rec.text || (rec.reject && rec.text_len) || rec.text[rec.text_len]) abort();
        volatile size_t touch = strlen(rec.id);
        for (size_t i = 0; i < rec.text_len; i++) touch += (uint8_t)rec.text[i];
        (void)touch;
    }
    if (got < 0 && !err[0]) abort();
    input_close(r);
    close(fd);
    return 0;
}
