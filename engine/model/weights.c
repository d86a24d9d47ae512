/* weights.c: maps a .usew file and validates every byte of it before the engine trusts any of it. */
#include "model/weights.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/regular_file.h"
#include "common/util.h"

#define RECONVERT_HINT "reconvert the model with: python3 tools/convert.py SRC_DIR -o MODEL.usew"

size_t usew_dtype_size(uint32_t dtype) {
    switch (dtype) {
    case USEW_F32: case USEW_I32: return 4;
    case USEW_F16: case USEW_BF16: return 2;
    case USEW_U8: return 1;
    default: return 0;
    }
}

const char *usew_dtype_name(uint32_t dtype) {
    static const char *names[] = {"f32", "f16", "bf16", "i32", "u8"};
    return dtype < sizeof names / sizeof names[0] ? names[dtype] : "?";
}

/* Says what a file without our magic looks like, so the user knows which command they meant. */
static const char *guess_kind(const uint8_t *buf, size_t size) {
    static const uint8_t leveldb_magic[8] = {0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb};
    if (size >= 6 && !memcmp(buf, "\x93NUMPY", 6)) return "a NumPy .npy file, not a model";
    if (size >= 1 && (buf[0] == '{' || buf[0] == '[')) return "JSON (a tfjs model.json?); convert its folder first";
    if (size >= 48 && !memcmp(buf + size - 8, leveldb_magic, 8))
        return "a TensorFlow checkpoint index; convert the TF Hub module folder first";
    if (size >= 4 && !memcmp(buf, "USEW", 4)) return "a damaged .usew header";
    return "not a .usew model";
}

/* Reads and checks one 128-byte tensor record; bounds and alignment are checked against the file size. */
static int parse_record(const uint8_t *rec, size_t file_size, uint32_t index, usew_tensor *t, const char *label,
                        char *err, size_t err_len) {
    memcpy(t->name, rec + USEW_R_NAME, USEW_NAME_BYTES);
    if (!memchr(t->name, 0, USEW_NAME_BYTES) || !t->name[0])
        return ERR(err, err_len, "%s: tensor record %u has no valid name; %s", label, index, RECONVERT_HINT);
    t->dtype = rd_u32(rec + USEW_R_DTYPE);
    t->ndim = rd_u32(rec + USEW_R_NDIM);
    t->offset = rd_u64(rec + USEW_R_OFFSET);
    t->nbytes = rd_u64(rec + USEW_R_NBYTES);
    t->crc32 = rd_u32(rec + USEW_R_CRC32);
    size_t elem = usew_dtype_size(t->dtype);
    if (!elem) return ERR(err, err_len, "%s: tensor '%s' has unknown dtype %u", label, t->name, t->dtype);
    if (t->ndim > USEW_MAX_DIMS)
        return ERR(err, err_len, "%s: tensor '%s' has %u dimensions (at most %d)", label, t->name, t->ndim,
                   USEW_MAX_DIMS);
    uint64_t count = 1;
    for (uint32_t d = 0; d < USEW_MAX_DIMS; d++) {
        t->shape[d] = rd_u32(rec + USEW_R_SHAPE + 4 * d);
        if (d < t->ndim) count *= t->shape[d]; /* each dim < 2^32 and at most 4 of them: checked below */
        else if (t->shape[d])
            return ERR(err, err_len, "%s: tensor '%s' has a non-zero unused dimension", label, t->name);
        if (count > file_size) return ERR(err, err_len, "%s: tensor '%s' is larger than the file", label, t->name);
    }
    if (count * elem != t->nbytes)
        return ERR(err, err_len, "%s: tensor '%s' says %llu bytes but its shape needs %llu", label, t->name,
                   (unsigned long long)t->nbytes, (unsigned long long)(count * elem));
    if (t->offset % USEW_ALIGN)
        return ERR(err, err_len, "%s: tensor '%s' offset %llu is not %d-byte aligned", label, t->name,
                   (unsigned long long)t->offset, USEW_ALIGN);
    if (t->offset > file_size || t->nbytes > file_size - t->offset)
        return ERR(err, err_len, "%s: tensor '%s' (offset %llu, %llu bytes) runs past the end of the file (%zu bytes)",
                   label, t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes, file_size);
    return 0;
}

