/* cpu_gemm.c: the packing routines and the dense-layer driver of cpu_gemm.h (the micro-kernels: cpu_kernels_*.c).
 * The driver splits the rows into GEMM_MC blocks (and, for short products, the columns into groups) and hands
 * the blocks to OpenMP threads that never wait on each other: each packs its block's rows once, then sweeps
 * every weight panel over them a kernel's kc steps at a time, the bias, residual and ReLU folded into the same
 * pass. */
#include "cpu/cpu_gemm.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_lanes.h"

void gemm_pack_cols(const float *src, size_t k, size_t ld, size_t n, float *dst) {
    const size_t full = n / GEMM_NR * GEMM_NR, tail = n - full;
    /* Row by row, so that the source is read in order (a panel at a time walked down a column, one new page per
     * row of a wide matrix). */
    for (size_t r = 0; r < k; r++) {
        const float *row = src + r * ld;
        float *out = dst + r * GEMM_NR;
        for (size_t c0 = 0; c0 < full; c0 += GEMM_NR, out += k * GEMM_NR) memcpy(out, row + c0, GEMM_NR * sizeof *dst);
        if (tail) {
            memcpy(out, row + full, tail * sizeof *dst);
            memset(out + tail, 0, (GEMM_NR - tail) * sizeof *dst);
        }
    }
}

/* The panels and the bias after them in one 64-byte aligned allocation of panel_bytes + the padded bias. */
static int weights_alloc(const float *b, uint32_t in, uint32_t out, size_t panel_bytes, int bf16, gemm_weights *packed) {
    const size_t padded = round_up(out, GEMM_NR);
    panel_bytes = round_up(panel_bytes, 64);
    *packed = (gemm_weights){.in = in, .out = out, .bf16 = bf16};
    if (!(packed->panels = aligned_alloc(64, round_up(panel_bytes + padded * sizeof(float), 64)))) return -1;
    float *bias = (float *)((char *)packed->panels + panel_bytes);
    for (size_t col = 0; col < padded; col++) bias[col] = col < out ? b[col] : 0.0f;
    packed->bias = bias;
    return 0;
}

int gemm_weights_pack(const float *w, const float *b, uint32_t in, uint32_t out, gemm_weights *packed) {
    if (weights_alloc(b, in, out, (size_t)in * round_up(out, GEMM_NR) * sizeof(float), 0, packed)) return -1;
    gemm_pack_cols(w, in, out, out, packed->panels);
    return 0;
}

int gemm_weights_pack_bf16(const float *w, const float *b, uint32_t in, uint32_t out, gemm_weights *packed) {
    const size_t steps = (in + 1) / 2, panels = round_up(out, GEMM_NR) / GEMM_NR;
    if (weights_alloc(b, in, out, panels * steps * 2 * GEMM_NR * sizeof(uint16_t), 1, packed)) return -1;
    uint16_t *dst = packed->panels;
    for (size_t p = 0; p < panels; p++)
        for (size_t s = 0; s < steps; s++)
            for (size_t j = 0; j < GEMM_NR; j++)
                for (size_t half = 0; half < 2; half++, dst++) {
                    const size_t k = 2 * s + half, col = p * GEMM_NR + j;
                    *dst = k < in && col < out ? gemm_bf16_round(w[k * out + col]) : 0;
                }
    return 0;
}

void gemm_weights_free(gemm_weights *packed) {
    free(packed->panels);
    *packed = (gemm_weights){0};
}

