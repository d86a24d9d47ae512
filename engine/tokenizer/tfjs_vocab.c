/* tfjs_vocab.c: reads the npm package's vocab.json (a JSON array of [piece, score] pairs) into the tables the
 * tfjs tokenizer walks, keeping what JavaScript would see:
 * - pieces as UTF-16 code units (JavaScript strings), so .length and per-unit symbols match the package;
 * - scores as doubles parsed like JSON.parse (correctly rounded); null kept as 0, which is what `null + x`
 *   adds in JavaScript;
 * - the trie holds entries >= 6 only, and a later entry with the same piece replaces the earlier one, as
 *   the package's Trie.insert does (vocab.json's ids 230, 238 and 4464 all read "”5": 4464 wins).
 * A vocabulary the package could not use the same way (not valid UTF-8, entries that are not
 * [string, number|null], an empty entry 0 that would make its backward pass loop forever) is refused. */
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/json_string.h"
#include "tokenizer/tokenizer_impl.h"
#include "common/util.h"

typedef struct {
    const uint8_t *text;
    size_t len, pos;
    locale_t c_locale; /* numbers are read with '.' whatever the process locale */
    byte_buf piece;    /* the current piece's bytes */
    uint16_t *units; /* every entry's UTF-16 units, back to back */
    size_t n_units, units_cap;
    uint32_t *offsets; /* entry i is units[offsets[i] .. offsets[i+1]) */
    size_t offsets_cap;
    double *scores;
    size_t scores_cap;
    uint32_t n_entries;
} reader;

