/* test_weights_fuzz.c: the loader never crashes on a damaged file and always says what is wrong.
 * Starts from a real converted model (USEREC_TEST_MODEL, set by tests/run.py) and feeds usew_parse:
 * truncations at every structural boundary, flipped bits everywhere, and structure-aware mutations of header
 * and table fields with the checksums recomputed, so the checks behind the checksums get exercised too; a
 * mutated file the parser accepts goes on through the whole model open path (architecture check, tensor
 * binding, tokenizers, userec_free), as tests/fuzz/fuzz_model.c does under the sanitizers. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/model.h"
#include "model/usew.h"
#include "common/util.h"
#include "model/weights.h"

static uint8_t *load_file(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    *size = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *buf = malloc(*size);
    if (buf && fread(buf, 1, *size, fp) != *size) free(buf), buf = NULL;
    fclose(fp);
    return buf;
}

static void wr_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* After editing header or table bytes, make the checksums agree again. */
static void fix_checksums(uint8_t *buf, size_t size) {
    uint32_t n = rd_u32(buf + USEW_H_N_TENSORS);
    if (USEW_HEADER_BYTES + (uint64_t)n * USEW_RECORD_BYTES <= size)
        wr_u32(buf + USEW_H_TABLE_CRC32, usew_crc32(buf + USEW_HEADER_BYTES, (size_t)n * USEW_RECORD_BYTES));
    wr_u32(buf + USEW_H_HEADER_CRC32, usew_crc32(buf, USEW_H_HEADER_CRC32));
}

/* Parses a mutated copy; a pass is "refused with a message" (or, for a harmless edit, accepted). With
 * whole_model, what the parser accepts is then opened as a model (and freed), which must also refuse with a
 * message or succeed. */
static int opened(const uint8_t *buf, size_t size, int whole_model, char *err, size_t err_len) {
    err[0] = 0;
    usew_file *f = usew_parse(buf, size, "fuzz.usew", err, err_len);
    if (f && !whole_model) {
        usew_close(f);
        return 0;
    }
    if (!f) return err[0] ? 1 : -1; /* -1: refused without saying why */
    userec_error uerr = {0};
    userec_model *m = model_from_file(f, &uerr);
    snprintf(err, err_len, "%s", uerr.message);
    userec_free(m);
    return m ? 0 : uerr.message[0] ? 1 : -1;
}

