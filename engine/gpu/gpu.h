/* gpu.h: the CUDA forward pass of USE-lite (engine/encoder_gpu.cu, kernels/), the device list, and the choice
 * between the CPU and the GPU encoder that the CLI makes. A build without CUDA has the same API: every GPU
 * call then fails with "built without CUDA" (engine/gpu_stub.c), and --device auto runs on the CPU. */
#ifndef USEREC_GPU_H
#define USEREC_GPU_H

#include <stdio.h>

#include "userec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    USEREC_FP32 = 0, /* fp32 storage, fp32 products: the CPU path's arithmetic */
    USEREC_TF32 = 1, /* fp32 storage, products on the tensor cores with 10-bit mantissa inputs */
    USEREC_BF16 = 2, /* bf16 weights and activations, fp32 accumulation, fp32 residual stream, LN and softmax */
} userec_precision;
#define USEREC_PRECISIONS 3

const char *userec_precision_name(userec_precision p);
/* "fp32" | "tf32" | "bf16" -> *p; returns -1 for anything else. */
int userec_precision_parse(const char *name, userec_precision *p);

/* ---- devices ---- */

typedef struct {
    char name[256];
    int cc_major, cc_minor;
    int multiprocessors;
    size_t memory_bytes;
} userec_gpu_device;

/* Fills up to max entries and returns how many CUDA devices there are; returns 0 with err set when there is
 * no usable GPU: no device, no driver, a driver older than the runtime, or a build without CUDA. */
int userec_gpu_list(userec_gpu_device *devices, int max, userec_error *err);
/* USEREC_OK when CUDA device `device` can run this build's kernels (a driver, the device, compute capability
 * 9.0 or newer, a context); it is then the current device, its context created. Else USEREC_ERR_DEVICE and
 * why not in err. */
userec_status userec_gpu_check(int device, userec_error *err);
/* CUDA driver and runtime versions as 1000*major + 10*minor (0 when unknown or built without CUDA). */
void userec_gpu_versions(int *driver, int *runtime);

/* The card's dense (no sparsity) peak in TFLOP/s for the products of precision p, looked up by device name;
 * 0 when the card is not in the table (engine/gpu_peak.c holds the table and its source). */
double userec_gpu_peak_tflops(const char *device_name, userec_precision p);

/* ---- the GPU encoder ---- */

typedef struct userec_gpu userec_gpu;

#define USEREC_GPU_CHUNK_TOKENS 65536   /* default tokens per device batch: large products keep the GPU busy */
#define USEREC_GPU_CHUNK_SENTENCES 8192 /* default sentences per device batch (bounds the pinned output buffers) */

typedef struct {
    int device;             /* CUDA device index */
    userec_precision precision;
    size_t chunk_tokens;    /* tokens per device batch; 0 = USEREC_GPU_CHUNK_TOKENS */
    size_t chunk_sentences; /* sentences per device batch; 0 = USEREC_GPU_CHUNK_SENTENCES */
} userec_gpu_options;

/* Uploads the model's weights once (converted for the precision) and allocates the pipeline's buffers.
 * The model must outlive the encoder. An encoder serves one caller at a time. */
userec_gpu *userec_gpu_create(const userec_model *model, const userec_gpu_options *opt, userec_error *err);
void userec_gpu_destroy(userec_gpu *g);

/* userec_encode_ids on the GPU: same arguments, checks, clipping and counts. */
userec_status userec_gpu_encode_ids(userec_gpu *g, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                    userec_counts *counts, userec_error *err);

/* Where the time of the encode calls went, summed since the last reset. Stages overlap (copies of one chunk
 * run under the kernels of another), so the parts can add up to more than the wall time. */
typedef struct {
    double upload_ms, kernels_ms, download_ms; /* CUDA-event times of each stage */
    size_t chunks, graph_replays;              /* device batches run; of them, replayed from a CUDA graph */
} userec_gpu_stats;

void userec_gpu_stats_get(const userec_gpu *g, userec_gpu_stats *stats);
void userec_gpu_stats_reset(userec_gpu *g);
/* "cuda:0 NVIDIA H100 80GB HBM3" */
const char *userec_gpu_name(const userec_gpu *g);

/* ---- choosing the device (engine/gpu_select.c) ---- */

typedef enum { USEREC_DEVICE_CPU, USEREC_DEVICE_CUDA, USEREC_DEVICE_AUTO } userec_device;

/* "cpu" | "cuda" | "auto" -> *d; returns -1 for anything else. */
int userec_device_parse(const char *name, userec_device *d);

/* For work that runs on either device as it is (the top-k search): cpu -> cpu; cuda -> cuda when device 0 is
 * usable, else USEREC_ERR_DEVICE saying why; auto -> cuda when usable, else cpu, saying why on `notes` (stderr
 * for the CLI). *chosen is USEREC_DEVICE_CPU or USEREC_DEVICE_CUDA. */
userec_status userec_device_choose(userec_device device, FILE *notes, userec_device *chosen, userec_error *err);

/* A CPU or GPU encoder behind one call. */
typedef struct userec_encoder userec_encoder;

/* cpu: the fp32 CPU path (any other precision is an error). cuda: the GPU or an error saying why not.
 * auto: the GPU when one is usable, else the CPU in fp32, saying why on `notes` (stderr for the CLI). */
userec_encoder *userec_encoder_open(const userec_model *model, userec_device device, userec_precision precision,
                                    FILE *notes, userec_error *err);
void userec_encoder_close(userec_encoder *e);
/* One call at a time per encoder: it reuses its buffers from call to call. */
userec_status userec_encoder_encode(userec_encoder *e, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                    userec_counts *counts, userec_error *err);
/* userec_encode_texts (userec.h) on this encoder's device (encode_texts.c). */
userec_status userec_encoder_encode_texts(userec_encoder *e, userec_tokenizer_kind kind, const char *const *texts,
                                          const size_t *lens, size_t n, float *out, userec_text_counts *counts,
                                          userec_error *err);
const userec_model *userec_encoder_model(const userec_encoder *e);
/* "cpu fp32" or "cuda:0 NVIDIA H100 80GB HBM3 bf16" */
const char *userec_encoder_name(const userec_encoder *e);
/* The GPU encoder inside (for its stats), or NULL on the CPU. */
userec_gpu *userec_encoder_gpu(userec_encoder *e);
/* Tokens per encode call that keep the device busy: callers batch at least this many when they can. */
size_t userec_encoder_batch_tokens(const userec_encoder *e);

#ifdef __cplusplus
}
#endif
#endif
