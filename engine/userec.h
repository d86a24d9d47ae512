/* userec.h: the public C API of userec, the one header a program needs (`pkg-config --cflags --libs userec`).
 *
 *   userec_model    a loaded .usew weight file (USE-lite): read-only, shareable by any number of threads
 *   userec_encoder  texts or token ids to unit vectors on the CPU or a CUDA GPU, reusing its buffers
 *   userec_topk_*   exact cosine top-k: for each query vector, the k closest item vectors
 *
 * One convention everywhere: every function that can fail returns a userec_status (USEREC_OK = 0) and, when
 * it fails, fills the userec_error passed last (which may be NULL) with the status and a message that names
 * the file or input position and the problem. Functions returning a pointer return NULL on failure and fill
 * err the same way. Nothing in the library prints, exits or keeps global state, except the `notes` stream a
 * caller may pass to say where work runs when it falls back to the CPU. */
#ifndef USEREC_H
#define USEREC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define USEREC_API __attribute__((visibility("default")))
#else
#define USEREC_API
#endif

/* ---- version ---- */

#define USEREC_VERSION_MAJOR 0
#define USEREC_VERSION_MINOR 4
#define USEREC_VERSION_PATCH 0
#define USEREC_VERSION "0.4.0"
/* The version of the library actually linked, which may differ from the USEREC_VERSION compiled against. */
USEREC_API const char *userec_version(void);

/* ---- status and errors ---- */

typedef enum {
    USEREC_OK = 0,
    USEREC_ERR_IO = 1,          /* a file could not be opened, mapped or read */
    USEREC_ERR_FORMAT = 2,      /* the model file is malformed, corrupted or of another version */
    USEREC_ERR_UNSUPPORTED = 3, /* a well-formed model this engine does not implement */
    USEREC_ERR_INPUT = 4,       /* bad arguments or input data (e.g. a token id out of range) */
    USEREC_ERR_NOMEM = 5,
    USEREC_ERR_DEVICE = 6,      /* no usable GPU (no driver, no device, too old a card, a build without CUDA) or a
                                   failure of the CUDA runtime or its libraries */
} userec_status;

typedef struct {
    userec_status status;
    char message[512]; /* names the file or input position and the problem */
} userec_error;

USEREC_API const char *userec_status_name(userec_status status);

/* ---- devices and precisions ---- */

typedef enum { USEREC_DEVICE_CPU = 0, USEREC_DEVICE_CUDA = 1, USEREC_DEVICE_AUTO = 2 } userec_device;

typedef enum {
    USEREC_FP32 = 0, /* fp32 storage, fp32 products: the CPU path's arithmetic, the reference */
    USEREC_TF32 = 1, /* GPU: fp32 storage, products on the tensor cores with 10-bit mantissa inputs */
    USEREC_BF16 = 2, /* bf16 weights and activations, fp32 accumulation, residual stream, LN and softmax (GPU; CPU
                        with avx512_bf16: the per-token products, attention and the pooled head in fp32) */
} userec_precision;
#define USEREC_PRECISIONS 3

/* "cpu" | "cuda" | "auto" and "fp32" | "tf32" | "bf16": names to values and back. */
USEREC_API userec_status userec_device_parse(const char *name, userec_device *device, userec_error *err);
USEREC_API const char *userec_device_name(userec_device device);
USEREC_API userec_status userec_precision_parse(const char *name, userec_precision *precision, userec_error *err);
USEREC_API const char *userec_precision_name(userec_precision precision);

/* Where work asked for on `device` runs: cpu -> cpu; cuda -> cuda when GPU 0 is usable, else
 * USEREC_ERR_DEVICE saying why; auto -> cuda when usable, else cpu, saying why on `notes` (may be NULL).
 * *chosen is USEREC_DEVICE_CPU or USEREC_DEVICE_CUDA. */
USEREC_API userec_status userec_device_choose(userec_device device, FILE *notes, userec_device *chosen,
                                              userec_error *err);

