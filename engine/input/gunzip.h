/* gunzip.h: the input readers' gzip layer: an input that starts with the gzip magic (a .json.gz export, say)
 * is inflated as it is read, in bounded memory, whatever its size; concatenated gzip members are read one
 * after another, as gzip -d does. */
#ifndef USEREC_GUNZIP_H
#define USEREC_GUNZIP_H

#include <stddef.h>
#include <stdint.h>

#define GZIP_MAGIC "\x1f\x8b"

typedef struct gunzip gunzip;

#define GUNZIP_MAX_START ((size_t)256 << 10)

/* A decoder whose compressed input starts with the n bytes at start (at most GUNZIP_MAX_START, already read
 * from the file), then continues from the file. Returns NULL with err set when memory runs out. */
gunzip *gunzip_new(const uint8_t *start, size_t n, char *err, size_t err_len);
/* Inflates up to cap bytes into dst, reading fd as needed. Returns the bytes written (0 at the end of the
 * input), or -1 with err naming the file (`name`) and the problem, and *failure set to its class: a read error
 * (USEREC_ERR_IO), corrupt or truncated data (USEREC_ERR_FORMAT). */
long gunzip_read(gunzip *g, int fd, uint8_t *dst, size_t cap, const char *name, int *failure, char *err,
                 size_t err_len);
/* Compressed bytes consumed so far (for progress against the file's size). */
size_t gunzip_compressed_bytes(const gunzip *g);
void gunzip_free(gunzip *g);

#endif
