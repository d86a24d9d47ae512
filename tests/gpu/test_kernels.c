/* test_kernels.c: each launcher of kernels/kernels.h against its CPU twin (engine/cpu/), kernel by kernel, so
 * that a failure names the kernel rather than "the vectors differ" (tests/gpu/test_gpu_encoder.c checks the
 * whole forward pass).
 *
 * Data: random packed batches holding empty sentences (first, in the middle, last) and full 128-token ones,
 * at the widths and head depths of USE-lite (256 with depth 64, 512 with depth 128) and the other depth the
 * attention kernel takes (32); an all-empty batch; zero-sized calls, which must launch nothing.
 * Inputs that a kernel reads as bf16 are rounded to bf16 on the host and the CPU twin gets the same rounded
 * values: what is compared is the kernel's arithmetic, not the rounding of its inputs.
 * Tolerance per element: atol + eps * scale, where scale is |reference| for the row kernels, and for the
 * matrix products also the sum of |terms| of the element's dot product (the scale of any summation-order
 * error); eps by the output's type and the product's precision (see tolerance_for). Device outputs are
 * filled with NaN first, so an element left unwritten fails. Each comparison prints its largest error, its
 * tolerance there, and the first values side by side.
 * The attention kernel runs twice where it has two variants: with the device's shared memory, and within the
 * 99 KiB per block of sm_86/sm_89/sm_120 parts (values then stay in global memory); both must give the same bits.
 *
 * Skips, saying why, when the build has no CUDA or there is no usable GPU. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#ifndef USEREC_CUDA
int main(void) {
    SKIP("kernel twins", "this build has no CUDA (make CUDA=0, or no nvcc at build time)");
    CHECK_DONE();
}
#else

#include "../../kernels/kernels.h"
#include "cpu/cpu_gemm.h"
#include "cpu/cpu_ops.h"

/* The CPU kernels the references run on (every ISA computes the same bits; chosen in main). */
static const cpu_kernels *cpu;

#define SMALL_CARD_SMEM 101376 /* shared memory per block (opt-in) of sm_86, sm_89 and sm_120 parts */
#define LN_EPS 1e-6f
#define VOCAB 1000
#define MAX_LEN 128

/* ---- random data ---- */

static uint64_t rng = 0x5851f42d4c957f2dull;
static uint32_t random_u32(void) { /* xorshift64* */
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (uint32_t)((rng * 2685821657736338717ull) >> 32);
}
static float uniform(void) { return ((float)random_u32() + 0.5f) / 4294967296.0f; }
static float gaussian(void) { return sqrtf(-2.0f * logf(uniform())) * cosf(6.2831853f * uniform()); }

static float *random_floats(size_t n, float sigma, float mean) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = mean + sigma * gaussian();
    return v;
}

static float *copy_floats(const float *src, size_t n) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    memcpy(v, src, n * sizeof *v);
    return v;
}

/* ---- bf16 on the host: round to nearest even, as __float2bfloat16_rn (no NaN or infinity here) ---- */

static uint16_t bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
static float bf16_value(uint16_t b) {
    const uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* The values a bf16 buffer of these floats holds; no-op for fp32. */
static void round_to(gpu_dtype t, float *v, size_t n) {
    if (t == GPU_BF16)
        for (size_t i = 0; i < n; i++) v[i] = bf16_value(bf16_bits(v[i]));
}
static const char *dtype_name(gpu_dtype t) { return t == GPU_BF16 ? "bf16" : "fp32"; }

/* ---- device buffers, freed together after each case ---- */

static void *allocations[64];
static int n_allocations;

static void *device_alloc(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess || n_allocations == (int)(sizeof allocations / sizeof *allocations)) {
        CHECK(0, "device memory for the test", "cudaMalloc(%zu): %s", bytes, cudaGetErrorString(e));
        exit(1);
    }
    return allocations[n_allocations++] = p;
}
static void device_free_all(void) {
    while (n_allocations) cudaFree(allocations[--n_allocations]);
}

static void cuda_ok(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return;
    CHECK(0, what, "%s (%s)", cudaGetErrorName(e), cudaGetErrorString(e));
}

