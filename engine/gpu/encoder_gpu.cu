/* encoder_gpu.cu: the USE-lite forward pass on a CUDA GPU, step for step the CPU path's (encoder_cpu.c):
 * packed sentences, no padding, the matrix products through cuBLASLt (kernels/gemm.cu), the other steps in
 * the kernels of kernels/ (kernels.h).
 *
 * Pipeline. A call is cut into device batches ("chunks") of at most chunk_tokens tokens and
 * chunk_sentences sentences. Two slots, each with pinned host and device buffers for a chunk's ids and
 * vectors, alternate: while the GPU computes chunk i (compute stream), the host packs chunk i+1 into the
 * other slot's pinned buffer and queues its upload (upload stream), and the vectors of chunk i-1 come back
 * (download stream). Events order the three streams; the host waits only before reusing a slot.
 *
 * CUDA Graphs. A chunk issues about 20 launches (kernels and cuBLASLt products). When a slot sees the same
 * shape (tokens, sentences, longest sentence) twice in a row, the second run is captured into a graph and
 * later runs of that shape replay it as one launch: repeated fixed-shape batches (benchmarks, fixed-length
 * inputs) lose the per-launch host cost. Chunks of ever-changing shape run their launches directly: a
 * capture costs as much as the launches it would save, and big chunks hide launch latency anyway.
 *
 * Precision. fp32: everything fp32 (cuBLASLt's plain fp32 compute). tf32: the same storage, products on
 * the tensor cores. bf16: weights and GEMM inputs (LN outputs, q|k|v, attention context, FFN hidden,
 * pooled vector) in bf16 with fp32 accumulation; the residual stream, LN statistics, softmax, pooling sums
 * and the head's output stay fp32. */
#include <cuda_bf16.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels.h"
extern "C" {
#include "model/model.h" /* a C header */
}

#define SLOTS 2
#define MAX_DEVICE_BLOCKS 64

#define TRY(call)                                  \
    do {                                           \
        userec_status try_status_ = (call);        \
        if (try_status_) return try_status_;       \
    } while (0)

typedef struct {
    const void *w, *b; /* device; w in the GEMM input type, b in the type of the product's output */
} gpu_dense;

typedef struct {
    const float *scale, *bias;
} gpu_norm;

typedef struct {
    int width;
    gpu_norm attn_norm, ffn_norm;
    gpu_dense qkv, out, proj, ffn_up, ffn_down; /* proj.w is NULL unless the residual is projected */
} gpu_layer;

/* A chunk's shape: what its launches depend on besides the slot's buffers, hence its CUDA graph's key. */
typedef struct {
    int rows, n, max_len;
} chunk_shape;

typedef struct {
    int32_t *ids_h, *starts_h; /* pinned: the packed ids and the sentence starts of the chunk */
    float *out_h;              /* pinned: its vectors */
    int32_t *ids_d, *starts_d;
    float *out_d;
    cudaEvent_t upload_start, uploaded, compute_start, computed, download_start, downloaded;
    int busy;              /* a chunk is in flight in this slot */
    size_t first_sentence; /* of the chunk in flight, in the caller's numbering */
    chunk_shape shape;
    cudaGraphExec_t graph; /* the forward pass for graph_shape on this slot's buffers, or NULL */
    chunk_shape graph_shape, last_direct;
} slot;

struct gpu_encoder {
    const userec_model *model;
    gpu_options opt;
    char name[320];
    gpu_dtype act; /* storage of GEMM inputs and attention buffers: bf16 in bf16 mode, else fp32 */
    size_t smem_limit; /* shared memory per block the kernels plan with (gpu_smem_limit) */
    cudaStream_t compute, upload, download;
    gemm_context *gemm;
    void *blocks[MAX_DEVICE_BLOCKS]; /* every cudaMalloc, freed by gpu_encoder_destroy */
    int n_blocks;
    const float *embed, *timing;
    gpu_layer layers[USEW_MAX_LAYERS];
    gpu_dense head;
    float *x;          /* the residual stream, fp32 [rows, d_model] */
    float *pooled_sum; /* the sentence vectors before the head, fp32 [n, d_model] */
    void *x0, *h, *qkv, *ctx, *ffn, *pooled_ffn, *pooled; /* act type */
    slot slots[SLOTS];
    userec_encoder_stats stats;
};