/* The devices of one job, as --device names them: "cpu", "cuda" (GPU 0), "auto" (GPU 0 when usable, else the
 * CPU), "cuda:0,1,3" (those GPUs, one encoder each; a GPU listed twice gets two), "cuda:all" (every usable GPU),
 * "cpu:0,0" (two CPU encoders side by side: no faster than one, they share the cores, but it runs the
 * multi-device code where there is no GPU). One kind per list. */
#define USEREC_MAX_DEVICES 64
typedef struct {
    userec_device kind;            /* cpu, cuda or auto */
    int all;                       /* cuda:all: every usable GPU, listed by userec_devices_choose */
    int count;                     /* entries of index; 0 for auto and cuda:all until chosen */
    int index[USEREC_MAX_DEVICES]; /* device numbers in the order given, repeats allowed (the CPU is 0) */
} userec_devices;

USEREC_API userec_status userec_devices_parse(const char *text, userec_devices *devices, userec_error *err);
/* The list as text ("cuda:0,1", "cpu", "cuda:all") in buf (truncated to len); returns buf. */
USEREC_API const char *userec_devices_name(const userec_devices *devices, char *buf, size_t len);
/* What a list runs on: auto -> cuda:0 when GPU 0 is usable, else cpu, saying why on `notes` (may be NULL);
 * cuda:all -> every usable GPU; cuda:N,.. -> those, each checked. No usable GPU, or a listed one that is not
 * usable, is USEREC_ERR_DEVICE saying why. *chosen has kind cpu or cuda and count >= 1. */
USEREC_API userec_status userec_devices_choose(const userec_devices *wanted, FILE *notes, userec_devices *chosen,
                                               userec_error *err);

typedef struct {
    char name[256];
    int cc_major, cc_minor; /* compute capability */
    int multiprocessors;
    size_t memory_bytes;
    int usable; /* this build runs on it: compute capability 8.0 or newer, and code the driver loads for it */
} userec_gpu_info;

/* Fills up to max entries of gpus and sets *count to the number of CUDA devices. No GPU, no driver or a build
 * without CUDA is USEREC_ERR_DEVICE with the reason (and *count 0). */
USEREC_API userec_status userec_gpu_list(userec_gpu_info *gpus, int max, int *count, userec_error *err);

/* ---- the model ---- */

typedef struct userec_model userec_model;

typedef struct {
    uint32_t dim;        /* output width (512) */
    uint32_t max_len;    /* tokens kept per sentence (128) */
    uint32_t vocab_rows; /* valid ids are 0 .. vocab_rows-1 */
    uint32_t n_layers;
    double flops_per_token;    /* multiply-adds x 2 of the per-token matrix products (the GPU's; the CPU
                                  looks layer 0's two up in tables and runs its feed-forward up-projection on
                                  a narrower input: docs/architecture.md) */
    double flops_per_sentence; /* once per sentence: the last feed-forward down-projection (after pooling), the head */
} userec_model_info;

/* Maps and validates a .usew file (every checksum, every tensor's shape). */
USEREC_API userec_model *userec_load(const char *path, userec_error *err);
USEREC_API void userec_free(userec_model *model);
USEREC_API userec_model_info userec_info(const userec_model *model);

/* Per-call counts: what was encoded and what had to be clipped. */
typedef struct {
    size_t sentences;
    size_t tokens;  /* tokens actually encoded (after clipping) */
    size_t clipped; /* sentences longer than max_len, encoded from their first max_len tokens */
} userec_counts;

typedef enum {
    USEREC_TOKENIZER_DEFAULT = 0, /* the model's default: spm when it carries a SentencePiece model */
    USEREC_TOKENIZER_SPM = 1,     /* exactly SentencePiece's ids (what the TF Hub module was fed) */
    USEREC_TOKENIZER_TFJS = 2,    /* exactly the npm package's ids, quirks included */
} userec_tokenizer_kind;

typedef struct {
    size_t texts;
    size_t tokens;       /* tokens encoded (after clipping) */
    size_t clipped;      /* texts longer than max_len tokens, encoded from their first max_len */
    size_t invalid_utf8; /* texts with invalid UTF-8, read as U+FFFD */
} userec_text_counts;

