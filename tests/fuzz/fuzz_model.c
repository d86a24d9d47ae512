/* fuzz_model.c: the whole model open path on any bytes: usew_parse (header, table, layout, checksums), the
 * architecture check, tensor binding, the tokenizers built from their payloads, a three-token encode when the
 * model loads, and userec_free. Each input runs twice: as it is, and with every checksum recomputed (and the
 * file size field set), so that mutations of fields behind the checksums reach the checks after them. */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/usew.h"
#include "common/util.h"

static void wr_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_checksums(uint8_t *buf, size_t size) {
    if (size < USEW_HEADER_BYTES) return;
    for (int i = 0; i < 8; i++) buf[USEW_H_FILE_BYTES + i] = (uint8_t)((uint64_t)size >> (8 * i));
    const uint32_t n = rd_u32(buf + USEW_H_N_TENSORS);
    if (USEW_HEADER_BYTES + (uint64_t)n * USEW_RECORD_BYTES <= size) {
        for (uint32_t t = 0; t < n; t++) {
            uint8_t *rec = buf + USEW_HEADER_BYTES + (size_t)t * USEW_RECORD_BYTES;
            const uint64_t offset = rd_u64(rec + USEW_R_OFFSET), nbytes = rd_u64(rec + USEW_R_NBYTES);
            if (offset <= size && nbytes <= size - offset) wr_u32(rec + USEW_R_CRC32, usew_crc32(buf + offset, nbytes));
        }
        wr_u32(buf + USEW_H_TABLE_CRC32, usew_crc32(buf + USEW_HEADER_BYTES, (size_t)n * USEW_RECORD_BYTES));
    }
    wr_u32(buf + USEW_H_HEADER_CRC32, usew_crc32(buf, USEW_H_HEADER_CRC32));
}

static void open_model(const uint8_t *buf, size_t size) {
    char msg[512] = "";
    usew_file *f = usew_parse(buf, size, "fuzz.usew", msg, sizeof msg);
    if (!f) {
        if (!msg[0]) abort(); /* every refusal says why */
        return;
    }
    userec_error err = {0};
    userec_model *m = model_from_file(f, &err); /* takes f, closes it on failure */
    if (!m) {
        if (!err.status || !err.message[0]) abort();
        return;
    }
    const userec_model_info info = userec_info(m);
    if (info.vocab_rows >= 3 && (size_t)info.dim * info.max_len < (1u << 20)) {
        const int32_t ids[3] = {0, 1, 2};
        const size_t offsets[2] = {0, 3};
        float *out = malloc(info.dim * sizeof *out);
        if (out) userec_encode_ids(m, ids, offsets, 1, out, NULL, &err);
        free(out);
    }
    userec_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    open_model(copy, size);
    fix_checksums(copy, size);
    open_model(copy, size);
    free(copy);
    return 0;
}