static size_t dtype_size(gpu_dtype t) { return t == GPU_BF16 ? 2 : 4; }

static userec_status device_alloc(gpu_encoder *g, size_t bytes, void **p, userec_error *err) {
    if (g->n_blocks == MAX_DEVICE_BLOCKS)
        return set_error(err, USEREC_ERR_NOMEM, "more than %d device buffers (%s:%d)", MAX_DEVICE_BLOCKS, __FILE__,
                         __LINE__);
    CUDA_CHECK(err, cudaMalloc(p, bytes ? bytes : 1));
    g->blocks[g->n_blocks++] = *p;
    return USEREC_OK;
}

/* Copies count floats to the device as type t (bf16: rounded to nearest even). */
static userec_status upload(gpu_encoder *g, const float *src, size_t count, gpu_dtype t, const void **dst,
                            userec_error *err) {
    void *d;
    TRY(device_alloc(g, count * dtype_size(t), &d, err));
    *dst = d;
    if (t == GPU_F32) {
        CUDA_CHECK(err, cudaMemcpy(d, src, count * sizeof(float), cudaMemcpyHostToDevice));
        return USEREC_OK;
    }
    __nv_bfloat16 *tmp = (__nv_bfloat16 *)malloc(count * sizeof *tmp);
    if (!tmp) return set_error(err, USEREC_ERR_NOMEM, "out of host memory converting %zu weights to bf16", count);
    for (size_t i = 0; i < count; i++) tmp[i] = __float2bfloat16_rn(src[i]);
    cudaError_t e = cudaMemcpy(d, tmp, count * sizeof *tmp, cudaMemcpyHostToDevice);
    free(tmp);
    CUDA_CHECK(err, e);
    return USEREC_OK;
}

/* y_type: the type of the product's output, in which cuBLASLt adds the bias. */
static userec_status upload_dense(gpu_encoder *g, const dense *d, uint32_t in, uint32_t out, gpu_dtype y_type,
                                  gpu_dense *dst, userec_error *err) {
    if (!d->w) return USEREC_OK;
    TRY(upload(g, d->w, (size_t)in * out, g->act, &dst->w, err));
    return upload(g, d->b, out, y_type, &dst->b, err);
}

static userec_status upload_norm(gpu_encoder *g, const layer_norm *n, uint32_t width, gpu_norm *dst,
                                 userec_error *err) {
    TRY(upload(g, n->scale, width, GPU_F32, (const void **)&dst->scale, err));
    return upload(g, n->bias, width, GPU_F32, (const void **)&dst->bias, err);
}

static userec_status upload_weights(gpu_encoder *g, userec_error *err) {
    const userec_model *m = g->model;
    const usew_hparams *hp = &m->hp;
    const uint32_t d = hp->d_model;
    TRY(upload(g, m->embed, (size_t)hp->vocab_rows * hp->layer_width[0], GPU_F32, (const void **)&g->embed, err));
    TRY(upload(g, m->timing, (size_t)hp->max_len * hp->layer_width[0], GPU_F32, (const void **)&g->timing, err));
    for (uint32_t i = 0; i < hp->n_layers; i++) {
        const encoder_layer *l = &m->layers[i];
        gpu_layer *gl = &g->layers[i];
        const uint32_t w = l->width;
        gl->width = (int)w;
        TRY(upload_norm(g, &l->attn_norm, w, &gl->attn_norm, err));
        TRY(upload_dense(g, &l->qkv, w, 3 * w, g->act, &gl->qkv, err));
        TRY(upload_dense(g, &l->out, w, d, GPU_F32, &gl->out, err));
        TRY(upload_dense(g, &l->proj, w, d, GPU_F32, &gl->proj, err));
        TRY(upload_norm(g, &l->ffn_norm, d, &gl->ffn_norm, err));
        TRY(upload_dense(g, &l->ffn_up, d, hp->d_ffn, g->act, &gl->ffn_up, err));
        TRY(upload_dense(g, &l->ffn_down, hp->d_ffn, d, GPU_F32, &gl->ffn_down, err));
    }
    return upload_dense(g, &m->head, d, d, GPU_F32, &g->head, err);
}

