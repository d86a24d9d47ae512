/* tfjs_tokenizer.c: the npm package's Tokenizer.encode (SPEC 4.2 steps 2-5), as its compiled
 * dist/tokenizer/index.js runs it, over UTF-16 code units (its stringToChars indexes the string, so an astral
 * character is two symbols):
 * - at each start, every trie piece that prefixes the rest is a candidate; only when none does, one unknown
 *   candidate (that single code unit, id 0, score 0);
 * - candidates ending at a position are taken in ascending start order; score = piece score (null = 0) +
 *   best[start] in double; accepted when best[end] == 0 (0 counts as "unset", even when a real path sums
 *   to 0) or score >= best[end] (later candidates win ties);
 * - the backward pass steps back from the end by the JavaScript .length of each chosen entry's own piece
 *   (entry 0 "�" for unknowns), and an id 0 directly after another id 0 is dropped.
 * Taking starts in ascending order and updating the ends each one reaches gives the package's updates in the
 * package's order: every position's best is final before any candidate starting there is scored. */
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "common/util.h"

typedef struct {
    double best;  /* JavaScript's best[pos] */
    int32_t word; /* JavaScript's words[pos] */
} lattice_pos;

static inline void offer(lattice_pos *to, double score, int32_t entry) {
    if (to->best == 0 || score >= to->best) {
        to->best = score;
        to->word = entry;
    }
}

/* UTF-8 of the code units [from, to): surrogate pairs are joined, a lone surrogate becomes U+FFFD. */
static size_t units_to_utf8(const uint16_t *units, size_t from, size_t to, uint8_t *out) {
    size_t w = 0;
    for (size_t i = from; i < to; i++) {
        uint32_t cp = units[i];
        if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < to && units[i + 1] >= 0xDC00 && units[i + 1] < 0xE000)
            cp = 0x10000 + ((cp - 0xD800) << 10) + (units[++i] - 0xDC00);
        else if (cp >= 0xD800 && cp < 0xE000)
            cp = 0xFFFD;
        if (cp < 0x80) {
            out[w++] = (uint8_t)cp;
        } else if (cp < 0x800) {
            out[w++] = (uint8_t)(0xC0 | cp >> 6);
            out[w++] = (uint8_t)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[w++] = (uint8_t)(0xE0 | cp >> 12);
            out[w++] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
            out[w++] = (uint8_t)(0x80 | (cp & 0x3F));
        } else {
            out[w++] = (uint8_t)(0xF0 | cp >> 18);
            out[w++] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
            out[w++] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
            out[w++] = (uint8_t)(0x80 | (cp & 0x3F));
        }
    }
    return w;
}

int tfjs_encode(const tfjs_model *m, const uint8_t *text, size_t len, int want_pieces, tok_scratch *s,
                tok_result *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    long long symbols = tfjs_normalize(text, len, s, &out->invalid_utf8, err, err_len);
    if (symbols <= 0) return (int)symbols;
    if (symbols > INT32_MAX - 1)
        return ERR(err, err_len, "tfjs: a text of %lld UTF-16 units is longer than 2^31", symbols);
    const size_t n = (size_t)symbols;
    const uint16_t *sym = s->units;
    if (tok_grow(&s->lattice, &s->lattice_cap, (n + 1) * sizeof(lattice_pos), 1, err, err_len)) return -1;
    lattice_pos *lat = s->lattice;
    memset(lat, 0, (n + 1) * sizeof *lat);

    for (size_t start = 0; start < n; start++) {
        const double best_here = lat[start].best;
        int matched = 0;
        int32_t node = 0;
        for (size_t end = start; end < n;) {
            uint32_t label = m->label_of[sym[end++]];
            if (!label || (node = trie_child(&m->pieces, node, label)) < 0) break;
            int32_t entry = trie_value(&m->pieces, node);
            if (entry < 0) continue;
            matched = 1;
            offer(&lat[end], m->scores[entry] + best_here, entry);
        }
        if (!matched) offer(&lat[start + 1], 0.0 + best_here, 0);
    }

    /* Backward pass: tokens last to first, each with the symbol position where it ends. A dropped unknown
     * lengthens the unknown after it, whose end stays. */
    size_t count = 0;
    for (long long at = (long long)n; at > 0; at -= m->length16[lat[at].word]) count++;
    if (TOK_GROW(s, ids, count, err, err_len) || TOK_GROW(s, piece_end, count, err, err_len)) return -1;
    size_t k = 0;
    for (long long at = (long long)n; at > 0; at -= m->length16[lat[at].word]) {
        int32_t entry = lat[at].word;
        if (k && entry == 0 && s->ids[k - 1] == 0) continue;
        s->ids[k] = entry;
        s->piece_end[k++] = (size_t)at;
    }
    for (size_t i = 0; i < k / 2; i++) {
        int32_t id = s->ids[i];
        size_t end = s->piece_end[i];
        s->ids[i] = s->ids[k - 1 - i];
        s->piece_end[i] = s->piece_end[k - 1 - i];
        s->ids[k - 1 - i] = id;
        s->piece_end[k - 1 - i] = end;
    }
    out->ids = s->ids;
    out->n_ids = k;
    if (!want_pieces) return 0;

    /* Pieces: token j spans the symbols [end of token j-1 (0 for the first), end of token j), as UTF-8; the
     * symbol ends become byte ends in place. */
    if (TOK_GROW(s, text, 3 * n, err, err_len)) return -1;
    size_t prev = 0, bytes = 0;
    for (size_t j = 0; j < k; j++) {
        size_t stop = s->piece_end[j];
        bytes += units_to_utf8(sym, prev, stop, s->text + bytes);
        prev = stop;
        s->piece_end[j] = bytes;
    }
    out->pieces = (const char *)s->text;
    out->piece_end = s->piece_end;
    return 0;
}

/* The last byte position in (0, limit] where text has a space (U+0020) or a no-break space (U+00A0, which NFKC
 * turns into a space), or 0. Such a space is a safe place to cut: NFKC neither composes across it nor reorders
 * marks over it, so the prefix before it normalises to the whole text's normalisation up to the '▁' the space
 * becomes. text holds at least limit + 2 bytes. */
static size_t last_space(const uint8_t *text, size_t limit) {
    size_t at = limit;
    while (at > 0 && text[at] != ' ' && !(text[at] == 0xC2 && text[at + 1] == 0xA0)) at--;
    return at;
}

int tfjs_encode_first(const tfjs_model *m, const uint8_t *text, size_t len, size_t max_ids, tok_scratch *s,
                      tok_result *out, char *err, size_t err_len) {
    size_t read = len;
    for (size_t budget = s->first_budget;; budget *= 2) {
        const size_t limit = budget < s->first_cap ? budget : s->first_cap;
        if (len <= limit + 1) { /* the whole text */
            if (tfjs_encode(m, text, len, 0, s, out, err, err_len)) return -1;
            break;
        }
        const size_t cut = m->cut_at_space ? last_space(text, limit) : 0;
        if (cut) {
            if (tfjs_encode(m, text, cut, 0, s, out, err, err_len)) return -1;
            read = cut;
            if (out->n_ids >= max_ids) break;
        }
        if (limit == s->first_cap) { /* one run of text too long to cut: tokenize it as if it ended here */
            read = limit;
            for (int more = 0; more < 3 && read < len && (text[read] & 0xC0) == 0x80; more++) read++; /* a whole character */
            if (tfjs_encode(m, text, read, 0, s, out, err, err_len)) return -1;
            out->capped_at = read;
            break;
        }
    }
    tok_keep_first(out, max_ids, text + read, len - read);
    return 0;
}
