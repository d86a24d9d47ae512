/* test_tokenizer.c: the tokenizer's building blocks and its thread safety. Exactness against SentencePiece and
 * the npm package is tests/test_tokenizer.py's job; here: the trie against a brute-force lookup, refusal of
 * malformed models with a message naming the problem, many threads sharing one tokenizer getting exactly
 * what one thread gets, and tokenizer_encode_first (prefixes cut at whitespace, tiny budgets here so that
 * short texts get cut) giving exactly the first ids of the whole text, or of its capped prefix. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/trie.h"

/* xorshift64: a fixed pseudo-random sequence. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

enum { N_KEYS = 3000, MAX_KEY = 7, ALPHABET = 6 };

/* The value brute force finds for key (the last occurrence among keys with the same labels), or -1. */
static int32_t brute_force(const uint16_t *labels, const uint32_t *offsets, const int32_t *values, const uint16_t *key,
                           uint32_t len) {
    int32_t found = -1;
    for (uint32_t i = 0; i < N_KEYS; i++)
        if (offsets[i + 1] - offsets[i] == len && len && !memcmp(labels + offsets[i], key, len * sizeof *key))
            found = values[i];
    return found;
}

static int32_t walk(const trie *t, const uint16_t *key, uint32_t len) {
    int32_t node = 0;
    for (uint32_t i = 0; i < len && node >= 0; i++) node = trie_child(t, node, key[i]);
    return node < 0 ? -1 : trie_value(t, node);
}

static void test_trie(void) {
    static uint16_t labels[N_KEYS * MAX_KEY];
    static uint32_t offsets[N_KEYS + 1];
    static int32_t values[N_KEYS];
    uint32_t n = 0;
    for (uint32_t i = 0; i < N_KEYS; i++) {
        offsets[i] = n;
        uint32_t len = rnd(MAX_KEY + 1); /* some empty keys, which the trie skips */
        for (uint32_t k = 0; k < len; k++) labels[n++] = (uint16_t)rnd(ALPHABET);
        values[i] = (int32_t)i;
    }
    offsets[N_KEYS] = n;
    char err[256];
    trie t;
    int rc = trie_build(&t, labels, offsets, values, N_KEYS, ALPHABET - 1, TRIE_DUP_LAST_WINS, NULL, err, sizeof err);
    CHECK(rc == 0, "trie builds from 3000 random keys (duplicates: last wins)", "%s", err);
    if (rc) return;
    size_t wrong = 0, probes = 0;
    uint16_t probe[MAX_KEY + 1];
    for (uint32_t i = 0; i < N_KEYS; i++) { /* every key, and random strings that are mostly not keys */
        uint32_t len = offsets[i + 1] - offsets[i];
        wrong += walk(&t, labels + offsets[i], len) != brute_force(labels, offsets, values, labels + offsets[i], len);
        uint32_t plen = 1 + rnd(MAX_KEY + 1);
        for (uint32_t k = 0; k < plen; k++) probe[k] = (uint16_t)rnd(ALPHABET);
        wrong += walk(&t, probe, plen) != brute_force(labels, offsets, values, probe, plen);
        probes += 2;
    }
    CHECK(wrong == 0, "trie lookups equal a brute-force search", "%zu of %zu lookups differ", wrong, probes);
    trie_free(&t);

    trie empty;
    uint16_t one_label = 1;
    rc = trie_build(&empty, labels, offsets, values, 0, ALPHABET - 1, TRIE_DUP_REFUSE, NULL, err, sizeof err);
    CHECK(rc == 0 && walk(&empty, &one_label, 1) == -1, "a trie of no keys builds and matches nothing", "rc %d: %s",
          rc, err);
    if (!rc) trie_free(&empty);

    uint32_t dup = UINT32_MAX;
    rc = trie_build(&t, labels, offsets, values, N_KEYS, ALPHABET - 1, TRIE_DUP_REFUSE, &dup, err, sizeof err);
    int dup_is_real = dup < N_KEYS && brute_force(labels, offsets, values, labels + offsets[dup],
                                                  offsets[dup + 1] - offsets[dup]) >= 0;
    CHECK(rc == -1 && dup_is_real && strstr(err, "repeats"), "trie refuses duplicate keys when asked to",
          "rc %d, dup %u, err '%s'", rc, dup, err);
    if (!rc) trie_free(&t);
}

