/* gunzip.c: gzip-compressed input, inflated as it is read (gunzip.h). */
#include "input/gunzip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/error.h"
#include "common/util.h"

#define RAW_CHUNK GUNZIP_MAX_START

struct gunzip {
    z_stream z;
    uint8_t raw[RAW_CHUNK];
    int raw_eof;       /* the compressed input has ended */
    int member_ended;  /* the last inflate finished a gzip member; another may follow (concatenated .gz files) */
    size_t compressed; /* compressed bytes read so far */
};

gunzip *gunzip_new(const uint8_t *start, size_t n, char *err, size_t err_len) {
    if (n > GUNZIP_MAX_START) return ERR(err, err_len, "gzip: %zu bytes to start from, more than %zu", n, GUNZIP_MAX_START), NULL;
    gunzip *g = calloc(1, sizeof *g);
    if (!g) return ERR(err, err_len, "out of memory for the gzip decoder"), NULL;
    memcpy(g->raw, start, n);
    g->z.next_in = g->raw;
    g->z.avail_in = (uInt)n;
    g->compressed = n;
    if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) { /* 16: a gzip header and trailer, checked */
        free(g);
        return ERR(err, err_len, "the gzip decoder could not start"), NULL;
    }
    return g;
}

long gunzip_read(gunzip *g, int fd, uint8_t *dst, size_t cap, const char *name, int *failure, char *err,
                 size_t err_len) {
    g->z.next_out = dst;
    g->z.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
    while (g->z.avail_out == cap) { /* until some output, or the end */
        if (!g->z.avail_in && !g->raw_eof) {
            ssize_t n = read(fd, g->raw, RAW_CHUNK);
            if (n < 0) {
                if (errno == EINTR) continue;
                *failure = USEREC_ERR_IO;
                return SYS_ERR(err, err_len, name, "read");
            }
            g->raw_eof = n == 0;
            g->z.next_in = g->raw;
            g->z.avail_in = (uInt)n;
            g->compressed += (size_t)n;
        }
        if (!g->z.avail_in && g->raw_eof) {
            if (g->member_ended) return 0;
            *failure = USEREC_ERR_FORMAT;
            return ERR(err, err_len, "%s: the gzip data ends early (a truncated file?)", name);
        }
        if (g->member_ended) { /* bytes after a member: the next member of a concatenated file */
            if (inflateReset(&g->z) != Z_OK) {
                *failure = USEREC_ERR_FORMAT;
                return ERR(err, err_len, "%s: the gzip decoder failed", name);
            }
            g->member_ended = 0;
        }
        const int rc = inflate(&g->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) g->member_ended = 1;
        else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            *failure = USEREC_ERR_FORMAT;
            return ERR(err, err_len, "%s: corrupt gzip data near compressed byte %zu: %s", name,
                       g->compressed - g->z.avail_in, g->z.msg ? g->z.msg : "inflate failed");
        }
    }
    return (long)(cap - g->z.avail_out);
}

size_t gunzip_compressed_bytes(const gunzip *g) { return g->compressed - g->z.avail_in; }

void gunzip_free(gunzip *g) {
    if (!g) return;
    inflateEnd(&g->z);
    free(g);
}
