/* tokenizer_impl.h: what the tokenizer's files share (engine/tokenizer.c, spm_*.c, tfjs_*.c); not public. */
#ifndef USEREC_TOKENIZER_IMPL_H
#define USEREC_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/trie.h"

/* SentencePiece piece types (ModelProto.SentencePiece.Type). */
enum spm_piece_type {
    SPM_NORMAL = 1,
    SPM_UNKNOWN = 2,
    SPM_CONTROL = 3,
    SPM_USER_DEFINED = 4,
    SPM_UNUSED = 5,
    SPM_BYTE = 6,
};

/* The precompiled charsmap: a darts-clone double array over UTF-8 bytes whose values index a pool of
 * NUL-terminated replacement strings. */
typedef struct {
    uint32_t *units; /* owned, aligned copy; NULL when the model has no charsmap */
    uint32_t n_units;
    char *pool; /* owned; ends with a NUL, so every in-bounds value starts a terminated string */
    uint32_t pool_len;
} spm_charsmap;

typedef struct {
    uint32_t n_pieces;
    double *edge_score; /* per id, the score SentencePiece's Viterbi gives the piece: a float widened to double,
                           or for a user-defined piece length * max_score - 0.1 (computed in double there) */
    trie pieces;        /* normal and user-defined pieces -> id, labels = bytes; unused pieces are never
                           matched, so they are left out */
    trie user_defined;  /* user-defined pieces: the normaliser copies them through untouched */
    int has_user_defined;
    spm_charsmap charsmap;
    uint32_t normalizer_flags;
    float unk_score; /* lowest normal score - 10, in float as SentencePiece computes it */
    int32_t unk_id;
    int cut_at_space; /* no piece holds the whitespace symbol past its first byte: prefixes cut before one are exact */
} spm_model;

typedef struct {
    uint32_t n_entries;
    double *scores;      /* per vocabulary entry; JSON null reads as 0, as `null + x` does in JavaScript */
    uint32_t *length16;  /* per entry, the piece's JavaScript .length: the backward pass steps back by it */
    uint16_t *label_of;  /* 65536 entries: UTF-16 code unit -> trie label, 0 = in no inserted piece */
    uint32_t n_labels;   /* labels are 1..n_labels */
    trie pieces;         /* entries >= TFJS_RESERVED as label strings -> entry index; a later duplicate wins */
    int cut_at_space;    /* no trie piece holds U+2581 past its first unit: prefixes cut before a space are exact */
} tfjs_model;

/* The npm Tokenizer skips the first 6 entries (unk, control and user-defined symbols) when filling its trie. */
#define TFJS_RESERVED 6

struct tokenizer {
    enum usew_tokenizer kind;
    union {
        spm_model spm;
        tfjs_model tfjs;
    } u;
};

/* Working memory of one encode call; every buffer grows on demand and is kept for the next call. */
struct tok_scratch {
    uint8_t *text; /* spm: the normalised text; tfjs: the UTF-8 pieces */
    size_t text_cap;
    uint32_t *cps; /* tfjs: code points */
    size_t cps_cap;
    uint16_t *units; /* tfjs: UTF-16 symbols */
    size_t units_cap;
    void *lattice; /* per-position best paths */
    size_t lattice_cap;
    int32_t *ids;
    size_t ids_cap;
    size_t *piece_end;
    size_t piece_end_cap;
    size_t first_budget, first_cap; /* tokenizer_encode_first's TOK_FIRST_BUDGET and TOK_FIRST_CAP; the fuzz
                                       target makes them small to cut texts of a few bytes */
};

/* Makes *buf hold at least need elements of elem bytes (growing geometrically). Returns 0 or -1 (err set). */
int tok_grow(void **buf, size_t *cap, size_t need, size_t elem, char *err, size_t err_len);
#define TOK_GROW(s, field, need, err, err_len) \
    tok_grow((void **)&(s)->field, &(s)->field##_cap, (need), sizeof *(s)->field, err, err_len)

/* spm_normalizer.c: the charsmap, and SentencePiece's Normalizer::Normalize into s->text (returns the
 * normalised length, or -1). */
int spm_charsmap_init(spm_charsmap *c, const uint8_t *blob, size_t len, char *err, size_t err_len);
void spm_charsmap_release(spm_charsmap *c);
/* Stops early, leaving the trailing whitespace of what it wrote, once stop_at or more bytes are written; then
 * *consumed (may be NULL) says how much of the text they cover (len when it normalised all of it). */
long long spm_normalize(const spm_model *m, const uint8_t *text, size_t len, size_t stop_at, size_t *consumed,
                        tok_scratch *s, int *invalid_utf8, char *err, size_t err_len);
/* spm_tokenizer.c */
int spm_init(spm_model *m, const spm_blobs *b, char *err, size_t err_len);
void spm_release(spm_model *m);
int spm_encode(const spm_model *m, const uint8_t *text, size_t len, int want_pieces, tok_scratch *s,
               tok_result *out, char *err, size_t err_len);
int spm_encode_first(const spm_model *m, const uint8_t *text, size_t len, size_t max_ids, tok_scratch *s,
                     tok_result *out, char *err, size_t err_len);

/* tfjs_vocab.c */
int tfjs_init(tfjs_model *m, const uint8_t *json, size_t len, char *err, size_t err_len);
void tfjs_release(tfjs_model *m);
/* tfjs_normalize.c: TextDecoder, NFKC and the U+2581 rules into s->units; returns the symbol count or -1. */
long long tfjs_normalize(const uint8_t *text, size_t len, tok_scratch *s, int *invalid_utf8, char *err,
                         size_t err_len);
/* tfjs_tokenizer.c */
int tfjs_encode(const tfjs_model *m, const uint8_t *text, size_t len, int want_pieces, tok_scratch *s,
                tok_result *out, char *err, size_t err_len);
int tfjs_encode_first(const tfjs_model *m, const uint8_t *text, size_t len, size_t max_ids, tok_scratch *s,
                      tok_result *out, char *err, size_t err_len);

/* tokenizer.c: what both encode_first share: keep the first max_ids ids, and judge the unread rest's UTF-8. */
void tok_keep_first(tok_result *out, size_t max_ids, const uint8_t *rest, size_t rest_len);

#endif
