/* json_string.h: JSON string literals to bytes (the tfjs vocab.json, `tokenize --format jsonl`, JSON inputs). */
#ifndef USEREC_JSON_STRING_H
#define USEREC_JSON_STRING_H

#include <stddef.h>
#include <stdint.h>

#include "common/grow.h"

/* Decodes the JSON string literal at text[*pos] (which must be '"') and appends its bytes to *out; leaves *pos
 * after the closing quote.
 * Bytes other than '"', '\\' and controls are copied as they are (so invalid UTF-8 passes through); escapes
 * become UTF-8, a \uD800-\uDFFF escape without its partner becomes that surrogate's 3-byte form
 * (ED A0 80 .. ED BF BF, "WTF-8"). Returns 0, or -1 with err naming the byte offset and the problem. */
int json_string_decode(const uint8_t *text, size_t len, size_t *pos, byte_buf *out, char *err, size_t err_len);

#endif
