/* utf8.h: UTF-8 validity, judged as utf8proc (the tokenizer) and Python's strict decoder judge it: no overlong
 * forms, no surrogates, nothing past U+10FFFF. */
#ifndef USEREC_UTF8_H
#define USEREC_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The length (1-4) of the valid UTF-8 sequence at s[0..n), or 0 when the bytes there are not one. */
static inline size_t utf8_sequence_length(const uint8_t *s, size_t n) {
    const uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return len;
}

/* 1 when s[0..n) is valid UTF-8. */
static inline int utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) { /* eight ASCII bytes at a time */
            uint64_t word;
            memcpy(&word, s + i, 8);
            if (!(word & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        const size_t len = utf8_sequence_length(s + i, n - i);
        if (!len) return 0;
        i += len;
    }
    return 1;
}

#endif