static int refused(const uint8_t *buf, size_t size, char *err, size_t err_len) {
    return opened(buf, size, 0, err, err_len);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

int main(void) {
    const char *path = getenv("USEREC_TEST_MODEL");
    size_t size = 0;
    uint8_t *orig = path ? load_file(path, &size) : NULL;
    if (!orig) {
        SKIP("weights_fuzz", "USEREC_TEST_MODEL is not set or unreadable (tests/run.py sets it)");
        return 0;
    }
    char err[512];
    CHECK(refused(orig, size, err, sizeof err) == 0, "weights_fuzz.pristine_loads", "%s", err);
    uint8_t *buf = malloc(size);
    uint32_t n = rd_u32(orig + USEW_H_N_TENSORS);

    /* Truncations: inside the magic, header, table, at and around every tensor's start and end. */
    int silent = 0, accepted = 0, cases = 0;
    size_t cuts[4096], n_cuts = 0;
    size_t fixed[] = {0, 1, 7, 8, 100, USEW_HEADER_BYTES - 1, USEW_HEADER_BYTES, USEW_HEADER_BYTES + 1,
                      USEW_HEADER_BYTES + n * USEW_RECORD_BYTES - 1, size - 1};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) cuts[n_cuts++] = fixed[i];
    for (uint32_t t = 0; t < n && n_cuts + 2 < sizeof cuts / sizeof cuts[0]; t++) {
        const uint8_t *rec = orig + USEW_HEADER_BYTES + (size_t)t * USEW_RECORD_BYTES;
        cuts[n_cuts++] = rd_u64(rec + USEW_R_OFFSET);
        cuts[n_cuts++] = rd_u64(rec + USEW_R_OFFSET) + rd_u64(rec + USEW_R_NBYTES) - 1;
    }
    for (size_t i = 0; i < n_cuts; i++) {
        int r = refused(orig, cuts[i], err, sizeof err);
        cases++, silent += r < 0, accepted += r == 0;
    }
    CHECK(!silent && !accepted, "weights_fuzz.truncations_refused", "%d of %d truncations accepted, %d silent",
          accepted, cases, silent);
    CHECK(refused(orig, size - 1, err, sizeof err) == 1 && strstr(err, "truncated") && strstr(err, "convert.py"),
          "weights_fuzz.truncation_message_names_fix", "message was: %s", err);

    /* One flipped bit anywhere must be refused: checksums cover data, zero checks cover padding. */
    silent = accepted = cases = 0;
    for (int i = 0; i < 300; i++) {
        memcpy(buf, orig, size);
        size_t pos = i < 150 ? rng() % (USEW_HEADER_BYTES + n * USEW_RECORD_BYTES) : rng() % size;
        buf[pos] ^= (uint8_t)(1u << (rng() % 8));
        int r = refused(buf, size, err, sizeof err);
        cases++, silent += r < 0, accepted += r == 0;
    }
    CHECK(!silent && !accepted, "weights_fuzz.bit_flips_refused", "%d of %d flips accepted, %d silent", accepted,
          cases, silent);

    /* Structure-aware: random values in header fields and record fields, checksums fixed up. Must never
     * crash; every refusal carries a message. (Some edits, e.g. to a hyper-parameter, are structurally valid
     * and legitimately accepted here: model-level checks come later, in userec_load.) */
    silent = cases = 0;
    static const uint32_t header_fields[] = {USEW_H_VERSION, USEW_H_HEADER_BYTES, USEW_H_FILE_BYTES,
                                             USEW_H_TABLE_OFFSET, USEW_H_N_TENSORS, USEW_H_N_LAYERS};
    static const uint32_t record_fields[] = {USEW_R_NAME, USEW_R_DTYPE, USEW_R_NDIM, USEW_R_SHAPE, USEW_R_SHAPE + 4,
                                             USEW_R_SHAPE + 12, USEW_R_OFFSET, USEW_R_OFFSET + 4, USEW_R_NBYTES,
                                             USEW_R_NBYTES + 4};
    for (int i = 0; i < 3000; i++) {
        memcpy(buf, orig, USEW_HEADER_BYTES + (size_t)n * USEW_RECORD_BYTES); /* data stays pristine */
        if (i == 0) memcpy(buf + USEW_HEADER_BYTES, orig + USEW_HEADER_BYTES, size - USEW_HEADER_BYTES);
        uint32_t value = (uint32_t)rng();
        value = (rng() & 1) ? value : value % 4 == 0 ? 0 : value % 4 == 1 ? 0xFFFFFFFFu : value % 300;
        if (i % 50 == 1) value = i % 100 == 1 ? 9 : 0xFFFFFFFFu; /* layer counts past the format's 8 */
        if (rng() % 4 == 0)
            wr_u32(buf + header_fields[rng() % (sizeof header_fields / sizeof header_fields[0])], value);
        else
            wr_u32(buf + USEW_HEADER_BYTES + (rng() % n) * USEW_RECORD_BYTES +
                       record_fields[rng() % (sizeof record_fields / sizeof record_fields[0])],
                   value);
        if (i % 50 == 1) wr_u32(buf + USEW_H_N_LAYERS, value);
        fix_checksums(buf, size);
        cases++, silent += opened(buf, size, 1, err, sizeof err) < 0;
    }
    CHECK(!silent, "weights_fuzz.field_mutations_explained", "%d of %d refusals had no message", silent, cases);
    memcpy(buf, orig, size);
    for (int k = 0; k < 2; k++) {
        wr_u32(buf + USEW_H_N_LAYERS, k ? 0xFFFFFFFFu : USEW_MAX_LAYERS + 1);
        fix_checksums(buf, size);
        CHECK(opened(buf, size, 1, err, sizeof err) == 1 && strstr(err, "implausible hyper-parameters"),
              k ? "weights_fuzz.n_layers_0xffffffff_refused" : "weights_fuzz.n_layers_9_refused", "message was: %s", err);
    }

    memcpy(buf, orig, size);
    wr_u32(buf + USEW_H_VERSION, USEW_VERSION + 1);
    fix_checksums(buf, size);
    CHECK(refused(buf, size, err, sizeof err) == 1 && strstr(err, "version") && strstr(err, "convert.py"),
          "weights_fuzz.version_message", "message was: %s", err);
    memcpy(buf, "PK\x03\x04", 4);
    CHECK(refused(buf, size, err, sizeof err) == 1 && strstr(err, "magic"), "weights_fuzz.magic_message",
          "message was: %s", err);
    free(buf);
    free(orig);
    CHECK_DONE();
}