/* The widths, head depths and lengths the kernels take, checked once here rather than at the first batch. */
static userec_status check_shapes(gpu_encoder *g, userec_error *err) {
    const usew_hparams *hp = &g->model->hp;
    TRY(gpu_smem_limit(&g->smem_limit, err));
    if (!layer_norm_width_ok((int)hp->d_model))
        return set_error(err, USEREC_ERR_UNSUPPORTED, "CUDA: d_model %u is not a multiple of 128 up to %d",
                         hp->d_model, LAYER_NORM_MAX_WIDTH);
    for (uint32_t i = 0; i < hp->n_layers; i++) {
        if (!layer_norm_width_ok((int)hp->layer_width[i]))
            return set_error(err, USEREC_ERR_UNSUPPORTED, "CUDA: layer %u width %u is not a multiple of 128 up to %d",
                             i, hp->layer_width[i], LAYER_NORM_MAX_WIDTH);
        TRY(attention_prepare((int)hp->max_len, (int)hp->layer_width[i], (int)hp->n_heads, g->act, g->smem_limit,
                              err));
    }
    if (g->opt.chunk_tokens < hp->max_len || g->opt.chunk_tokens > INT32_MAX || !g->opt.chunk_sentences ||
        g->opt.chunk_sentences > INT32_MAX)
        return set_error(err, USEREC_ERR_INPUT, "CUDA: chunks of %zu tokens / %zu sentences: need at least %u tokens "
                         "(one whole sentence) and one sentence", g->opt.chunk_tokens, g->opt.chunk_sentences,
                         hp->max_len);
    return USEREC_OK;
}

static userec_status alloc_activations(gpu_encoder *g, userec_error *err) {
    const usew_hparams *hp = &g->model->hp;
    const size_t rows = g->opt.chunk_tokens, n = g->opt.chunk_sentences, a = dtype_size(g->act);
    size_t widest = hp->d_model;
    for (uint32_t i = 0; i < hp->n_layers; i++) widest = hp->layer_width[i] > widest ? hp->layer_width[i] : widest;
    TRY(device_alloc(g, rows * hp->d_model * sizeof(float), (void **)&g->x, err));
    if (g->layers[0].proj.w) TRY(device_alloc(g, rows * hp->layer_width[0] * a, &g->x0, err));
    TRY(device_alloc(g, rows * widest * a, &g->h, err));
    TRY(device_alloc(g, rows * 3 * widest * a, &g->qkv, err));
    TRY(device_alloc(g, rows * widest * a, &g->ctx, err));
    TRY(device_alloc(g, rows * hp->d_ffn * a, &g->ffn, err));
    TRY(device_alloc(g, n * hp->d_model * sizeof(float), (void **)&g->pooled_sum, err));
    TRY(device_alloc(g, n * hp->d_ffn * a, &g->pooled_ffn, err));
    TRY(device_alloc(g, n * hp->d_model * a, &g->pooled, err));
    for (int k = 0; k < SLOTS; k++) {
        slot *s = &g->slots[k];
        CUDA_CHECK(err, cudaHostAlloc((void **)&s->ids_h, rows * sizeof(int32_t), cudaHostAllocDefault));
        CUDA_CHECK(err, cudaHostAlloc((void **)&s->starts_h, (n + 1) * sizeof(int32_t), cudaHostAllocDefault));
        CUDA_CHECK(err, cudaHostAlloc((void **)&s->out_h, n * hp->d_model * sizeof(float), cudaHostAllocDefault));
        TRY(device_alloc(g, rows * sizeof(int32_t), (void **)&s->ids_d, err));
        TRY(device_alloc(g, (n + 1) * sizeof(int32_t), (void **)&s->starts_d, err));
        TRY(device_alloc(g, n * hp->d_model * sizeof(float), (void **)&s->out_d, err));
        cudaEvent_t *events[] = {&s->upload_start, &s->uploaded, &s->compute_start, &s->computed, &s->download_start};
        for (size_t e = 0; e < sizeof events / sizeof *events; e++) CUDA_CHECK(err, cudaEventCreate(events[e]));
        /* The host waits on this one: block instead of spinning a core. */
        CUDA_CHECK(err, cudaEventCreateWithFlags(&s->downloaded, cudaEventBlockingSync));
    }
    return USEREC_OK;
}