/* n floats on the device as type t. */
static void *upload_as(gpu_dtype t, const float *host, size_t n) {
    void *d = device_alloc(n * (t == GPU_BF16 ? 2 : 4));
    if (t == GPU_F32) {
        cuda_ok(cudaMemcpy(d, host, n * 4, cudaMemcpyHostToDevice), "upload");
        return d;
    }
    uint16_t *bits = malloc((n ? n : 1) * 2);
    for (size_t i = 0; i < n; i++) bits[i] = bf16_bits(host[i]);
    cuda_ok(cudaMemcpy(d, bits, n * 2, cudaMemcpyHostToDevice), "upload");
    free(bits);
    return d;
}
/* n elements of type t, all NaN (0xffff.. is a NaN in both types): an element the kernel skips shows. */
static void *poisoned_as(gpu_dtype t, size_t n) {
    void *d = device_alloc(n * (t == GPU_BF16 ? 2 : 4));
    cuda_ok(cudaMemset(d, 0xff, n * (t == GPU_BF16 ? 2 : 4)), "poison");
    return d;
}
static float *download_as(gpu_dtype t, const void *d, size_t n) {
    float *host = malloc((n ? n : 1) * sizeof *host);
    if (t == GPU_F32) {
        cuda_ok(cudaMemcpy(host, d, n * 4, cudaMemcpyDeviceToHost), "download");
        return host;
    }
    uint16_t *bits = malloc((n ? n : 1) * 2);
    cuda_ok(cudaMemcpy(bits, d, n * 2, cudaMemcpyDeviceToHost), "download");
    for (size_t i = 0; i < n; i++) host[i] = bf16_value(bits[i]);
    free(bits);
    return host;
}

/* A launcher's status, then the kernel's own faults (which show at the next synchronisation). */
static int launched(const char *name, userec_status st, const userec_error *err) {
    char what[300];
    snprintf(what, sizeof what, "%s launches", name);
    if (st != USEREC_OK) {
        CHECK(0, what, "%s: %s", userec_status_name(st), err->message);
        return 0;
    }
    const cudaError_t e = cudaDeviceSynchronize();
    CHECK(e == cudaSuccess, what, "the kernel failed: %s (%s)", cudaGetErrorName(e), cudaGetErrorString(e));
    return e == cudaSuccess;
}

/* ---- comparison ---- */

/* How far a kernel may be from its twin: atol + eps * |reference|, or per element (allowed[]). */
typedef struct {
    double atol, eps;
} tolerance;

/* For an output stored as t. fp32_eps: how far the kernel's fp32 result may be from the CPU's, relative to the
 * result (summation order, expf and tanhf ulp; 4 ulp where the arithmetic is the same); atol covers the same
 * where the result is small beside what was summed (the values in these tests are of order 1). A bf16 output is
 * that fp32 result rounded, within half a bf16 ulp: 2^-8 of it more. */
static tolerance tolerance_for(gpu_dtype t, double atol, double fp32_eps) {
    return (tolerance){atol, fp32_eps + (t == GPU_BF16 ? 1.0 / 256 : 0)};
}
#define SAME_ARITHMETIC (4.0 / 16777216) /* 4 ulp: the kernel does the CPU's operations in the CPU's order */

static float *allowed_from(tolerance tol, const float *want, size_t n) {
    float *allowed = calloc(n ? n : 1, sizeof *allowed);
    for (size_t i = 0; i < n; i++) allowed[i] = (float)(tol.atol + tol.eps * fabs(want[i]));
    return allowed;
}

/* CHECKs |got - want| <= allowed over n elements; prints the worst element against its tolerance and the first
 * values side by side. */