/* Encodes n sentences on the CPU (fp32). Sentence i is ids[offsets[i] .. offsets[i+1]) (offsets has n+1
 * entries). Writes n rows of info.dim floats to out. A sentence's vector does not depend on the rest of the
 * batch. counts may be NULL; when given, its fields are incremented. For many calls, an encoder is faster: it
 * keeps its buffers. */
USEREC_API userec_status userec_encode_ids(const userec_model *model, const int32_t *ids, const size_t *offsets,
                                           size_t n, float *out, userec_counts *counts, userec_error *err);

/* Texts in, unit vectors out, on the CPU: tokenizes texts[i] (lens[i] bytes, any bytes) with the model's
 * tokenizer of that kind and encodes them; out gets n rows of info.dim floats. A text without tokens (empty)
 * gets the vector of the empty sentence. counts may be NULL; when given, its fields are incremented. */
USEREC_API userec_status userec_encode_texts(const userec_model *model, userec_tokenizer_kind kind,
                                             const char *const *texts, const size_t *lens, size_t n, float *out,
                                             userec_text_counts *counts, userec_error *err);

/* ---- the encoder: the same on any device ---- */

typedef struct userec_encoder userec_encoder;

/* cpu: the CPU path in fp32, or bf16 where the CPU has avx512_bf16 (tf32, or bf16 elsewhere, is an error saying
 * why). The CPU runs the widest ISA it has (generic x86-64, AVX2+FMA, AVX-512) unless the environment variable
 * USEREC_CPU_ISA=generic|avx2|avx512 names a lower one; fp32 vectors are bit-identical on every ISA, and a
 * USEREC_CPU_ISA the CPU lacks is an error. cuda: the GPU or an error saying why not.
 * auto: the GPU when one is usable, else the CPU in fp32, saying why on `notes` (may be NULL). The model
 * must outlive the encoder. */
USEREC_API userec_encoder *userec_encoder_open(const userec_model *model, userec_device device,
                                               userec_precision precision, FILE *notes, userec_error *err);
/* The same on a list of devices (userec_devices_choose decides what it runs on): one encoder per listed
 * device, each with its own copy of the weights, behind this one. A call is cut into pieces of whole sentences
 * that go to the devices as they free up; every row lands in its place in out, so the output does not depend
 * on the number of devices: bit for bit, on devices of one kind and precision. */
USEREC_API userec_encoder *userec_encoder_open_on(const userec_model *model, const userec_devices *devices,
                                                  userec_precision precision, FILE *notes, userec_error *err);
USEREC_API void userec_encoder_close(userec_encoder *e);
/* userec_encode_ids on this encoder's device. One call at a time per encoder: it reuses its buffers. */
USEREC_API userec_status userec_encoder_encode(userec_encoder *e, const int32_t *ids, const size_t *offsets,
                                               size_t n, float *out, userec_counts *counts, userec_error *err);
/* userec_encode_texts on this encoder's device. */
USEREC_API userec_status userec_encoder_encode_texts(userec_encoder *e, userec_tokenizer_kind kind,
                                                     const char *const *texts, const size_t *lens, size_t n,
                                                     float *out, userec_text_counts *counts, userec_error *err);
USEREC_API const userec_model *userec_encoder_model(const userec_encoder *e);
/* USEREC_DEVICE_CPU or USEREC_DEVICE_CUDA: where it runs. */
USEREC_API userec_device userec_encoder_device(const userec_encoder *e);
/* "cpu fp32" or "cuda:0 NVIDIA H100 80GB HBM3 bf16" */
USEREC_API const char *userec_encoder_name(const userec_encoder *e);
/* Tokens per encode call that keep the device busy: callers batch at least this many when they can. */
USEREC_API size_t userec_encoder_batch_tokens(const userec_encoder *e);

/* Where a GPU encoder's time went since the last reset (all zero on the CPU). Stages overlap (copies of one
 * chunk run under the kernels of another), so the parts can add up to more than the wall time. */
