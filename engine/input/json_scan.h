/* json_scan.h: one JSON object's top-level members, for JSON-lines input: validate the object (RFC 8259),
 * find where wanted keys' values start, and turn such a value into text. No tree is built. */
#ifndef USEREC_JSON_SCAN_H
#define USEREC_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/grow.h"

#define JSON_SCAN_MAX_DEPTH 512

/* Checks that text[0..len) is one JSON object (white space around it allowed) and sets value_at[k] to the
 * offset of the value of top-level key keys[k] (its last occurrence, as Python's json keeps), or SIZE_MAX
 * when the object has no such key. scratch is working memory. Returns 0, or -1 with why = "byte N: problem". */
int json_scan_object(const uint8_t *text, size_t len, const char *const *keys, size_t n_keys, size_t *value_at,
                     byte_buf *scratch, char *why, size_t why_len);

/* Appends the value at text[at] (inside an object json_scan_object accepted) to *out as text: a string
 * decoded, a number, true or false as written, null as nothing, an array's items joined by single spaces
 * (null items left out). Returns 0, or -1 with why when the value is an object, or an array holding arrays
 * or objects. */
int json_value_text(const uint8_t *text, size_t len, size_t at, byte_buf *out, char *why, size_t why_len);

/* Where the value at text[at] (inside an object json_scan_object accepted) ends: the offset just after it, or
 * SIZE_MAX when it is not a valid value. For a member that is itself an object, to scan it with json_scan_object. */
size_t json_value_end(const uint8_t *text, size_t len, size_t at, byte_buf *scratch);

#endif
