/* gpu.h: what the C side of the engine calls on a CUDA GPU: the device list and checks, the GPU encoder
 * (engine/gpu/encoder_gpu.cu over kernels/), the fused top-k (kernels/topk_fused.cu), and the table of peak
 * rates. Internal: programs use userec.h. A build without CUDA links engine/gpu/gpu_stub.c instead, where
 * every call answers "built without CUDA". */
#ifndef USEREC_GPU_H
#define USEREC_GPU_H

#include <stddef.h>

#include "userec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Compute capability the kernels need: 8.0 (Ampere) brings bf16 arithmetic, tf32 tensor cores, bf16 WMMA and
 * cp.async (the top-k kernel). The build holds machine code for 8.0 through 12.0 (Makefile, CUDA_ARCHS). */
#define GPU_MIN_CC_MAJOR 8

/* Fills up to max entries and returns how many CUDA devices there are; returns 0 with err set when there is
 * no usable GPU: no device, no driver, a driver older than the runtime, or a build without CUDA. Deciding
 * `usable` loads a kernel on each listed device, which starts its CUDA context; the current device is kept. */
int gpu_list(userec_gpu_info *gpus, int max, userec_error *err);
/* USEREC_OK when CUDA device `device` can run this build's kernels (a driver, the device, compute capability
 * 8.0 or newer, code in the fatbinary that the driver loads for it, a context); it is then the current device,
 * its context created. Else USEREC_ERR_DEVICE and why not in err. gpu_list's `usable` is the same test. */
userec_status gpu_check(int device, userec_error *err);
/* The architectures this build carries code for: "sm_80 sm_86 ... + PTX compute_120"; "" without CUDA. */
const char *gpu_build_targets(void);
/* CUDA driver and runtime versions as 1000*major + 10*minor (0 when unknown or built without CUDA). */
void gpu_versions(int *driver, int *runtime);

/* The card's dense (no sparsity) peak in TFLOP/s for the products of precision p, looked up by device name;
 * 0 when the card is not in the table (engine/gpu/gpu_peak.c holds the table and its source). */
double gpu_peak_tflops(const char *device_name, userec_precision p);

/* ---- the GPU encoder ---- */

typedef struct gpu_encoder gpu_encoder;

#define GPU_CHUNK_TOKENS 65536   /* default tokens per device batch: large products keep the GPU busy */
#define GPU_CHUNK_SENTENCES 8192 /* default sentences per device batch (bounds the pinned output buffers) */

typedef struct {
    int device;             /* CUDA device index */
    userec_precision precision;
    size_t chunk_tokens;    /* tokens per device batch; 0 = GPU_CHUNK_TOKENS */
    size_t chunk_sentences; /* sentences per device batch; 0 = GPU_CHUNK_SENTENCES */
} gpu_options;

/* Uploads the model's weights once (converted for the precision) and allocates the pipeline's buffers.
 * The model must outlive the encoder. An encoder serves one caller at a time. */
gpu_encoder *gpu_encoder_create(const userec_model *model, const gpu_options *opt, userec_error *err);
void gpu_encoder_destroy(gpu_encoder *g);

/* userec_encode_ids on the GPU: same arguments, checks, clipping and counts. */
userec_status gpu_encoder_encode(gpu_encoder *g, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                 userec_counts *counts, userec_error *err);

/* Where the time of the encode calls went, summed since the last reset. */
void gpu_encoder_stats(const gpu_encoder *g, userec_encoder_stats *stats);
void gpu_encoder_stats_reset(gpu_encoder *g);
/* "cuda:0 NVIDIA H100 80GB HBM3" */
const char *gpu_encoder_name(const gpu_encoder *g);

/* ---- the fused top-k (kernels/topk_fused.cu) ---- */

/* userec_topk_search on the GPU, arguments already checked: host arrays in and out; the items (and queries)
 * stream through the GPU in chunks that fit its memory. */
userec_status topk_cuda_search(const float *queries, size_t n_queries, const float *items, size_t n_items,
                               size_t dim, const userec_topk_options *opt, int32_t *index, float *score,
                               userec_error *err);

#ifdef __cplusplus
}
#endif
#endif