static void compare_within(const char *name, const float *got, const float *want, const float *allowed, size_t n) {
    size_t worst = 0, bad = 0;
    double worst_ratio = 0;
    for (size_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - want[i]);
        const double ratio = err == 0 ? 0 : err / allowed[i]; /* err NaN (unwritten): NaN; over a zero allowed: inf */
        if (!(err <= allowed[i])) bad++;
        if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = i;
    }
    if (!n) {
        CHECK(1, name, "nothing to compare");
        return;
    }
    printf("%s: max |err| / tolerance %.3f at element %zu (|err| %.3g, tolerance %.3g)\n", name, worst_ratio, worst,
           fabs((double)got[worst] - want[worst]), allowed[worst]);
    for (size_t i = 0; i < n && i < 4; i++) printf("    [%zu] gpu % .8f   cpu % .8f\n", i, got[i], want[i]);
    if (worst >= 4) printf("    [%zu] gpu % .8f   cpu % .8f   (the worst)\n", worst, got[worst], want[worst]);
    CHECK(!bad, name, "%zu of %zu elements beyond tolerance; worst at %zu: gpu %.8g, cpu %.8g, |err| %.3g > %.3g", bad,
          n, worst, got[worst], want[worst], fabs((double)got[worst] - want[worst]), allowed[worst]);
}

static void compare(const char *name, const float *got, const float *want, size_t n, tolerance tol) {
    float *allowed = allowed_from(tol, want, n);
    compare_within(name, got, want, allowed, n);
    free(allowed);
}

/* ---- packed batches ---- */

typedef struct {
    const char *what;
    size_t n, rows, max_len;
    size_t *starts;    /* n + 1, for the CPU twins */
    int32_t *ids;      /* rows token ids in [0, VOCAB) */
    int32_t *starts_d; /* on the device: the starts as int32 */
    int32_t *ids_d;
} batch;

static batch make_batch(const char *what, const size_t *lengths, size_t n) {
    batch b = {.what = what, .n = n, .starts = malloc((n + 1) * sizeof(size_t))};
    b.starts[0] = 0;
    for (size_t s = 0; s < n; s++) {
        b.starts[s + 1] = b.starts[s] + lengths[s];
        b.max_len = lengths[s] > b.max_len ? lengths[s] : b.max_len;
    }
    b.rows = b.starts[n];
    b.ids = malloc((b.rows ? b.rows : 1) * sizeof *b.ids);
    for (size_t r = 0; r < b.rows; r++) b.ids[r] = (int32_t)(random_u32() % VOCAB);
    return b;
}

/* The batch's ids and starts on the device, until the next device_free_all. */
static void batch_upload(batch *b) {
    int32_t *starts = malloc((b->n + 1) * sizeof *starts);
    for (size_t s = 0; s <= b->n; s++) starts[s] = (int32_t)b->starts[s];
    b->starts_d = device_alloc((b->n + 1) * 4);
    b->ids_d = device_alloc((b->rows ? b->rows : 1) * 4);
    cuda_ok(cudaMemcpy(b->starts_d, starts, (b->n + 1) * 4, cudaMemcpyHostToDevice), "upload starts");
    cuda_ok(cudaMemcpy(b->ids_d, b->ids, b->rows * 4, cudaMemcpyHostToDevice), "upload ids");
    free(starts);
}

static void free_batch(batch *b) {
    free(b->starts);
    free(b->ids);
}

/* ---- the kernels, each against its twin ---- */

/* launch_embed_norm: x0 = (E[id] + PE[p]) + E[id] (SPEC 1.3, in the graph's order of additions, as
 * encoder_cpu.c's embed_tokens), then h = cpu_layer_norm(x0). */