void gemm_packed(const gemm_kernel *g, size_t rows, size_t cols, size_t kc, const void *a, const void *b,
                 size_t b_panel_stride, float *c, size_t ldc, int load_c, const float *bias, int relu) {
    const size_t mr = g->mr, nr = g->nr;
    const char *b_tile = b;
    for (size_t j = 0; j < cols; j += nr, b_tile += nr / GEMM_NR * b_panel_stride * g->bytes) /* B stays in L1 */
        for (size_t i = 0; i < rows; i += mr) {
            const char *a_panel = (const char *)a + i * kc * g->bytes;
            const float *tile_bias = bias ? bias + j : NULL;
            float *out = c + i * ldc + j;
            /* The next tile's outputs are on their way to L1 while this one computes (a miss there stalls the
             * micro-kernel's first loads or last stores). */
            if (i + mr < rows)
                for (size_t r = 0; r < mr && i + mr + r < rows; r++) {
                    __builtin_prefetch(out + (mr + r) * ldc, 1);
                    __builtin_prefetch(out + (mr + r) * ldc + nr - 1, 1);
                }
            const size_t tile_rows = rows - i < mr ? rows - i : mr, tile_cols = cols - j < nr ? cols - j : nr;
            const size_t panel_stride = tile_cols > GEMM_NR ? b_panel_stride : 0; /* one panel left: read it twice */
            if (tile_rows == mr && tile_cols == nr) {
                g->kernel(kc, a_panel, b_tile, panel_stride, out, ldc, load_c, tile_bias, relu);
                continue;
            }
            float tile[GEMM_MAX_MR * GEMM_MAX_NR] = {0}, padded_bias[GEMM_MAX_NR] = {0};
            if (tile_bias) memcpy(padded_bias, tile_bias, tile_cols * sizeof *padded_bias), tile_bias = padded_bias;
            for (size_t r = 0; load_c && r < tile_rows; r++) memcpy(tile + r * nr, out + r * ldc, tile_cols * sizeof *tile);
            g->kernel(kc, a_panel, b_tile, panel_stride, tile, nr, load_c, tile_bias, relu);
            for (size_t r = 0; r < tile_rows; r++) memcpy(out + r * ldc, tile + r * nr, tile_cols * sizeof *tile);
        }
}

/* Rows [0, block_rows) of y (row stride ldy), the columns of weight panels [p0, p1), = epilogue(x . W + b) for
 * at most GEMM_MC rows of x (row stride ldx). a_panels: room for a_panels_bytes(W.in). */
static void block_product(const gemm_kernel *g, const float *x, size_t ldx, size_t block_rows, const gemm_weights *w,
                          size_t p0, size_t p1, float *y, size_t ldy, gemm_epilogue epilogue, char *a_panels) {
    const size_t in = w->in, out = w->out, in_packed = round_up(in, g->k_step);
    /* The block's rows, packed g->kc columns at a time: chunk k0 at a_panels + k0 * GEMM_MC elements. */
    for (size_t k0 = 0; k0 < in; k0 += g->kc) {
        const size_t kc = in - k0 < g->kc ? in - k0 : g->kc;
        g->pack_rows(x, block_rows, ldx, k0, kc, g->mr, round_up(kc, g->k_step) * g->mr,
                     a_panels + k0 * GEMM_MC * g->bytes);
    }
    /* Per column tile, every chunk of k: the block's outputs (GEMM_MC x g->nr) stay in L1. */
    for (size_t p = p0; p < p1; p += g->nr / GEMM_NR) {
        const size_t col = p * GEMM_NR, left = (p1 - p) * GEMM_NR < out - col ? (p1 - p) * GEMM_NR : out - col;
        const size_t cols = left < g->nr ? left : g->nr;
        for (size_t k0 = 0; k0 < in; k0 += g->kc) {
            const size_t kc = in - k0 < g->kc ? in - k0 : g->kc;
            const int first = k0 == 0, last = k0 + kc == in;
            gemm_packed(g, block_rows, cols, round_up(kc, g->k_step), a_panels + k0 * GEMM_MC * g->bytes,
                        (const char *)w->panels + (p * in_packed + k0) * GEMM_NR * g->bytes, in_packed * GEMM_NR,
                        y + col, ldy, !first || epilogue == GEMM_BIAS_ADD, first ? w->bias + col : NULL,
                        last && epilogue == GEMM_BIAS_RELU);
        }
    }
}

static const gemm_kernel *kernel_for(const cpu_kernels *k, const gemm_weights *w) { return w->bf16 ? k->bf16 : &k->fp32; }

/* Room for a block's packed rows of in columns in g's layout. */
static size_t a_panels_bytes(const gemm_kernel *g, size_t in) { return round_up(GEMM_MC * round_up(in, g->kc) * g->bytes, 64); }

static char *a_panels_alloc(const gemm_kernel *g, size_t in) { return aligned_alloc(64, a_panels_bytes(g, in)); }

/* Room for a block's normalised rows of in columns (NULL, and no failure, without a norm). */
static float *normed_alloc(const gemm_norm *norm, size_t in, int *failed) {
    float *normed = norm ? malloc(GEMM_MC * in * sizeof *normed) : NULL;
    *failed |= norm && !normed;
    return normed;
}