static int by_offset(const void *a, const void *b) {
    const usew_tensor *x = *(usew_tensor *const *)a, *y = *(usew_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Tensors must not overlap the table or each other, and the gaps between them must be zero: then every byte
 * of the file is either covered by a checksum or checked here. */
static int check_layout(const usew_file *f, const char *label, char *err, size_t err_len) {
    usew_tensor **order = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *order);
    if (!order) return ERR(err, err_len, "%s: out of memory", label);
    for (uint32_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, f->n_tensors, sizeof *order, by_offset);
    uint64_t pos = USEW_HEADER_BYTES + (uint64_t)f->n_tensors * USEW_RECORD_BYTES;
    int rc = 0;
    for (uint32_t i = 0; i <= f->n_tensors && !rc; i++) {
        uint64_t next = i < f->n_tensors ? order[i]->offset : f->size;
        if (next < pos)
            rc = ERR(err, err_len, "%s: tensor '%s' overlaps the table or another tensor; %s", label, order[i]->name,
                     RECONVERT_HINT);
        for (uint64_t b = pos; b < next && !rc; b++)
            if (f->map[b])
                rc = ERR(err, err_len, "%s: non-zero padding byte at offset %llu (the file is corrupted); %s", label,
                         (unsigned long long)b, RECONVERT_HINT);
        if (i < f->n_tensors) pos = order[i]->offset + order[i]->nbytes;
    }
    free(order);
    return rc;
}

static int parse_header(const uint8_t *buf, size_t size, usew_file *f, const char *label, char *err,
                        size_t err_len) {
    if (size < USEW_MAGIC_BYTES || memcmp(buf, USEW_MAGIC, USEW_MAGIC_BYTES))
        return ERR(err, err_len, "%s: not a .usew weight file (wrong magic: %s); %s", label, guess_kind(buf, size),
                   RECONVERT_HINT);
    if (size < USEW_HEADER_BYTES)
        return ERR(err, err_len, "%s: truncated: %zu bytes, shorter than the %d-byte header; %s", label, size,
                   USEW_HEADER_BYTES, RECONVERT_HINT);
    uint32_t version = rd_u32(buf + USEW_H_VERSION);
    if (version != USEW_VERSION)
        return ERR(err, err_len, "%s: format version %u, this userec reads version %d; %s", label, version,
                   USEW_VERSION, RECONVERT_HINT);
    if (usew_crc32(buf, USEW_H_HEADER_CRC32) != rd_u32(buf + USEW_H_HEADER_CRC32))
        return ERR(err, err_len, "%s: header checksum mismatch (the file is corrupted); %s", label, RECONVERT_HINT);
    uint64_t file_bytes = rd_u64(buf + USEW_H_FILE_BYTES);
    if (file_bytes != size)
        return ERR(err, err_len, "%s: %s: the header says %llu bytes, the file has %zu; %s", label,
                   size < file_bytes ? "truncated" : "trailing bytes", (unsigned long long)file_bytes, size,
                   RECONVERT_HINT);
    if (rd_u32(buf + USEW_H_HEADER_BYTES) != USEW_HEADER_BYTES || rd_u64(buf + USEW_H_TABLE_OFFSET) != USEW_HEADER_BYTES)
        return ERR(err, err_len, "%s: unexpected header or table offset; %s", label, RECONVERT_HINT);
    usew_hparams *hp = &f->hp;
    hp->version = version;
    hp->n_layers = rd_u32(buf + USEW_H_N_LAYERS);
    hp->d_model = rd_u32(buf + USEW_H_D_MODEL);
    hp->n_heads = rd_u32(buf + USEW_H_N_HEADS);
    hp->d_ffn = rd_u32(buf + USEW_H_D_FFN);
    hp->vocab_rows = rd_u32(buf + USEW_H_VOCAB_ROWS);
    hp->n_pieces = rd_u32(buf + USEW_H_N_PIECES);
    hp->max_len = rd_u32(buf + USEW_H_MAX_LEN);
    hp->pooling = rd_u32(buf + USEW_H_POOLING);
    hp->flags = rd_u32(buf + USEW_H_FLAGS);
    hp->default_tokenizer = rd_u32(buf + USEW_H_DEFAULT_TOKENIZER);
    hp->normalizer_flags = rd_u32(buf + USEW_H_NORMALIZER_FLAGS);
    hp->unk_id = rd_u32(buf + USEW_H_UNK_ID);
    hp->ln_eps = rd_f32(buf + USEW_H_LN_EPS);
    hp->l2_floor = rd_f32(buf + USEW_H_L2_FLOOR);
    for (int i = 0; i < USEW_MAX_LAYERS; i++) hp->layer_width[i] = rd_u32(buf + USEW_H_LAYER_WIDTH + 4 * i);
    f->n_tensors = rd_u32(buf + USEW_H_N_TENSORS);
    uint64_t table_end = USEW_HEADER_BYTES + (uint64_t)f->n_tensors * USEW_RECORD_BYTES;
    if (table_end > size)
        return ERR(err, err_len, "%s: the tensor table (%u records) runs past the end of the file; %s", label,
                   f->n_tensors, RECONVERT_HINT);
    if (usew_crc32(buf + USEW_HEADER_BYTES, table_end - USEW_HEADER_BYTES) != rd_u32(buf + USEW_H_TABLE_CRC32))
        return ERR(err, err_len, "%s: tensor table checksum mismatch (the file is corrupted); %s", label,
                   RECONVERT_HINT);
    return 0;
}

usew_file *usew_parse(const uint8_t *buf, size_t size, const char *label, char *err, size_t err_len) {
    usew_file *f = calloc(1, sizeof *f);
    if (!f) return ERR(err, err_len, "%s: out of memory", label), NULL;
    f->map = buf;
    f->size = size;
    if (!(f->path = strdup(label))) {
        ERR(err, err_len, "%s: out of memory", label);
        goto fail;
    }
    if (parse_header(buf, size, f, label, err, err_len)) goto fail;
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    if (!f->tensors) {
        ERR(err, err_len, "%s: out of memory for %u tensor records", label, f->n_tensors);
        goto fail;
    }
    for (uint32_t i = 0; i < f->n_tensors; i++) {
        usew_tensor *t = &f->tensors[i];
        if (parse_record(buf + USEW_HEADER_BYTES + (size_t)i * USEW_RECORD_BYTES, size, i, t, label, err, err_len))
            goto fail;
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(f->tensors[j].name, t->name)) {
                ERR(err, err_len, "%s: tensor '%s' appears twice; %s", label, t->name, RECONVERT_HINT);
                goto fail;
            }
        if (usew_crc32(buf + t->offset, t->nbytes) != t->crc32) {
            ERR(err, err_len, "%s: checksum mismatch in tensor '%s' (the file is corrupted); %s", label, t->name,
                RECONVERT_HINT);
            goto fail;
        }
        t->data = buf + t->offset;
    }
    if (check_layout(f, label, err, err_len)) goto fail;
    return f;
fail:
    free(f->tensors);
    free(f->path);
    free(f);
    return NULL;
}