static void test_embed_norm(batch *b, int width, gpu_dtype x0_type, gpu_dtype h_type) {
    char name[200], what[260];
    const size_t count = b->rows * width;
    float *table = random_floats((size_t)VOCAB * width, 0.5f, 0), *timing = random_floats((size_t)MAX_LEN * width, 1, 0);
    float *scale = random_floats(width, 0.2f, 1), *bias = random_floats(width, 0.1f, 0);
    float *x0 = malloc((count ? count : 1) * sizeof *x0), *h = malloc((count ? count : 1) * sizeof *h);
    for (size_t s = 0; s < b->n; s++)
        for (size_t p = 0; p < b->starts[s + 1] - b->starts[s]; p++) {
            const size_t r = b->starts[s] + p;
            const float *e = table + (size_t)b->ids[r] * width, *pe = timing + p * width;
            for (int c = 0; c < width; c++) x0[r * width + c] = (e[c] + pe[c]) + e[c];
        }
    cpu_layer_norm(cpu, x0, b->rows, (uint32_t)width, &(layer_norm){scale, bias}, LN_EPS, h);

    batch_upload(b);
    void *x0_d = poisoned_as(x0_type, count), *h_d = poisoned_as(h_type, count);
    userec_error err;
    snprintf(name, sizeof name, "launch_embed_norm, %s, width %d, x0 %s, h %s", b->what, width, dtype_name(x0_type),
             dtype_name(h_type));
    const userec_status st = launch_embed_norm(
        b->ids_d, b->starts_d, (int)b->n, width, upload_as(GPU_F32, table, (size_t)VOCAB * width),
        upload_as(GPU_F32, timing, (size_t)MAX_LEN * width), upload_as(GPU_F32, scale, width),
        upload_as(GPU_F32, bias, width), LN_EPS, x0_d, x0_type, h_d, h_type, 0, &err);
    if (launched(name, st, &err)) {
        float *got_x0 = download_as(x0_type, x0_d, count), *got_h = download_as(h_type, h_d, count);
        snprintf(what, sizeof what, "%s: x0 equals 2E + PE", name);
        compare(what, got_x0, x0, count, tolerance_for(x0_type, 0, SAME_ARITHMETIC));
        snprintf(what, sizeof what, "%s: h equals cpu_layer_norm(x0)", name);
        compare(what, got_h, h, count, tolerance_for(h_type, 1e-5, 1e-5));
        free(got_x0), free(got_h);
    }
    device_free_all();
    free(table), free(timing), free(scale), free(bias), free(x0), free(h);
}

/* launch_layer_norm against cpu_layer_norm; rows of mean 3 and unequal spread, like a residual stream. */
static void test_layer_norm(size_t rows, int width, gpu_dtype x_type, gpu_dtype y_type) {
    char name[200];
    const size_t count = rows * width;
    float *x = random_floats(count, 2, 3), *y = malloc((count ? count : 1) * sizeof *y);
    for (size_t i = 0; i < count; i += 7) x[i] *= 4;
    round_to(x_type, x, count);
    float *scale = random_floats(width, 0.2f, 1), *bias = random_floats(width, 0.1f, 0);
    cpu_layer_norm(cpu, x, rows, (uint32_t)width, &(layer_norm){scale, bias}, LN_EPS, y);

    void *y_d = poisoned_as(y_type, count);
    userec_error err;
    snprintf(name, sizeof name, "launch_layer_norm, %zu rows, width %d, x %s, y %s", rows, width, dtype_name(x_type),
             dtype_name(y_type));
    if (launched(name, launch_layer_norm(upload_as(x_type, x, count), x_type, (int)rows, width,
                                         upload_as(GPU_F32, scale, width), upload_as(GPU_F32, bias, width), LN_EPS, y_d,
                                         y_type, 0, &err),
                 &err)) {
        float *got = download_as(y_type, y_d, count);
        char what[260];
        snprintf(what, sizeof what, "%s: equals cpu_layer_norm", name);
        compare(what, got, y, count, tolerance_for(y_type, 1e-5, 1e-5));
        free(got);
    }
    device_free_all();
    free(x), free(y), free(scale), free(bias);
}

/* launch_attention against cpu_attention, once with the device's shared memory and once within a 99 KiB part's
 * (where that picks the other variant, the two must agree bit for bit). */