/* The input of a block of rows rows of x (in columns, row stride in): x itself, or its rows normalised into normed
 * (the same stride). */
static const float *block_input(const cpu_kernels *k, const gemm_norm *norm, const float *x, size_t rows, size_t in,
                                float *normed) {
    if (!norm) return x;
    for (size_t r = 0; r < rows; r++) k->layer_norm_row(x + r * in, (uint32_t)in, norm->scale, norm->bias, norm->eps, normed + r * in);
    return normed;
}

int gemm_dense(const cpu_kernels *k, const float *x, size_t rows, const gemm_norm *norm, const gemm_weights *w,
               float *y, gemm_epilogue epilogue) {
    const gemm_kernel *g = kernel_for(k, w);
    const size_t out = w->out, col_panels = round_up(out, GEMM_NR) / GEMM_NR, tile_panels = g->nr / GEMM_NR;
    const size_t row_blocks = round_up(rows, GEMM_MC) / GEMM_MC;
    /* Few rows (small batches, the head): split the columns too, so every thread gets work; in whole tiles. */
    size_t groups = 1;
    while (row_blocks * groups < 4 * (size_t)omp_get_max_threads() && groups * 2 * tile_panels <= col_panels) groups *= 2;
    const size_t panels_per_group = round_up(round_up(col_panels, groups) / groups, tile_panels);
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        char *a_panels = a_panels_alloc(g, w->in);
        failed = !a_panels;
        float *normed = normed_alloc(norm, w->in, &failed);
#pragma omp for schedule(dynamic)
        for (size_t task = 0; task < row_blocks * groups; task++) {
            const size_t r0 = task / groups * GEMM_MC, block_rows = rows - r0 < GEMM_MC ? rows - r0 : GEMM_MC;
            const size_t p0 = task % groups * panels_per_group;
            const size_t p1 = p0 + panels_per_group < col_panels ? p0 + panels_per_group : col_panels;
            if (failed || p0 >= p1) continue; /* p0 >= p1: the last groups of an uneven split */
            const float *in = block_input(k, norm, x + r0 * w->in, block_rows, w->in, normed);
            block_product(g, in, w->in, block_rows, w, p0, p1, y + r0 * out, out, epilogue, a_panels);
        }
        free(a_panels);
        free(normed);
    }
    return failed ? -1 : 0;
}

/* The folded block's hidden rows [r0, r0 + rows) from the ctx rows x (gemm_fold): their start values, the
 * product, then each row's layer-norm correction and ReLU, element by element (the same bits on every ISA). */
static void folded_hidden(const gemm_kernel *g, const gemm_fold *fold, const float *x, size_t r0, size_t rows,
                          const gemm_weights *up, const float *y, uint32_t width, float *hidden, char *a_panels) {
    const size_t out = up->out;
    for (size_t r = 0; r < rows; r++) {
        const float *tok = fold->token_rows[r0 + r], *pos = fold->position_rows[r0 + r];
        for (size_t c = 0; c < out; c++) hidden[r * out + c] = (tok[c] + tok[c]) + pos[c];
    }
    block_product(g, x + r0 * up->in, up->in, rows, up, 0, round_up(out, GEMM_NR) / GEMM_NR, hidden, out,
                  GEMM_BIAS_ADD, a_panels);
    for (size_t r = 0; r < rows; r++) {
        float mean, inv, *h = hidden + r * out;
        lanes_row_stats(y + (r0 + r) * width, width, fold->eps, &mean, &inv);
        for (size_t c = 0; c < out; c++) {
            const float v = (h[c] - mean * fold->colsum[c]) * inv + fold->shift[c];
            h[c] = v > 0 ? v : 0;
        }
    }
}