/* The number of CUDA devices, or why there is no usable one. */
static userec_status device_count(int *count, userec_error *err) {
    const cudaError_t e = cudaGetDeviceCount(count);
    int runtime = 0;
    cudaRuntimeGetVersion(&runtime);
    if (e == cudaErrorInsufficientDriver)
        return set_error(err, USEREC_ERR_DEVICE,
                         "no CUDA driver, or one older than this build's CUDA runtime %d.%d (%s)", runtime / 1000,
                         runtime % 1000 / 10, cudaGetErrorName(e));
    if (e == cudaErrorNoDevice || (e == cudaSuccess && !*count))
        return set_error(err, USEREC_ERR_DEVICE, "the CUDA driver sees no GPU");
    CUDA_CHECK(err, e);
    return USEREC_OK;
}

#ifndef USEREC_CUDA_TARGETS /* the Makefile names the architectures it compiled for */
#define USEREC_CUDA_TARGETS "the architectures of the nvcc command line"
#endif

extern "C" const char *gpu_build_targets(void) { return USEREC_CUDA_TARGETS; }

/* Whether this build runs on `device` (made the current device): compute capability GPU_MIN_CC_MAJOR.0 or newer,
 * and machine code or PTX in the fatbinary that the driver loads for it. Asking the runtime, rather than
 * comparing numbers, also catches a driver too old for this build's PTX. */
static userec_status runs_on(int device, const cudaDeviceProp *prop, userec_error *err) {
    if (prop->major < GPU_MIN_CC_MAJOR)
        return set_error(err, USEREC_ERR_DEVICE,
                         "cuda:%d %s has compute capability %d.%d; userec needs %d.0 (Ampere) or newer", device,
                         prop->name, prop->major, prop->minor, GPU_MIN_CC_MAJOR);
    CUDA_CHECK(err, cudaSetDevice(device));
    const cudaError_t e = kernels_image_check();
    if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction)
        return set_error(err, USEREC_ERR_DEVICE,
                         "cuda:%d %s (compute capability %d.%d): this build has no code it can run (built for %s); "
                         "rebuild with make CUDA_ARCHS=%d%d", device, prop->name, prop->major, prop->minor,
                         USEREC_CUDA_TARGETS, prop->major, prop->minor);
    if (e == cudaErrorUnsupportedPtxVersion)
        return set_error(err, USEREC_ERR_DEVICE,
                         "cuda:%d %s (compute capability %d.%d): the driver is older than this build's PTX (built "
                         "for %s): update the driver, or rebuild with make CUDA_ARCHS=%d%d", device, prop->name,
                         prop->major, prop->minor, USEREC_CUDA_TARGETS, prop->major, prop->minor);
    if (e != cudaSuccess)
        return set_error(err, USEREC_ERR_DEVICE, "cuda:%d %s: this build's kernels do not load: %s (%s)", device,
                         prop->name, cudaGetErrorName(e), cudaGetErrorString(e));
    return USEREC_OK;
}

/* Device `device` exists and can run this build's code; its properties in *prop. It becomes the current
 * device with its context created (cudaFree(0)): a device that cannot start one is not usable, and the
 * caller's later work, and timing, do not pay for it. */
