/* json_string.c: decodes JSON string literals (RFC 8259 section 7), strictly: raw control characters and
 * unknown escapes are errors, as in JavaScript's JSON.parse. */
#include "common/json_string.h"

#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "common/util.h"

static int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The 4 hex digits at p as a UTF-16 code unit; -1 when they are not hex digits. */
static int hex4(const uint8_t *p, uint32_t *value) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p[i]);
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    *value = v;
    return 0;
}

/* UTF-8 of cp, surrogates included (they only come from unpaired escapes). */
static size_t put_utf8(uint8_t *dst, uint32_t cp) {
    if (cp < 0x80) {
        dst[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (uint8_t)(0xC0 | cp >> 6);
        dst[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (uint8_t)(0xE0 | cp >> 12);
        dst[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        dst[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (uint8_t)(0xF0 | cp >> 18);
    dst[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    dst[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    dst[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

int json_string_decode(const uint8_t *text, size_t len, size_t *pos, byte_buf *out, char *err, size_t err_len) {
    size_t i = *pos;
    if (i >= len || text[i] != '"') return ERR(err, err_len, "byte %zu: expected a JSON string", i);
    i++;
    for (;;) {
        /* Each step appends at most 4 bytes. */
        if (GROW(out->data, out->cap, out->len + 4))
            return ERR(err, err_len, "out of memory for a %zu-byte JSON string", out->len + 4);
        if (i >= len) return ERR(err, err_len, "byte %zu: the JSON string starting at byte %zu is not closed", i, *pos);
        uint8_t c = text[i];
        if (c == '"') break;
        if (c < 0x20) return ERR(err, err_len, "byte %zu: control character 0x%02x inside a JSON string", i, c);
        if (c != '\\') {
            out->data[out->len++] = c;
            i++;
            continue;
        }
        if (i + 1 >= len) return ERR(err, err_len, "byte %zu: the JSON string ends inside an escape", i);
        uint8_t e = text[i + 1];
        const char *simple = "\"\\/bfnrt", *meaning = "\"\\/\b\f\n\r\t";
        const char *hit = e ? strchr(simple, e) : NULL;
        if (hit) {
            out->data[out->len++] = (uint8_t)meaning[hit - simple];
            i += 2;
            continue;
        }
        uint32_t unit;
        if (e != 'u' || i + 6 > len || hex4(text + i + 2, &unit))
            return ERR(err, err_len, "byte %zu: invalid escape in a JSON string", i);
        i += 6;
        uint32_t low;
        if (unit >= 0xD800 && unit < 0xDC00 && i + 6 <= len && text[i] == '\\' && text[i + 1] == 'u' &&
            !hex4(text + i + 2, &low) && low >= 0xDC00 && low < 0xE000) {
            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
        }
        out->len += put_utf8(out->data + out->len, unit);
    }
    *pos = i + 1;
    return 0;
}

int json_string_write(FILE *f, const char *s) {
    const uint8_t *p = (const uint8_t *)s;
    const size_t n = strlen(s);
    int repaired = 0;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        const uint8_t c = p[i];
        const size_t len = utf8_sequence_length(p + i, n - i);
        if (!len) {
            fputs("\\ufffd", f);
            repaired = 1;
            i++;
            continue;
        }
        if (c == '"' || c == '\\') fputc('\\', f), fputc(c, f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fwrite(p + i, 1, len, f);
        i += len;
    }
    fputc('"', f);
    return repaired;
}
