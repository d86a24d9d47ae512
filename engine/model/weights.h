/* weights.h: load and validate a .usew file (engine/usew.h) by mmap; look tensors up by name. */
#ifndef USEREC_WEIGHTS_H
#define USEREC_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "model/usew.h"

typedef struct {
    char name[USEW_NAME_BYTES];
    uint32_t dtype; /* enum usew_dtype */
    uint32_t ndim;
    uint32_t shape[USEW_MAX_DIMS];
    uint64_t offset, nbytes;
    uint32_t crc32;
    const void *data; /* points into the mapping, 64-byte aligned */
} usew_tensor;

typedef struct {
    uint32_t version, n_layers, d_model, n_heads, d_ffn, vocab_rows, n_pieces, max_len, pooling, flags;
    uint32_t default_tokenizer, normalizer_flags, unk_id;
    uint32_t layer_width[USEW_MAX_LAYERS];
    float ln_eps, l2_floor;
} usew_hparams;

typedef struct usew_file {
    const uint8_t *map;
    size_t size;
    usew_hparams hp;
    uint32_t n_tensors;
    usew_tensor *tensors;
    char *path;   /* the file, or usew_parse's label: what messages name */
    int owns_map; /* usew_open's files unmap at usew_close; usew_parse's buffers belong to the caller */
} usew_file;

/* Maps and fully validates path (structure and every checksum). On failure returns NULL, writes a message
 * naming the file, the problem and how to reconvert into err (err_len bytes), and sets *io_failed (when not
 * NULL) to 1 if the file could not be read at all, 0 if it was read but is not a valid .usew file. */
usew_file *usew_open(const char *path, int *io_failed, char *err, size_t err_len);

/* Validates an in-memory image (used by usew_open and by the fuzz tests). Does not copy: buf must outlive
 * the result. label names the source in messages. */
usew_file *usew_parse(const uint8_t *buf, size_t size, const char *label, char *err, size_t err_len);

void usew_close(usew_file *f);

/* The tensor of that name, or NULL. */
const usew_tensor *usew_find(const usew_file *f, const char *name);

/* CRC-32 (zlib/IEEE polynomial), the checksum of every part of a .usew file. */
uint32_t usew_crc32(const void *data, size_t n);

size_t usew_dtype_size(uint32_t dtype);
const char *usew_dtype_name(uint32_t dtype);

#endif