static void skip_space(reader *r) {
    for (; r->pos < r->len; r->pos++) {
        uint8_t c = r->text[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    }
}

static int expect(reader *r, uint8_t c, const char *what, char *err, size_t err_len) {
    skip_space(r);
    if (r->pos >= r->len || r->text[r->pos] != c)
        return ERR(err, err_len, "tfjs vocab: byte %zu: expected %s", r->pos, what);
    r->pos++;
    return 0;
}

/* Appends the UTF-16 units of the piece's bytes (valid UTF-8, or the 3-byte form of a lone surrogate). */
static int append_units(reader *r, char *err, size_t err_len) {
    if (tok_grow((void **)&r->units, &r->units_cap, r->n_units + 2 * r->piece.len, sizeof *r->units, err, err_len))
        return -1;
    for (size_t i = 0; i < r->piece.len;) {
        uint8_t b = r->piece.data[i];
        size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        uint32_t cp = n == 1 ? b : n == 2 ? b & 0x1Fu : n == 3 ? b & 0x0Fu : b & 0x07u;
        for (size_t k = 1; k < n; k++) cp = cp << 6 | (r->piece.data[i + k] & 0x3Fu);
        if (cp >= 0x10000) {
            r->units[r->n_units++] = (uint16_t)(0xD800 + ((cp - 0x10000) >> 10));
            r->units[r->n_units++] = (uint16_t)(0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else {
            r->units[r->n_units++] = (uint16_t)cp;
        }
        i += n;
    }
    return 0;
}

/* A JSON number (strict grammar) or null, as JavaScript's `+` will use it. */
static int read_score(reader *r, double *score, char *err, size_t err_len) {
    skip_space(r);
    const uint8_t *t = r->text;
    size_t i = r->pos, start = r->pos;
    if (r->len - i >= 4 && !memcmp(t + i, "null", 4)) {
        r->pos += 4;
        *score = 0.0;
        return 0;
    }
#define DIGITS(at) ((at) < r->len && t[at] >= '0' && t[at] <= '9')
    if (i < r->len && t[i] == '-') i++;
    if (!DIGITS(i)) return ERR(err, err_len, "tfjs vocab: byte %zu: expected a number or null as the score", start);
    if (t[i] == '0') i++;
    else while (DIGITS(i)) i++;
    if (i < r->len && t[i] == '.') {
        if (!DIGITS(i + 1)) return ERR(err, err_len, "tfjs vocab: byte %zu: malformed number", start);
        for (i++; DIGITS(i); i++) {}
    }
    if (i < r->len && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < r->len && (t[i] == '+' || t[i] == '-')) i++;
        if (!DIGITS(i)) return ERR(err, err_len, "tfjs vocab: byte %zu: malformed number", start);
        while (DIGITS(i)) i++;
    }
#undef DIGITS
    char buf[64];
    if (i - start >= sizeof buf) return ERR(err, err_len, "tfjs vocab: byte %zu: number too long", start);
    memcpy(buf, t + start, i - start);
    buf[i - start] = '\0';
    *score = strtod_l(buf, NULL, r->c_locale);
    r->pos = i;
    return 0;
}

static int read_entry(reader *r, char *err, size_t err_len) {
    if (expect(r, '[', "'[' starting a [piece, score] entry", err, err_len)) return -1;
    skip_space(r);
    r->piece.len = 0;
    if (json_string_decode(r->text, r->len, &r->pos, &r->piece, err, err_len)) {
        char why[200];
        snprintf(why, sizeof why, "%s", err);
        return ERR(err, err_len, "tfjs vocab: entry %u: %s", r->n_entries, why);
    }
    uint32_t i = r->n_entries;
    if (tok_grow((void **)&r->offsets, &r->offsets_cap, (size_t)i + 2, sizeof *r->offsets, err, err_len) ||
        tok_grow((void **)&r->scores, &r->scores_cap, (size_t)i + 1, sizeof *r->scores, err, err_len))
        return -1;
    r->offsets[i] = (uint32_t)r->n_units;
    if (append_units(r, err, err_len)) return -1;
    if (r->n_units > UINT32_MAX) return ERR(err, err_len, "tfjs vocab: more than 2^32 UTF-16 units of pieces");
    r->offsets[i + 1] = (uint32_t)r->n_units;
    if (expect(r, ',', "',' after the piece", err, err_len) || read_score(r, &r->scores[i], err, err_len) ||
        expect(r, ']', "']' ending a [piece, score] entry (entries have exactly two elements)", err, err_len))
        return -1;
    r->n_entries++;
    return 0;
}

static int read_vocab(reader *r, char *err, size_t err_len) {
    if (r->len >= 3 && !memcmp(r->text, "\xEF\xBB\xBF", 3)) r->pos = 3; /* fetch().json() drops a BOM too */
    for (size_t i = r->pos; i < r->len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = r->text[i] < 0x80 ? 1 : utf8proc_iterate(r->text + i, (utf8proc_ssize_t)(r->len - i), &cp);
        if (n < 0) return ERR(err, err_len, "tfjs vocab: byte %zu: invalid UTF-8", i);
        i += (size_t)n;
    }
    if (expect(r, '[', "'[' starting the vocabulary array", err, err_len)) return -1;
    skip_space(r);
    if (r->pos < r->len && r->text[r->pos] == ']')
        return ERR(err, err_len, "tfjs vocab: the vocabulary is empty");
    for (;;) {
        if (r->n_entries == INT32_MAX) return ERR(err, err_len, "tfjs vocab: more than 2^31 entries");
        if (read_entry(r, err, err_len)) return -1;
        skip_space(r);
        if (r->pos < r->len && r->text[r->pos] == ',') {
            r->pos++;
            continue;
        }
        if (expect(r, ']', "',' or ']' after an entry", err, err_len)) return -1;
        break;
    }
    skip_space(r);
    if (r->pos != r->len) return ERR(err, err_len, "tfjs vocab: byte %zu: text after the vocabulary array", r->pos);
    if (r->offsets[1] == r->offsets[0])
        return ERR(err, err_len, "tfjs vocab: entry 0 (the unknown piece) is empty: the npm tokenizer's backward "
                                 "pass would never end");
    return 0;
}

/* Whether a text cut just before a space tokenizes as the whole text does up to there: no trie piece holds '▁'
 * past its first unit (so none crosses the cut), and the unknown entry is one unit long (the backward pass
 * steps back over an unknown by that length, so a longer one could step over the cut). */
static int pieces_stay_within_words(const reader *r, const uint32_t *length16) {
    if (length16[0] != 1) return 0;
    for (uint32_t e = TFJS_RESERVED; e < r->n_entries; e++)
        for (uint32_t k = r->offsets[e] + 1; k < r->offsets[e + 1]; k++)
            if (r->units[k] == 0x2581) return 0;
    return 1;
}

/* Numbers the code units of the trie's pieces 1, 2, ... and builds the trie over those labels. */
static int build_trie(tfjs_model *m, const reader *r, char *err, size_t err_len) {
    uint16_t *labels = malloc((r->n_units + 1) * sizeof *labels);
    int32_t *values = malloc((size_t)r->n_entries * sizeof *values);
    int rc = -1;
    if (!labels || !values) {
        ERR(err, err_len, "tfjs vocab: out of memory (%s:%d)", __FILE__, __LINE__);
        goto done;
    }
    for (uint32_t e = 0; e < r->n_entries; e++) {
        values[e] = (int32_t)e;
        if (e < TFJS_RESERVED) continue;
        for (uint32_t k = r->offsets[e]; k < r->offsets[e + 1]; k++) {
            uint16_t unit = r->units[k];
            if (!m->label_of[unit]) {
                if (m->n_labels == UINT16_MAX) {
                    ERR(err, err_len, "tfjs vocab: pieces use more than %u distinct UTF-16 code units", UINT16_MAX);
                    goto done;
                }
                m->label_of[unit] = (uint16_t)++m->n_labels;
            }
            labels[k] = m->label_of[unit];
        }
    }
    /* Reserved entries are not inserted: give them empty keys. */
    uint32_t first = r->n_entries < TFJS_RESERVED ? r->n_entries : TFJS_RESERVED;
    uint32_t *offsets = malloc(((size_t)r->n_entries + 1) * sizeof *offsets);
    if (!offsets) {
        ERR(err, err_len, "tfjs vocab: out of memory (%s:%d)", __FILE__, __LINE__);
        goto done;
    }
    for (uint32_t e = 0; e <= r->n_entries; e++) offsets[e] = e < first ? r->offsets[first] : r->offsets[e];
    rc = trie_build(&m->pieces, labels, offsets, values, r->n_entries, m->n_labels, TRIE_DUP_LAST_WINS, NULL, err,
                    err_len);
    free(offsets);
done:
    free(labels);
    free(values);
    return rc;
}

int tfjs_init(tfjs_model *m, const uint8_t *json, size_t len, char *err, size_t err_len) {
    memset(m, 0, sizeof *m);
    reader r = {.text = json, .len = len};
    r.c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    int rc = -1;
    if (!r.c_locale) {
        SYS_ERR(err, err_len, "locale C", "newlocale");
        goto done;
    }
    if (read_vocab(&r, err, err_len)) goto done;
    m->n_entries = r.n_entries;
    m->scores = r.scores;
    r.scores = NULL;
    m->length16 = malloc((size_t)r.n_entries * sizeof *m->length16);
    m->label_of = calloc(65536, sizeof *m->label_of);
    if (!m->length16 || !m->label_of) {
        ERR(err, err_len, "tfjs vocab: out of memory (%s:%d)", __FILE__, __LINE__);
        goto done;
    }
    for (uint32_t e = 0; e < r.n_entries; e++) m->length16[e] = r.offsets[e + 1] - r.offsets[e];
    m->cut_at_space = pieces_stay_within_words(&r, m->length16);
    rc = build_trie(m, &r, err, err_len);
done:
    if (r.c_locale) freelocale(r.c_locale);
    free(r.piece.data);
    free(r.units);
    free(r.offsets);
    free(r.scores);
    if (rc) tfjs_release(m);
    return rc;
}

void tfjs_release(tfjs_model *m) {
    free(m->scores);
    free(m->length16);
    free(m->label_of);
    trie_free(&m->pieces);
    memset(m, 0, sizeof *m);
}