static void test_attention(batch *b, int width, int heads, gpu_dtype t) {
    char name[200], what[300];
    const size_t count = b->rows * width;
    float *qkv = random_floats(3 * count, 1, 0), *ctx = malloc((count ? count : 1) * sizeof *ctx);
    round_to(t, qkv, 3 * count);
    CHECK(cpu_attention(cpu, qkv, b->starts, b->n, (uint32_t)width, (uint32_t)heads, ctx) == 0, "cpu_attention runs",
          "out of memory");
    userec_error err;
    size_t device_smem;
    if (gpu_smem_limit(&device_smem, &err)) {
        CHECK(0, "gpu_smem_limit", "%s", err.message);
        return;
    }
    const size_t limits[2] = {device_smem, device_smem < SMALL_CARD_SMEM ? device_smem : SMALL_CARD_SMEM};
    float *got[2] = {NULL, NULL};
    batch_upload(b);
    const void *qkv_d = upload_as(t, qkv, 3 * count);
    for (int v = 0; v < 2; v++) {
        snprintf(name, sizeof name, "launch_attention, %s, width %d, %d heads of depth %d, %s, %zu bytes of shared memory",
                 b->what, width, heads, width / heads, dtype_name(t), limits[v]);
        userec_status st = attention_prepare(MAX_LEN, width, heads, t, limits[v], &err);
        snprintf(what, sizeof what, "%s: attention_prepare", name);
        CHECK(st == USEREC_OK, what, "%s: %s", userec_status_name(st), err.message);
        if (st) continue;
        void *ctx_d = poisoned_as(t, count);
        if (!launched(name, launch_attention(qkv_d, b->starts_d, (int)b->n, (int)b->max_len, width, heads, t, limits[v],
                                             ctx_d, 0, &err),
                      &err))
            continue;
        got[v] = download_as(t, ctx_d, count);
        snprintf(what, sizeof what, "%s: equals cpu_attention", name);
        compare(what, got[v], ctx, count, tolerance_for(t, 1e-5, 1e-5));
    }
    if (got[0] && got[1] && limits[0] != limits[1]) {
        snprintf(what, sizeof what, "launch_attention, %s, depth %d, %s: the same bits with %zu and %zu bytes of shared "
                 "memory", b->what, width / heads, dtype_name(t), limits[0], limits[1]);
        size_t differ = 0;
        for (size_t i = 0; i < count; i++) differ += memcmp(&got[0][i], &got[1][i], sizeof(float)) != 0;
        CHECK(!differ, what, "%zu of %zu elements differ", differ, count);
    }
    device_free_all();
    free(got[0]), free(got[1]), free(qkv), free(ctx);
}

/* launch_mean_pool against cpu_mean_pool (the same summation order: fp32 sums equal). */
static void test_mean_pool(batch *b, int width, gpu_dtype x_type, gpu_dtype pooled_type) {
    char name[200], what[260];
    const size_t count = b->rows * width, out = b->n * width;
    float *x = random_floats(count, 1, 0.5f), *want = malloc((out ? out : 1) * sizeof *want);
    round_to(x_type, x, count);
    cpu_mean_pool(x, b->starts, b->n, (uint32_t)width, want);
    batch_upload(b);
    void *pooled_d = poisoned_as(pooled_type, out);
    userec_error err;
    snprintf(name, sizeof name, "launch_mean_pool, %s, width %d, x %s, pooled %s", b->what, width, dtype_name(x_type),
             dtype_name(pooled_type));
    if (launched(name, launch_mean_pool(upload_as(x_type, x, count), x_type, b->starts_d, (int)b->n, width, pooled_d,
                                        pooled_type, 0, &err),
                 &err)) {
        float *got = download_as(pooled_type, pooled_d, out);
        snprintf(what, sizeof what, "%s: equals cpu_mean_pool", name);
        compare(what, got, want, out, tolerance_for(pooled_type, 0, SAME_ARITHMETIC));
        free(got);
    }
    device_free_all();
    free(x), free(want);
}

/* launch_pooled_finish against encoder_cpu.c's pooled_ffn_block ending: the sum, or zeros for an empty sentence. */
static void test_pooled_finish(batch *b, int width, gpu_dtype pooled_type) {
    char name[200], what[260];
    const size_t out = b->n * width;
    float *sum = random_floats(out, 1, 0), *want = copy_floats(sum, out);
    for (size_t s = 0; s < b->n; s++)
        if (b->starts[s + 1] == b->starts[s]) memset(want + s * width, 0, width * sizeof *want);
    batch_upload(b);
    void *pooled_d = poisoned_as(pooled_type, out);
    userec_error err;
    snprintf(name, sizeof name, "launch_pooled_finish, %s, width %d, pooled %s", b->what, width, dtype_name(pooled_type));
    if (launched(name, launch_pooled_finish(upload_as(GPU_F32, sum, out), b->starts_d, (int)b->n, width, pooled_d,
                                            pooled_type, 0, &err),
                 &err)) {
        float *got = download_as(pooled_type, pooled_d, out);
        snprintf(what, sizeof what, "%s: the sums, zeros for empty sentences", name);
        compare(what, got, want, out, tolerance_for(pooled_type, 0, 0));
        free(got);
    }
    device_free_all();
    free(sum), free(want);
}

