/* sha256.h: SHA-256 (FIPS 180-4), for content identity: a catalogue row's hash in the store (engine/store/), the
 * checksums of published outputs (output/publish.h), an input or model file's fingerprint. Streaming: init,
 * update any number of times, final. */
#ifndef USEREC_SHA256_H
#define USEREC_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t bytes;     /* message length so far */
    uint8_t block[64];  /* a partial block */
    size_t used;        /* bytes in block */
} sha256_ctx;

#define SHA256_BYTES 32

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t digest[SHA256_BYTES]);
/* The digest of one buffer. */
void sha256(const void *data, size_t n, uint8_t digest[SHA256_BYTES]);
/* 2 * n lowercase hex digits and a NUL into out. */
void sha256_hex(const uint8_t *digest, size_t n, char *out);

/* The digest of everything fd holds from offset 0 (pread: the file position is left alone). Returns 0, or -1 with
 * errno set by the failed read. *size gets the byte count. */
int sha256_fd(int fd, uint8_t digest[SHA256_BYTES], uint64_t *size);

#endif