typedef struct {
    double upload_ms, kernels_ms, download_ms; /* CUDA-event times of each stage */
    size_t chunks, graph_replays;              /* device batches run; of them, replayed from a CUDA graph */
} userec_encoder_stats;
USEREC_API void userec_encoder_stats_get(const userec_encoder *e, userec_encoder_stats *stats);
USEREC_API void userec_encoder_stats_reset(userec_encoder *e);

/* The work each device did since the last userec_encoder_stats_reset. */
typedef struct {
    const char *name; /* userec_encoder_name of that device's encoder */
    size_t sentences, tokens;
    double busy_s; /* seconds inside its encode calls */
} userec_device_work;
/* Fills up to max entries, one per device, and returns the number of devices (1 for a single device). */
USEREC_API size_t userec_encoder_work(const userec_encoder *e, userec_device_work *work, size_t max);
/* Device i's own encoder (i below userec_encoder_work's count): to run that device alone, e.g. to time it.
 * It belongs to e. A single-device encoder is its own part 0. */
USEREC_API userec_encoder *userec_encoder_part(userec_encoder *e, size_t i);

/* ---- related items: exact cosine top-k ---- */

/* Result layout: index[q * k + r] and score[q * k + r] hold query q's rank-r neighbour (r = 0 is the best),
 * ordered by score, highest first, equal scores by lower item index first. When fewer than k candidates exist
 * the missing ranks hold index USEREC_TOPK_EMPTY and score -INFINITY. Scores are dot products: the cosine
 * when the vectors are unit length, as the encoder's are. */
#define USEREC_TOPK_EMPTY (-1)

/* Which items a group filter lets through for a query (userec_topk_options.group_rule). */
typedef enum {
    USEREC_GROUPS_ANY = 0,   /* no group filter */
    USEREC_GROUPS_SAME = 1,  /* only items whose group equals the query's (the same category only) */
    USEREC_GROUPS_OTHER = 2, /* only items whose group differs from the query's (other brands only) */
} userec_group_rule;

typedef struct {
    size_t k;
    int exclude_self;           /* query q is item q (all-pairs): never return it; needs n_queries <= n_items
                                   (query_offset + n_queries with an offset, below) */
    userec_device device;       /* cpu, cuda or auto (auto falls back to the CPU silently) */
    userec_precision precision; /* fp32 (exact, both devices) or bf16 (CUDA: inputs rounded to bf16, fp32 sums) */
    /* May be NULL. Called now and then, on the calling thread, with the share of the search done (0 to 1). */
    void (*progress)(void *arg, double fraction);
    void *progress_arg;
    /* Filters, all off when zero (as in `{.k = 10}`). With filters the result is the k best candidates that pass
     * every filter, in the same order as without (score descending, equal scores by lower item index); the search
     * stays exact. They run on the CPU only: device cuda with a filter is USEREC_ERR_INPUT, auto picks the CPU. */
    int use_min_score;          /* leave out candidates scoring below min_score */
    float min_score;
    int use_max_score;          /* leave out candidates scoring above max_score (near-duplicates of the query) */
    float max_score;
    userec_group_rule group_rule;
    const int32_t *item_group;  /* with a group rule: n_items group numbers (a category or brand, numbered by the
                                   caller) */
    const int32_t *query_group; /* with a group rule: n_queries group numbers; all-pairs passes item_group */
    /* A block of all-pairs: with exclude_self, query q is item query_offset + q (related --shard). */
    size_t query_offset;
    /* May be NULL. Else the search runs on these devices instead of `device`: the queries are cut into one block
     * per listed device; blocks on the same device run one after the other. The lists equal a one-device
     * search's (fp32: bit for bit). */
    const userec_devices *devices;
} userec_topk_options;

/* Searches n_queries rows of queries against n_items rows of items (row-major, dim floats each). queries may
 * be the same pointer as items (all-pairs). Writes n_queries * k entries to index and score. */
USEREC_API userec_status userec_topk_search(const float *queries, size_t n_queries, const float *items,
                                            size_t n_items, size_t dim, const userec_topk_options *opt,
                                            int32_t *index, float *score, userec_error *err);

#ifdef __cplusplus
}
#endif
#endif
