/* tokenizer.h: text to USE-lite token ids, two ways (SPEC 4, docs/tokenizer.md).
 *
 * - spm: exactly what SentencePiece (python3-sentencepiece 0.1.97, EncodeAsIds) returns for the model:
 *   precompiled-charsmap normalisation, whitespace rules, unigram Viterbi with SentencePiece's own float/double
 *   arithmetic and tie rules, runs of unknown characters merged into one <unk>.
 * - tfjs: exactly what the npm package @tensorflow-models/universal-sentence-encoder 1.3.3 returns
 *   (Tokenizer.encode with its vocab.json), quirks included: NFKC only, symbols are UTF-16 code units, the
 *   damaged vocabulary entries, `>=` ties, a running best of 0 counting as unset.
 *
 * Invalid UTF-8 never fails: spm reads each bad byte as U+FFFD (as SentencePiece does); tfjs reads each
 * maximal bad sequence as one U+FFFD (as JavaScript's TextDecoder does). The result says whether it happened.
 *
 * A tokenizer is read-only once built: any number of threads may encode with it at once, each with its own
 * tok_scratch (the working memory of one call, reused by the next). */
#ifndef USEREC_TOKENIZER_H
#define USEREC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "model/usew.h"

struct usew_file;
typedef struct tokenizer tokenizer;
typedef struct tok_scratch tok_scratch;

/* A SentencePiece unigram model as raw blobs (the .usew `tok.spm.*` tensors, docs/format.md). Nothing is
 * kept: the tokenizer copies what it needs. */
typedef struct {
    const char *pieces;  /* n_pieces UTF-8 strings in id order, each followed by one NUL */
    size_t pieces_bytes;
    const float *scores; /* n_pieces */
    const uint8_t *types; /* n_pieces SentencePiece types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused */
    uint32_t n_pieces;
    const uint8_t *charsmap; /* NormalizerSpec.precompiled_charsmap; charsmap_bytes 0 = no normalisation rules */
    size_t charsmap_bytes;
    uint32_t normalizer_flags; /* enum usew_normalizer_flags */
} spm_blobs;

/* Each returns the tokenizer, or NULL with a message naming the problem in err. */
tokenizer *tokenizer_new_spm(const spm_blobs *blobs, char *err, size_t err_len);
/* vocab_json: the raw bytes of the npm package's vocab.json (a JSON array of [piece, score] pairs). */
tokenizer *tokenizer_new_tfjs(const uint8_t *vocab_json, size_t len, char *err, size_t err_len);
/* From a loaded .usew file's tok.* tensors; kind USEW_TOK_NONE picks the file's default tokenizer. */
tokenizer *tokenizer_from_usew(const struct usew_file *f, enum usew_tokenizer kind, char *err, size_t err_len);
void tokenizer_free(tokenizer *t);

enum usew_tokenizer tokenizer_kind(const tokenizer *t);
const char *tokenizer_kind_name(enum usew_tokenizer kind); /* "spm", "tfjs" or "none" */

tok_scratch *tok_scratch_new(void);
void tok_scratch_free(tok_scratch *s);

/* One text's tokens. Pointers stay valid until the scratch's next use; ids is never NULL, nor are the pieces
 * of tokenizer_encode (tokenizer_encode_first leaves them NULL). */
typedef struct {
    const int32_t *ids;
    size_t n_ids;
    int invalid_utf8; /* 1 when the text held invalid UTF-8 (read as U+FFFD), else 0 */
    /* Only with want_pieces: token i's piece is pieces[piece_end[i-1] .. piece_end[i]) (piece_end[-1] = 0),
     * the UTF-8 text it covers as the tokenizer saw it (spm: normalised, spaces as U+2581; tfjs: NFKC,
     * spaces as U+2581). A merged run of unknown characters is one piece. */
    const char *pieces;
    const size_t *piece_end;
    size_t capped_at; /* tokenizer_encode_first only: the text was tokenized as its first capped_at bytes */
} tok_result;

/* Tokenizes text[0 .. len) (any bytes, NUL included). Returns 0, or -1 when memory ran out (err says so). */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int want_pieces, tok_scratch *s,
                     tok_result *out, char *err, size_t err_len);

/* The first max_ids (> 0) ids of tokenizer_encode's result (all of them when there are fewer), in memory that
 * follows what those ids need rather than the text's length: the text is read in growing prefixes, each cut
 * just before a whitespace symbol, until a prefix yields max_ids ids. Both tokenizers' vocabularies keep every
 * piece within one word (no piece holds the whitespace symbol past its first character: checked at load), so
 * no piece crosses such a cut and a prefix's ids are exactly the text's first ids. When no such prefix yields
 * enough ids within TOK_FIRST_CAP bytes (one unbroken run of text that long), the text is tokenized as if it
 * ended there: out->capped_at says where (0 otherwise). invalid_utf8 always describes the whole text. No
 * pieces. */
#define TOK_FIRST_BUDGET ((size_t)4 << 10) /* the first prefix tried: most texts are whole within it */
#define TOK_FIRST_CAP ((size_t)256 << 10)  /* spm: bytes of normalised text; tfjs: bytes of input text */
int tokenizer_encode_first(const tokenizer *t, const char *text, size_t len, size_t max_ids, tok_scratch *s,
                           tok_result *out, char *err, size_t err_len);

#endif