usew_file *usew_open(const char *path, int *io_failed, char *err, size_t err_len) {
    int dummy, why;
    if (!io_failed) io_failed = &dummy;
    *io_failed = 1;
    struct stat st;
    int fd = open_regular_file(path, &st, &why, err, err_len);
    if (fd < 0) {
        if (why == REGULAR_FILE_KIND && S_ISDIR(st.st_mode))
            return *io_failed = 0, ERR(err, err_len, "%s: is a directory, not a .usew file; convert it with: python3 "
                                       "tools/convert.py %s -o MODEL.usew", path, path), NULL;
        return NULL;
    }
    *io_failed = 0;
    if (st.st_size == 0) {
        close(fd);
        return ERR(err, err_len, "%s: empty file; %s", path, RECONVERT_HINT), NULL;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return *io_failed = 1, SYS_ERR(err, err_len, path, "mmap"), NULL;
    usew_file *f = usew_parse(map, (size_t)st.st_size, path, err, err_len);
    if (!f) {
        munmap(map, (size_t)st.st_size);
        return NULL;
    }
    f->owns_map = 1;
    return f;
}

void usew_close(usew_file *f) {
    if (!f) return;
    if (f->owns_map) munmap((void *)f->map, f->size);
    free(f->tensors);
    free(f->path);
    free(f);
}

const usew_tensor *usew_find(const usew_file *f, const char *name) {
    for (uint32_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}