static userec_status usable_device(int device, cudaDeviceProp *prop, userec_error *err) {
    int count;
    TRY(device_count(&count, err));
    if (device < 0 || device >= count)
        return set_error(err, USEREC_ERR_DEVICE, "CUDA device %d asked for; %d device(s) present", device, count);
    CUDA_CHECK(err, cudaGetDeviceProperties(prop, device));
    TRY(runs_on(device, prop, err));
    CUDA_CHECK(err, cudaFree(0));
    return USEREC_OK;
}

extern "C" userec_status gpu_check(int device, userec_error *err) {
    cudaDeviceProp prop;
    return usable_device(device, &prop, err);
}

static userec_status setup(gpu_encoder *g, userec_error *err) {
    cudaDeviceProp prop;
    TRY(usable_device(g->opt.device, &prop, err));
    snprintf(g->name, sizeof g->name, "cuda:%d %s", g->opt.device, prop.name);
    TRY(check_shapes(g, err));
    CUDA_CHECK(err, cudaStreamCreateWithFlags(&g->compute, cudaStreamNonBlocking));
    CUDA_CHECK(err, cudaStreamCreateWithFlags(&g->upload, cudaStreamNonBlocking));
    CUDA_CHECK(err, cudaStreamCreateWithFlags(&g->download, cudaStreamNonBlocking));
    TRY(gemm_create(&g->gemm, err));
    TRY(upload_weights(g, err));
    return alloc_activations(g, err);
}

extern "C" gpu_encoder *gpu_encoder_create(const userec_model *model, const gpu_options *opt,
                                         userec_error *err) {
    if ((unsigned)opt->precision >= USEREC_PRECISIONS) {
        set_error(err, USEREC_ERR_INPUT, "CUDA: unknown precision %d", (int)opt->precision);
        return NULL;
    }
    gpu_encoder *g = (gpu_encoder *)calloc(1, sizeof *g);
    if (!g) {
        set_error(err, USEREC_ERR_NOMEM, "out of host memory for the GPU encoder");
        return NULL;
    }
    g->model = model;
    g->opt = *opt;
    if (!g->opt.chunk_tokens) g->opt.chunk_tokens = GPU_CHUNK_TOKENS;
    if (!g->opt.chunk_sentences) g->opt.chunk_sentences = GPU_CHUNK_SENTENCES;
    g->act = opt->precision == USEREC_BF16 ? GPU_BF16 : GPU_F32;
    if (setup(g, err)) {
        gpu_encoder_destroy(g);
        return NULL;
    }
    return g;
}

/* Teardown has nobody to report to: failures here are ignored. */
extern "C" void gpu_encoder_destroy(gpu_encoder *g) {
    if (!g) return;
    cudaSetDevice(g->opt.device);
    cudaStream_t streams[] = {g->upload, g->compute, g->download};
    for (int i = 0; i < 3; i++)
        if (streams[i]) cudaStreamSynchronize(streams[i]);
    for (int k = 0; k < SLOTS; k++) {
        slot *s = &g->slots[k];
        if (s->graph) cudaGraphExecDestroy(s->graph);
        cudaEvent_t events[] = {s->upload_start, s->uploaded, s->compute_start, s->computed, s->download_start,
                                s->downloaded};
        for (int e = 0; e < 6; e++)
            if (events[e]) cudaEventDestroy(events[e]);
        cudaFreeHost(s->ids_h);
        cudaFreeHost(s->starts_h);
        cudaFreeHost(s->out_h);
    }
    for (int i = 0; i < g->n_blocks; i++) cudaFree(g->blocks[i]);
    gemm_destroy(g->gemm);
    for (int i = 0; i < 3; i++)
        if (streams[i]) cudaStreamDestroy(streams[i]);
    free(g);
}