/* A small SentencePiece-like model: <unk>, control symbols, pieces over 'a', 'b' and U+2581. */
static const char SPM_PIECES[] = "<unk>\0<s>\0\xe2\x96\x81\0a\0b\0ab\0\xe2\x96\x81" "a\0\xe2\x96\x81" "ab\0ba\0";
static const float SPM_SCORES[] = {0, 0, -2, -1.5f, -1.75f, -2.5f, -2.25f, -3, -3.5f};
static const uint8_t SPM_TYPES[] = {2, 3, 1, 1, 1, 1, 1, 1, 1};

static spm_blobs small_spm(void) {
    return (spm_blobs){.pieces = SPM_PIECES, .pieces_bytes = sizeof SPM_PIECES - 1, .scores = SPM_SCORES,
                       .types = SPM_TYPES, .n_pieces = 9, .normalizer_flags = 7};
}

static void expect_refusal(const char *name, tokenizer *t, const char *err, const char *wanted) {
    CHECK(!t && strstr(err, wanted), name, "expected a refusal mentioning '%s', got %s '%s'", wanted,
          t ? "a tokenizer" : "the error", err);
    tokenizer_free(t);
}

static void test_refusals(void) {
    char err[512] = "";
    spm_blobs b = small_spm();
    tokenizer *t = tokenizer_new_spm(&b, err, sizeof err);
    CHECK(t != NULL, "the small spm model loads", "%s", err);
    tokenizer_free(t);
    b.n_pieces = 8;
    expect_refusal("spm: piece count disagreeing with the blob is refused", tokenizer_new_spm(&b, err, sizeof err), err,
                   "holds 9 strings, expected 8");
    b = small_spm();
    uint8_t types[9];
    memcpy(types, SPM_TYPES, sizeof types);
    types[4] = 6;
    b.types = types;
    expect_refusal("spm: byte-fallback pieces are refused", tokenizer_new_spm(&b, err, sizeof err), err, "byte-fallback");
    types[4] = 2;
    expect_refusal("spm: a second <unk> is refused", tokenizer_new_spm(&b, err, sizeof err), err, "2 <unk> pieces");
    static const char dup_pieces[] = "<unk>\0a\0b\0a\0";
    static const uint8_t dup_types[] = {2, 1, 1, 1};
    b = (spm_blobs){.pieces = dup_pieces, .pieces_bytes = sizeof dup_pieces - 1, .scores = SPM_SCORES,
                    .types = dup_types, .n_pieces = 4};
    expect_refusal("spm: a duplicate piece is refused like SentencePiece does", tokenizer_new_spm(&b, err, sizeof err),
                   err, "piece 3 is already defined");
    b = small_spm();
    static const uint8_t bad_charsmap[] = {200, 0, 0, 0, 1, 2, 3, 4, 0};
    b.charsmap = bad_charsmap;
    b.charsmap_bytes = sizeof bad_charsmap;
    expect_refusal("spm: a charsmap whose trie overruns the blob is refused", tokenizer_new_spm(&b, err, sizeof err), err,
                   "trie size 200");

    static const struct {
        const char *json, *wanted;
    } vocabs[] = {
        {"[[\"\xef\xbf\xbd\", 0], [\"a\", \"-1\"]]", "expected a number or null"},
        {"[[\"\", 0], [\"a\", -1]]", "entry 0 (the unknown piece) is empty"},
        {"[[\"x\", 0], [\"a\\q\", -1]]", "invalid escape"},
        {"[[\"x\", 0], [\"a\xff\", -1]]", "invalid UTF-8"},
        {"[[\"x\", 0], [\"a\", -1, 3]]", "exactly two elements"},
        {"[[\"x\", 0]] extra", "text after the vocabulary array"},
        {"[]", "empty"},
        {"[[\"x\", 0], [\"a\", 01]]", "expected ']'"},
    };
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++) {
        char name[160];
        snprintf(name, sizeof name, "tfjs: vocab.json %s is refused", vocabs[i].json);
        tokenizer *t = tokenizer_new_tfjs((const uint8_t *)vocabs[i].json, strlen(vocabs[i].json), err, sizeof err);
        expect_refusal(name, t, err, vocabs[i].wanted);
    }
}