int gemm_mlp(const cpu_kernels *k, const float *x, size_t rows, const gemm_norm *norm, const gemm_fold *fold,
             const gemm_weights *up, const gemm_weights *down, float *y) {
    const gemm_kernel *g_up = kernel_for(k, up), *g_down = kernel_for(k, down);
    const size_t threads = (size_t)omp_get_max_threads(), mr = g_up->mr > g_down->mr ? g_up->mr : g_down->mr;
    /* Blocks of GEMM_MC rows, smaller when that leaves a thread idle (small batches). */
    size_t block = round_up((rows + threads - 1) / threads, mr);
    block = block > GEMM_MC ? GEMM_MC : block ? block : mr;
    const size_t blocks = (rows + block - 1) / block;
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        /* One buffer for both products' packed rows: with the hidden block it stays in L2. */
        const size_t a_up = a_panels_bytes(g_up, up->in), a_down = a_panels_bytes(g_down, down->in);
        char *a_panels = aligned_alloc(64, a_up > a_down ? a_up : a_down);
        float *hidden = malloc(GEMM_MC * up->out * sizeof *hidden);
        failed = !a_panels || !hidden;
        float *normed = normed_alloc(norm, up->in, &failed);
#pragma omp for schedule(dynamic)
        for (size_t b = 0; b < blocks; b++) {
            const size_t r0 = b * block, block_rows = rows - r0 < block ? rows - r0 : block;
            if (failed) continue;
            if (fold) {
                folded_hidden(g_up, fold, x, r0, block_rows, up, y, down->out, hidden, a_panels);
            } else {
                const float *in = block_input(k, norm, x + r0 * up->in, block_rows, up->in, normed);
                block_product(g_up, in, up->in, block_rows, up, 0, round_up(up->out, GEMM_NR) / GEMM_NR, hidden,
                              up->out, GEMM_BIAS_RELU, a_panels);
            }
            block_product(g_down, hidden, up->out, block_rows, down, 0, round_up(down->out, GEMM_NR) / GEMM_NR,
                          y + r0 * down->out, down->out, GEMM_BIAS_ADD, a_panels);
        }
        free(a_panels);
        free(hidden);
        free(normed);
    }
    return failed ? -1 : 0;
}

int gemm_relu_mean(const cpu_kernels *k, const float *x, const size_t *starts, size_t n, const gemm_norm *norm,
                   const gemm_weights *w, float *pooled) {
    const gemm_kernel *g = kernel_for(k, w);
    /* Tasks are runs of whole sentences, at least GEMM_MC rows each (but the last): one thread then adds every
     * row of a sentence, in order, so the sums are cpu_mean_pool's whatever the threads do. */
    size_t *task_first = malloc((n + 1) * sizeof *task_first), tasks = 0;
    if (!task_first) return -1;
    for (size_t s = 0; s < n;) {
        task_first[tasks++] = s;
        do s++;
        while (s < n && starts[s] - starts[task_first[tasks - 1]] < GEMM_MC);
    }
    task_first[tasks] = n;
    const size_t out = w->out, col_panels = round_up(out, GEMM_NR) / GEMM_NR;
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        char *a_panels = a_panels_alloc(g, w->in);
        float *hidden = malloc(GEMM_MC * out * sizeof *hidden);
        failed = !a_panels || !hidden;
        float *normed = normed_alloc(norm, w->in, &failed);
#pragma omp for schedule(dynamic)
        for (size_t t = 0; t < tasks; t++) {
            if (failed) continue;
            const size_t s0 = task_first[t], s1 = task_first[t + 1], end = starts[s1];
            memset(pooled + s0 * out, 0, (s1 - s0) * out * sizeof *pooled);
            size_t s = s0;
            for (size_t r0 = starts[s0]; r0 < end; r0 += GEMM_MC) { /* blocks may cross sentences */
                const size_t block_rows = end - r0 < GEMM_MC ? end - r0 : GEMM_MC;
                const float *in = block_input(k, norm, x + r0 * w->in, block_rows, w->in, normed);
                block_product(g, in, w->in, block_rows, w, 0, col_panels, hidden, out, GEMM_BIAS_RELU, a_panels);
                for (size_t r = r0; r < r0 + block_rows; r++) {
                    while (starts[s + 1] <= r) s++;
                    float *sum = pooled + s * out;
                    const float *row = hidden + (r - r0) * out;
#pragma omp simd
                    for (size_t c = 0; c < out; c++) sum[c] += row[c];
                }
            }
            for (s = s0; s < s1; s++) {
                const size_t len = starts[s + 1] - starts[s];
                const float denom = (float)(len ? len : 1);
                for (size_t c = 0; c < out; c++) pooled[s * out + c] /= denom;
            }
        }
        free(a_panels);
        free(hidden);
        free(normed);
    }
    free(task_first);
    return failed ? -1 : 0;
}