/* The forward pass of one chunk, queued on the compute stream: encoder_cpu.c's steps in the same order. */
static userec_status forward(gpu_encoder *g, const slot *sl, chunk_shape sh, userec_error *err) {
    const usew_hparams *hp = &g->model->hp;
    const userec_precision p = g->opt.precision;
    const int d = (int)hp->d_model, d_ffn = (int)hp->d_ffn, heads = (int)hp->n_heads, rows = sh.rows;
    const gpu_layer *l0 = &g->layers[0];
    cudaStream_t s = g->compute;
    /* x0 feeds the residual projection when layer 0 has one; otherwise it is the residual stream itself. */
    void *x0 = l0->proj.w ? g->x0 : g->x;
    const gpu_dtype x0_type = l0->proj.w ? g->act : GPU_F32;
    TRY(launch_embed_norm(sl->ids_d, sl->starts_d, sh.n, l0->width, g->embed, g->timing, l0->attn_norm.scale,
                          l0->attn_norm.bias, hp->ln_eps, x0, x0_type, g->h, g->act, s, err));
    for (uint32_t i = 0; i < hp->n_layers; i++) {
        const gpu_layer *l = &g->layers[i];
        const int w = l->width;
        if (i > 0)
            TRY(launch_layer_norm(g->x, GPU_F32, rows, w, l->attn_norm.scale, l->attn_norm.bias, hp->ln_eps, g->h,
                                  g->act, s, err));
        TRY(gemm_run(g->gemm, p, rows, w, 3 * w, g->h, l->qkv.w, l->qkv.b, g->qkv, g->act, GEMM_BIAS, s, err));
        TRY(launch_attention(g->qkv, sl->starts_d, sh.n, sh.max_len, w, heads, g->act, g->smem_limit, g->ctx, s,
                             err));
        if (l->proj.w) /* the residual changes width: x = x0 . Wd + bd, written fresh */
            TRY(gemm_run(g->gemm, p, rows, w, d, g->x0, l->proj.w, l->proj.b, g->x, GPU_F32, GEMM_BIAS, s, err));
        TRY(gemm_run(g->gemm, p, rows, w, d, g->ctx, l->out.w, l->out.b, g->x, GPU_F32, GEMM_BIAS_ADD, s, err));
        TRY(launch_layer_norm(g->x, GPU_F32, rows, d, l->ffn_norm.scale, l->ffn_norm.bias, hp->ln_eps, g->h, g->act, s,
                              err));
        TRY(gemm_run(g->gemm, p, rows, d, d_ffn, g->h, l->ffn_up.w, l->ffn_up.b, g->ffn, g->act, GEMM_BIAS_RELU, s,
                     err));
        if (i + 1 < hp->n_layers) {
            TRY(gemm_run(g->gemm, p, rows, d_ffn, d, g->ffn, l->ffn_down.w, l->ffn_down.b, g->x, GPU_F32,
                         GEMM_BIAS_ADD, s, err));
            continue;
        }
        /* The last down-projection after pooling, as on the CPU (encoder_cpu.c, pooled_ffn_block):
         * pooled = mean(x) + mean(ffn) . W2 + b2, then zeros for an empty sentence. */
        TRY(launch_mean_pool(g->x, GPU_F32, sl->starts_d, sh.n, d, g->pooled_sum, GPU_F32, s, err));
        TRY(launch_mean_pool(g->ffn, g->act, sl->starts_d, sh.n, d_ffn, g->pooled_ffn, g->act, s, err));
        TRY(gemm_run(g->gemm, p, sh.n, d_ffn, d, g->pooled_ffn, l->ffn_down.w, l->ffn_down.b, g->pooled_sum, GPU_F32,
                     GEMM_BIAS_ADD, s, err));
        TRY(launch_pooled_finish(g->pooled_sum, sl->starts_d, sh.n, d, g->pooled, g->act, s, err));
    }
    TRY(gemm_run(g->gemm, p, sh.n, d, d, g->pooled, g->head.w, g->head.b, sl->out_d, GPU_F32, GEMM_BIAS, s, err));
    return launch_tanh_l2_normalize(sl->out_d, sh.n, d, hp->l2_floor, s, err);
}

static int same_shape(chunk_shape a, chunk_shape b) { return a.rows == b.rows && a.n == b.n && a.max_len == b.max_len; }

/* Replays the slot's graph when the shape matches it; captures one when the slot ran this shape directly just
 * before; otherwise launches directly. */