/* Texts mixing the small model's letters, spaces, other scripts and invalid bytes. */
static char *random_text(size_t *len) {
    static const char *parts[] = {"a", "b", "ab", "ba", " ", "  ", "\t", "\xe2\x96\x81", "\xc3\xa9", "\xf0\x9f\x98\x80",
                                  "x", "The ", "quick ", "\xff", "\xe2\x82", "\0", "\xef\xbc\xa1", "e\xcc\x81"};
    size_t n = 1 + rnd(60), cap = n * 8, at = 0; /* no part is longer than 8 bytes */
    char *text = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        size_t k = rnd(sizeof parts / sizeof parts[0]);
        size_t plen = k == 15 ? 1 : strlen(parts[k]);
        memcpy(text + at, parts[k], plen);
        at += plen;
    }
    *len = at;
    return text;
}

/* Encodes every text on one thread, then on 8 threads sharing the tokenizer; all results must agree. */
static void check_threads(const char *name, const tokenizer *t) {
    enum { N_TEXTS = 4000 };
    static char *texts[N_TEXTS];
    static size_t lens[N_TEXTS];
    static int32_t *expected[N_TEXTS];
    static size_t n_expected[N_TEXTS];
    char err[256];
    tok_scratch *s = tok_scratch_new();
    int failed = !s;
    for (size_t i = 0; i < N_TEXTS && !failed; i++) {
        texts[i] = random_text(&lens[i]);
        tok_result r;
        failed = tokenizer_encode(t, texts[i], lens[i], 0, s, &r, err, sizeof err);
        expected[i] = malloc((r.n_ids + 1) * sizeof *expected[i]);
        memcpy(expected[i], r.ids, r.n_ids * sizeof *r.ids);
        n_expected[i] = r.n_ids;
    }
    tok_scratch_free(s);
    size_t mismatches = 0;
#pragma omp parallel num_threads(8) reduction(+ : mismatches) reduction(| : failed)
    {
        tok_scratch *mine = tok_scratch_new();
        char thread_err[256];
        for (int round = 0; round < 3 && mine; round++) {
#pragma omp for schedule(dynamic, 7)
            for (size_t i = 0; i < N_TEXTS; i++) {
                tok_result r;
                if (tokenizer_encode(t, texts[i], lens[i], 0, mine, &r, thread_err, sizeof thread_err)) failed = 1;
                else mismatches += r.n_ids != n_expected[i] || memcmp(r.ids, expected[i], r.n_ids * sizeof *r.ids);
            }
        }
        failed |= !mine;
        tok_scratch_free(mine);
    }
    CHECK(!failed && mismatches == 0, name, "%zu of %d encodes differ from the single-thread result%s", mismatches,
          3 * N_TEXTS, failed ? " (an encode failed)" : "");
    for (size_t i = 0; i < N_TEXTS; i++) free(texts[i]), free(expected[i]);
}

/* tokenizer_encode_first against tokenizer_encode on random texts, with budgets of a few bytes: its ids must be
 * the first ids of the whole text (or, when it says it capped the text, of that prefix), and its invalid_utf8
 * the whole text's. Both paths (a cut at whitespace, the cap) must be taken. */