/* launch_tanh_l2_normalize against cpu_tanh_l2_normalize; one row of zeros takes the l2 floor. */
static void test_tanh_l2(size_t n, int width) {
    char name[200], what[260];
    const size_t count = n * width;
    float *y = random_floats(count, 1.5f, 0);
    memset(y, 0, width * sizeof *y);
    float *want = copy_floats(y, count);
    cpu_tanh_l2_normalize(want, n, (uint32_t)width, 1e-12f);
    float *y_d = upload_as(GPU_F32, y, count);
    userec_error err;
    snprintf(name, sizeof name, "launch_tanh_l2_normalize, %zu rows, width %d", n, width);
    if (launched(name, launch_tanh_l2_normalize(y_d, (int)n, width, 1e-12f, 0, &err), &err)) {
        float *got = download_as(GPU_F32, y_d, count);
        snprintf(what, sizeof what, "%s: equals cpu_tanh_l2_normalize", name);
        compare(what, got, want, count, tolerance_for(GPU_F32, 1e-7, 4e-6));
        free(got);
    }
    device_free_all();
    free(y), free(want);
}

static const char *epilogue_name(gemm_epilogue e) {
    return e == GEMM_BIAS_RELU ? "bias+relu" : e == GEMM_BIAS_ADD ? "bias+residual" : "bias";
}

/* gemm_run against gemm_dense. Tolerance per element: atol + eps_in * T + eps_out * |y|, where T is the sum of
 * |terms| of its dot product (|x|.|W| + |b| + |residual|): summation order may move the result by up to
 * in * u * T in any order (u = 2^-24; twice that for the tensor cores' truncating adders); tf32 rounds both
 * factors of every product (2^-9 of T); products of bf16 factors are exact in fp32; a bf16 output adds its
 * rounding, 2^-8 of |y|. */
static void test_gemm(gemm_context *g, userec_precision p, size_t rows, int in, int out, gpu_dtype y_type,
                      gemm_epilogue epilogue) {
    char name[240], what[300];
    const gpu_dtype in_type = p == USEREC_BF16 ? GPU_BF16 : GPU_F32;
    const size_t nx = rows * in, nw = (size_t)in * out, ny = rows * out;
    float *x = random_floats(nx, 1, 0), *w = random_floats(nw, 1.0f / sqrtf((float)in), 0);
    float *bias = random_floats(out, 0.1f, 0), *y0 = random_floats(ny, 1, 0);
    round_to(in_type, x, nx);
    round_to(in_type, w, nw);
    round_to(y_type, bias, out);
    float *want = epilogue == GEMM_BIAS_ADD ? copy_floats(y0, ny) : calloc(ny ? ny : 1, sizeof(float));
    float *terms = calloc(ny ? ny : 1, sizeof(float));
    float *x_abs = copy_floats(x, nx), *w_abs = copy_floats(w, nw), *b_abs = copy_floats(bias, out);
    for (size_t i = 0; i < nx; i++) x_abs[i] = fabsf(x_abs[i]);
    for (size_t i = 0; i < nw; i++) w_abs[i] = fabsf(w_abs[i]);
    for (int i = 0; i < out; i++) b_abs[i] = fabsf(b_abs[i]);
    gemm_weights packed, packed_abs;
    if (gemm_weights_pack(w, bias, (uint32_t)in, (uint32_t)out, &packed) ||
        gemm_weights_pack(w_abs, b_abs, (uint32_t)in, (uint32_t)out, &packed_abs) ||
        gemm_dense(cpu, x, rows, NULL, &packed, want, epilogue) || gemm_dense(cpu, x_abs, rows, NULL, &packed_abs, terms, GEMM_BIAS)) {
        CHECK(0, "gemm_dense reference", "out of memory");
        exit(1);
    }
    const double u = 1.0 / 16777216;
    const double eps_in = (p == USEREC_FP32 ? 1 : 2) * in * u + (p == USEREC_TF32 ? 1.0 / 512 : 0);
    const double eps_out = y_type == GPU_BF16 ? 1.0 / 256 : 2 * u;
    float *allowed = malloc((ny ? ny : 1) * sizeof *allowed);
    for (size_t i = 0; i < ny; i++)
        allowed[i] = (float)(1e-6 + eps_in * (terms[i] + (epilogue == GEMM_BIAS_ADD ? fabsf(y0[i]) : 0)) +
                             eps_out * fabs(want[i]));

    void *y_d = epilogue == GEMM_BIAS_ADD ? upload_as(y_type, y0, ny) : poisoned_as(y_type, ny);
    userec_error err;
    snprintf(name, sizeof name, "gemm_run %s, [%zu x %d] . [%d x %d], %s epilogue, y %s", userec_precision_name(p), rows,
             in, in, out, epilogue_name(epilogue), dtype_name(y_type));
    if (launched(name, gemm_run(g, p, (int)rows, in, out, upload_as(in_type, x, nx), upload_as(in_type, w, nw),
                                upload_as(y_type, bias, out), y_d, y_type, epilogue, 0, &err),
                 &err)) {
        float *got = download_as(y_type, y_d, ny);
        snprintf(what, sizeof what, "%s: equals gemm_dense", name);
        compare_within(what, got, want, allowed, ny);
        free(got);
    }
    device_free_all();
    gemm_weights_free(&packed), gemm_weights_free(&packed_abs);
    free(x), free(w), free(bias), free(y0), free(want), free(terms), free(x_abs), free(w_abs), free(b_abs), free(allowed);
}