static userec_status run_forward(gpu_encoder *g, slot *sl, userec_error *err) {
    const chunk_shape sh = sl->shape;
    if (sl->graph && same_shape(sl->graph_shape, sh)) {
        CUDA_CHECK(err, cudaGraphLaunch(sl->graph, g->compute));
        g->stats.graph_replays++;
        return USEREC_OK;
    }
    if (!same_shape(sl->last_direct, sh)) {
        sl->last_direct = sh;
        return forward(g, sl, sh, err);
    }
    cudaGraph_t graph;
    CUDA_CHECK(err, cudaStreamBeginCapture(g->compute, cudaStreamCaptureModeThreadLocal));
    userec_status st = forward(g, sl, sh, err);
    cudaError_t ended = cudaStreamEndCapture(g->compute, &graph); /* even after a failure: leave capture mode */
    if (st) {
        if (ended == cudaSuccess) cudaGraphDestroy(graph);
        return st;
    }
    CUDA_CHECK(err, ended);
    if (sl->graph) CUDA_CHECK(err, cudaGraphExecDestroy(sl->graph));
    sl->graph = NULL;
    cudaError_t made = cudaGraphInstantiate(&sl->graph, graph, 0);
    CUDA_CHECK(err, cudaGraphDestroy(graph));
    CUDA_CHECK(err, made);
    sl->graph_shape = sh;
    CUDA_CHECK(err, cudaGraphLaunch(sl->graph, g->compute));
    return USEREC_OK;
}

/* Packs the next sentences (from *next) into the slot, clipped to max_len, and queues upload, forward pass and
 * download. Advances *next past the sentences taken. */
static userec_status launch_chunk(gpu_encoder *g, slot *sl, const int32_t *ids, const size_t *offsets, size_t n,
                                  size_t *next, userec_error *err) {
    const size_t d = g->model->hp.d_model;
    size_t s = *next, tokens = 0;
    int count = 0, longest = 0;
    sl->starts_h[0] = 0;
    while (s < n && (size_t)count < g->opt.chunk_sentences) {
        const size_t len = model_kept_tokens(&g->model->hp, offsets, s);
        if (tokens + len > g->opt.chunk_tokens) break;
        memcpy(sl->ids_h + tokens, ids + offsets[s], len * sizeof *ids);
        tokens += len;
        sl->starts_h[++count] = (int32_t)tokens;
        longest = (int)len > longest ? (int)len : longest;
        s++;
    }
    sl->first_sentence = *next;
    sl->shape = (chunk_shape){(int)tokens, count, longest};
    *next = s;

    CUDA_CHECK(err, cudaEventRecord(sl->upload_start, g->upload));
    if (tokens)
        CUDA_CHECK(err, cudaMemcpyAsync(sl->ids_d, sl->ids_h, tokens * sizeof(int32_t), cudaMemcpyHostToDevice,
                                        g->upload));
    CUDA_CHECK(err, cudaMemcpyAsync(sl->starts_d, sl->starts_h, (count + 1) * sizeof(int32_t), cudaMemcpyHostToDevice,
                                    g->upload));
    CUDA_CHECK(err, cudaEventRecord(sl->uploaded, g->upload));

    CUDA_CHECK(err, cudaStreamWaitEvent(g->compute, sl->uploaded, 0));
    CUDA_CHECK(err, cudaEventRecord(sl->compute_start, g->compute));
    TRY(run_forward(g, sl, err));
    CUDA_CHECK(err, cudaEventRecord(sl->computed, g->compute));

    CUDA_CHECK(err, cudaStreamWaitEvent(g->download, sl->computed, 0));
    CUDA_CHECK(err, cudaEventRecord(sl->download_start, g->download));
    CUDA_CHECK(err, cudaMemcpyAsync(sl->out_h, sl->out_d, count * d * sizeof(float), cudaMemcpyDeviceToHost,
                                    g->download));
    CUDA_CHECK(err, cudaEventRecord(sl->downloaded, g->download));
    sl->busy = 1;
    return USEREC_OK;
}

static userec_status add_elapsed(double *total_ms, cudaEvent_t from, cudaEvent_t to, userec_error *err) {
    float ms;
    CUDA_CHECK(err, cudaEventElapsedTime(&ms, from, to));
    *total_ms += ms;
    return USEREC_OK;
}