static void check_first_ids(const char *name, const tokenizer *t) {
    enum { N_TEXTS = 3000 };
    static const size_t wanted[] = {1, 2, 3, 5, 8, 13};
    tok_scratch *whole = tok_scratch_new(), *first = tok_scratch_new();
    char err[256];
    size_t wrong = 0, cut = 0, capped = 0, failed = !whole || !first;
    for (size_t i = 0; i < N_TEXTS && !failed; i++) {
        size_t len;
        char *text = random_text(&len);
        first->first_budget = 1 + rnd(12), first->first_cap = first->first_budget * (1 + rnd(8));
        const size_t max_ids = wanted[rnd(sizeof wanted / sizeof wanted[0])];
        tok_result got, all, ref;
        if (tokenizer_encode_first(t, text, len, max_ids, first, &got, err, sizeof err) ||
            tokenizer_encode(t, text, len, 0, whole, &all, err, sizeof err))
            failed = 1;
        const int all_invalid = all.invalid_utf8;
        if (!failed && got.capped_at && tokenizer_encode(t, text, got.capped_at, 0, whole, &all, err, sizeof err))
            failed = 1;
        ref = all;
        const size_t n = ref.n_ids < max_ids ? ref.n_ids : max_ids;
        if (!failed && (got.n_ids != n || memcmp(got.ids, ref.ids, n * sizeof *ref.ids) || got.invalid_utf8 != all_invalid)) {
            if (!wrong) {
                printf("    first difference: text %zu (%zu bytes), max_ids %zu, capped_at %zu budget %zu cap %zu\n", i, len, max_ids,
                               got.capped_at, first->first_budget, first->first_cap);
                for (size_t k = 0; k < len; k++) printf("%02x ", (unsigned char)text[k]);
                printf("\n got:");
                for (size_t k = 0; k < got.n_ids; k++) printf(" %d", got.ids[k]);
                printf("\n ref:");
                for (size_t k = 0; k < ref.n_ids; k++) printf(" %d", ref.ids[k]);
                printf("\n");
            }
            wrong++;
        }
        capped += got.capped_at != 0;
        cut += !got.capped_at && len > first->first_budget;
        free(text);
    }
    CHECK(!failed && wrong == 0 && cut > 100 && capped > 100, name,
          "%zu of %d differ (%zu cut at whitespace, %zu capped)%s", wrong, N_TEXTS, cut, capped,
          failed ? "; an encode failed" : "");
    tok_scratch_free(whole);
    tok_scratch_free(first);
}

static void test_first_ids(void) {
    char err[512];
    spm_blobs b = small_spm();
    tokenizer *t = tokenizer_new_spm(&b, err, sizeof err);
    if (t) check_first_ids("spm (small model): encode_first gives the whole text's first ids", t);
    else CHECK(0, "spm: the small model loads", "%s", err);
    tokenizer_free(t);
    const char *model = getenv("USEREC_TEST_MODEL");
    usew_file *f = model ? usew_open(model, NULL, err, sizeof err) : NULL;
    if (!f) {
        SKIP("spm and tfjs (test model): encode_first gives the whole text's first ids",
             "USEREC_TEST_MODEL is not set or unreadable (tests/run.py sets it)");
        return;
    }
    for (int kind = USEW_TOK_SPM; kind <= USEW_TOK_TFJS; kind++) {
        t = tokenizer_from_usew(f, (enum usew_tokenizer)kind, err, sizeof err);
        if (t) check_first_ids(kind == USEW_TOK_SPM ? "spm (the real model): encode_first gives the whole text's first ids"
                                                    : "tfjs (the real vocab.json): encode_first gives the whole text's first ids", t);
        else CHECK(0, "the test model's tokenizers load", "%s", err);
        tokenizer_free(t);
    }
    usew_close(f);
}

static void test_threads(void) {
    char err[512];
    spm_blobs b = small_spm();
    tokenizer *t = tokenizer_new_spm(&b, err, sizeof err);
    if (t) check_threads("spm: 8 threads sharing one tokenizer get the single-thread ids", t);
    else CHECK(0, "spm: the small model loads", "%s", err);
    tokenizer_free(t);

    const char *shared = getenv("USEREC_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/use-lite/tfjs/vocab.json", shared ? shared : "../shared");
    FILE *f = fopen(path, "rb");
    if (!f) {
        SKIP("tfjs: 8 threads sharing one tokenizer", "the real vocab.json is absent (../shared)");
        return;
    }
    static uint8_t json[1 << 20];
    size_t n = fread(json, 1, sizeof json, f);
    fclose(f);
    t = tokenizer_new_tfjs(json, n, err, sizeof err);
    if (t) check_threads("tfjs: 8 threads sharing one tokenizer (real vocab.json) get the single-thread ids", t);
    else CHECK(0, "tfjs: the real vocab.json loads", "%s", err);
    tokenizer_free(t);
}

int main(void) {
    test_trie();
    test_refusals();
    test_threads();
    test_first_ids();
    CHECK_DONE();
}