/* Zero-sized work launches nothing and writes nothing: each launcher on an output of NaN. */
static void test_zero_sized(gemm_context *g) {
    userec_error err;
    float *out = poisoned_as(GPU_F32, 512);
    const int32_t *starts = device_alloc(4);
    cuda_ok(cudaMemset((void *)starts, 0, 4), "starts");
    const struct {
        const char *name;
        userec_status st;
    } calls[] = {
        {"launch_embed_norm", launch_embed_norm(NULL, starts, 0, 256, NULL, NULL, NULL, NULL, LN_EPS, out, GPU_F32,
                                                out, GPU_F32, 0, &err)},
        {"launch_layer_norm", launch_layer_norm(NULL, GPU_F32, 0, 256, NULL, NULL, LN_EPS, out, GPU_F32, 0, &err)},
        {"launch_attention", launch_attention(NULL, starts, 0, 0, 256, 4, GPU_F32, SMALL_CARD_SMEM, out, 0, &err)},
        {"launch_mean_pool", launch_mean_pool(NULL, GPU_F32, starts, 0, 256, out, GPU_F32, 0, &err)},
        {"launch_pooled_finish", launch_pooled_finish(NULL, starts, 0, 256, out, GPU_F32, 0, &err)},
        {"launch_tanh_l2_normalize", launch_tanh_l2_normalize(out, 0, 256, 1e-12f, 0, &err)},
        {"gemm_run", gemm_run(g, USEREC_FP32, 0, 256, 512, NULL, NULL, NULL, out, GPU_F32, GEMM_BIAS, 0, &err)},
    };
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
        char name[120];
        snprintf(name, sizeof name, "%s: zero-sized work succeeds", calls[i].name);
        CHECK(calls[i].st == USEREC_OK, name, "%s: %s", userec_status_name(calls[i].st), err.message);
    }
    float *after = download_as(GPU_F32, out, 512);
    size_t written = 0;
    for (size_t i = 0; i < 512; i++) written += !isnan(after[i]);
    CHECK(!written && cudaDeviceSynchronize() == cudaSuccess, "zero-sized work writes nothing",
          "%zu of 512 poisoned values were overwritten", written);
    free(after);
    device_free_all();
}

/* ---- the batches ---- */

/* Empty sentences first, in the middle and last; full 128-token ones; the rest random in 1 .. 128. */
static batch random_batch(void) {
    enum { N = 40 };
    size_t lengths[N] = {0, 128, 5, 0, 0, 128, 1, 64, 127, 0, 2, 128, 33, 0};
    for (size_t s = 14; s < N - 1; s++) lengths[s] = 1 + random_u32() % MAX_LEN;
    lengths[N - 1] = 0;
    return make_batch("40 sentences (empty ones first, mid-batch and last; three of 128 tokens)", lengths, N);
}