/* Waits for the slot's chunk and copies its vectors to the caller's rows. */
static userec_status finish_chunk(gpu_encoder *g, slot *sl, float *out, userec_error *err) {
    const size_t d = g->model->hp.d_model;
    CUDA_CHECK(err, cudaEventSynchronize(sl->downloaded));
    sl->busy = 0;
    memcpy(out + sl->first_sentence * d, sl->out_h, (size_t)sl->shape.n * d * sizeof *out);
    g->stats.chunks++;
    TRY(add_elapsed(&g->stats.upload_ms, sl->upload_start, sl->uploaded, err));
    TRY(add_elapsed(&g->stats.kernels_ms, sl->compute_start, sl->computed, err));
    return add_elapsed(&g->stats.download_ms, sl->download_start, sl->downloaded, err);
}

extern "C" userec_status gpu_encoder_encode(gpu_encoder *g, const int32_t *ids, const size_t *offsets, size_t n,
                                               float *out, userec_counts *counts, userec_error *err) {
    size_t rows, clipped;
    TRY(model_check_ids(&g->model->hp, ids, offsets, n, &rows, &clipped, err));
    CUDA_CHECK(err, cudaSetDevice(g->opt.device));
    userec_status st = USEREC_OK;
    size_t next = 0, chunk = 0;
    while (next < n && !st) {
        slot *sl = &g->slots[chunk++ % SLOTS];
        if (sl->busy) st = finish_chunk(g, sl, out, err);
        if (!st) st = launch_chunk(g, sl, ids, offsets, n, &next, err);
    }
    for (size_t k = 0; k < SLOTS; k++) { /* the chunks still in flight, oldest first */
        slot *sl = &g->slots[(chunk + k) % SLOTS];
        if (sl->busy && !st) st = finish_chunk(g, sl, out, err);
        sl->busy = 0;
    }
    if (st) { /* leave nothing queued behind a failure; its own error is the one to report */
        cudaStreamSynchronize(g->upload);
        cudaStreamSynchronize(g->compute);
        cudaStreamSynchronize(g->download);
        return st;
    }
    if (counts) {
        counts->sentences += n;
        counts->tokens += rows;
        counts->clipped += clipped;
    }
    return USEREC_OK;
}

extern "C" void gpu_encoder_stats(const gpu_encoder *g, userec_encoder_stats *stats) { *stats = g->stats; }
extern "C" void gpu_encoder_stats_reset(gpu_encoder *g) { memset(&g->stats, 0, sizeof g->stats); }
extern "C" const char *gpu_encoder_name(const gpu_encoder *g) { return g->name; }

extern "C" int gpu_list(userec_gpu_info *devices, int max, userec_error *err) {
    int count = 0, current = 0;
    if (device_count(&count, err)) return 0;
    cudaGetDevice(&current); /* runs_on switches devices: the caller's stays current */
    for (int i = 0; i < count && i < max; i++) {
        cudaDeviceProp prop;
        const cudaError_t e = cudaGetDeviceProperties(&prop, i);
        if (e != cudaSuccess) {
            gpu_fail_cuda(err, e, "cudaGetDeviceProperties", __FILE__, __LINE__);
            return 0;
        }
        userec_gpu_info *dev = &devices[i];
        snprintf(dev->name, sizeof dev->name, "%s", prop.name);
        dev->cc_major = prop.major;
        dev->cc_minor = prop.minor;
        dev->multiprocessors = prop.multiProcessorCount;
        dev->memory_bytes = prop.totalGlobalMem;
        userec_error why;
        dev->usable = runs_on(i, &prop, &why) == USEREC_OK;
    }
    cudaSetDevice(current);
    return count;
}

extern "C" void gpu_versions(int *driver, int *runtime) {
    if (cudaDriverGetVersion(driver) != cudaSuccess) *driver = 0;
    if (cudaRuntimeGetVersion(runtime) != cudaSuccess) *runtime = 0;
}
