/* json_string.h: JSON string literals: decoded to bytes (the tfjs vocab.json, `tokenize --format jsonl`, JSON
 * inputs), and written from bytes (every JSON output: embed and related JSONL, query --format json). */
#ifndef USEREC_JSON_STRING_H
#define USEREC_JSON_STRING_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/grow.h"

/* Decodes the JSON string literal at text[*pos] (which must be '"') and appends its bytes to *out; leaves *pos
 * after the closing quote.
 * Bytes other than '"', '\\' and controls are copied as they are (so invalid UTF-8 passes through); escapes
 * become UTF-8, a \uD800-\uDFFF escape without its partner becomes that surrogate's 3-byte form
 * (ED A0 80 .. ED BF BF, "WTF-8"). Returns 0, or -1 with err naming the byte offset and the problem. */
int json_string_decode(const uint8_t *text, size_t len, size_t *pos, byte_buf *out, char *err, size_t err_len);

/* Writes s (NUL-terminated bytes) as a JSON string literal: quotes, backslashes and control bytes escaped, valid
 * UTF-8 as it is. JSON text must be Unicode, so each byte that is not part of valid UTF-8 is written as \ufffd;
 * returns 1 when that happened (the caller says so), else 0. */
int json_string_write(FILE *f, const char *s);

#endif