int main(void) {
    userec_error err;
    if (gpu_check(0, &err)) {
        SKIP("kernel twins", err.message);
        return 0;
    }
    char why[200];
    if (!(cpu = cpu_kernels_choose(why, sizeof why))) {
        CHECK(0, "CPU kernels for the references", "%s", why);
        CHECK_DONE();
    }
    userec_gpu_info dev;
    gpu_list(&dev, 1, &err);
    printf("GPU %s (compute capability %d.%d)\n", dev.name, dev.cc_major, dev.cc_minor);
    gemm_context *g = NULL;
    if (gemm_create(&g, &err)) {
        CHECK(0, "gemm_create", "%s", err.message);
        CHECK_DONE();
    }

    batch mixed = random_batch();
    const size_t all_empty_lengths[3] = {0, 0, 0};
    batch empty = make_batch("3 empty sentences", all_empty_lengths, 3);
    printf("%s: %zu rows, longest %zu\n", mixed.what, mixed.rows, mixed.max_len);

    batch *batches[2] = {&mixed, &empty};
    /* Layer 0's embedding and pre-norm: fp32 and bf16 modes, with and without the residual projection (x0 in
     * the activation type, or fp32 as the residual stream itself). */
    for (int i = 0; i < 2; i++) {
        test_embed_norm(batches[i], 256, GPU_F32, GPU_F32);
        test_embed_norm(batches[i], 256, GPU_BF16, GPU_BF16);
        test_embed_norm(batches[i], 256, GPU_F32, GPU_BF16);
    }
    test_layer_norm(mixed.rows, 512, GPU_F32, GPU_F32);
    test_layer_norm(mixed.rows, 512, GPU_F32, GPU_BF16);
    test_layer_norm(mixed.rows, 1024, GPU_BF16, GPU_BF16);
    test_layer_norm(3, 128, GPU_F32, GPU_F32);
    const gpu_dtype types[2] = {GPU_F32, GPU_BF16};
    for (int t = 0; t < 2; t++) {
        test_attention(&mixed, 256, 4, types[t]); /* USE-lite layer 0: depth 64 */
        test_attention(&mixed, 512, 4, types[t]); /* layer 1: depth 128, the one that outgrows 99 KiB */
        test_attention(&mixed, 256, 8, types[t]); /* depth 32 */
        test_attention(&empty, 512, 4, types[t]);
    }
    for (int i = 0; i < 2; i++) {
        test_mean_pool(batches[i], 512, GPU_F32, GPU_F32);    /* the residual stream */
        test_mean_pool(batches[i], 1536, GPU_BF16, GPU_BF16); /* the bf16 FFN hidden */
        test_mean_pool(batches[i], 1536, GPU_F32, GPU_F32);
        test_pooled_finish(batches[i], 512, GPU_F32);
        test_pooled_finish(batches[i], 512, GPU_BF16);
    }
    test_tanh_l2(mixed.n, 512);
    /* The encoder's products: per token (q|k|v, out, FFN up and down) and per sentence (pooled down, head). */
    const userec_precision precisions[3] = {USEREC_FP32, USEREC_TF32, USEREC_BF16};
    for (int i = 0; i < 3; i++) {
        const userec_precision p = precisions[i];
        const gpu_dtype act = p == USEREC_BF16 ? GPU_BF16 : GPU_F32;
        test_gemm(g, p, mixed.rows, 256, 768, act, GEMM_BIAS);
        test_gemm(g, p, mixed.rows, 512, 1536, act, GEMM_BIAS_RELU);
        test_gemm(g, p, mixed.rows, 1536, 512, GPU_F32, GEMM_BIAS_ADD);
        test_gemm(g, p, mixed.n, 1536, 512, GPU_F32, GEMM_BIAS_ADD);
        test_gemm(g, p, mixed.n, 512, 512, GPU_F32, GEMM_BIAS);
    }
    test_zero_sized(g);

    gemm_destroy(g);
    free_batch(&mixed);
    free_batch(&empty);
    CHECK_DONE();
}
#endif
