/* fuzz_ids.c: the ids-file reader (topk_parse_ids: lines, CRLF, a last line without a newline, NUL bytes). The
 * first byte says how many rows the vectors have: 0 means as many as the file has lines, so that most inputs get
 * past the count check. */
#include <stdlib.h>
#include <string.h>

#include "topk/topk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    const size_t len = size - 1;
    char *text = malloc(len + 1);
    if (!text) return 0;
    memcpy(text, data + 1, len);
    size_t rows = data[0];
    if (!rows) {
        for (size_t i = 0; i < len; i++) rows += text[i] == '\n';
        rows += len && text[len - 1] != '\n';
    }
    topk_ids ids;
    char err[512] = "";
    if (topk_parse_ids(text, len, "fuzz.ids", "fuzz.npy", rows, &ids, err, sizeof err)) { /* frees text */
        if (!err[0]) abort();
        return 0;
    }
    if (ids.count != rows) abort();
    volatile size_t total = 0;
    for (size_t i = 0; i < ids.count; i++) total += strlen(ids.line[i]);
    (void)total;
    topk_ids_free(&ids);
    return 0;
}
