/* topk_fused.cu: cosine top-k on the GPU, scores and selection fused (docs/topk.md).
 *
 * fused_topk: a block takes BQ queries and one split of the item chunk. Tile by tile (BN = 128 items) it
 * computes the BQ x BN scores on chip (bf16 tensor cores via WMMA with fp32 sums, or fp32 FMA chains that
 * sum exactly like the CPU path, so fp32 scores equal the CPU's bit for bit), then each warp passes its
 * queries' rows through a per-query candidate list: a score enters only if it beats the list's threshold (the
 * k-th best seen at the last compaction); a full list is sorted (warp bitonic sort) and cut back to k, which
 * raises the threshold. The lists live in shared memory while they fit (k up to 1600 on a Hopper GPU);
 * beyond, the same kernel keeps them in global memory (the slower path; the scores still never leave the chip).
 * Each block writes its queries' sorted top-k to one slot of a partial list; merge_lists then merges the
 * slots of every query (and the result so far, slot 0) with the same candidate-list logic.
 *
 * Catalogues larger than the GPU's memory stream through in item chunks (and query chunks): slot 0 carries
 * each query's result from chunk to chunk. No query x item matrix ever reaches global memory. */
#include <cuda_bf16.h>
#include <cuda_pipeline.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <mma.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "kernels.h" /* gpu_smem_limit, round_up (cpu/cpu_gemm.h) */

namespace {

constexpr int THREADS = 256, WARPS = THREADS / 32;
constexpr int BN = 128;        /* items per tile */
constexpr int BK_BF16 = 32;    /* dims per staged chunk, bf16 path (64 bytes per row) */
constexpr int BK_F32 = 16;     /* dims per staged chunk, fp32 path (64 bytes per row) */
constexpr int DIM_ALIGN = 32;  /* device rows are padded with zeros to a multiple of this many dims */
constexpr int STAGE_PAD = 8;   /* bf16 elements of padding per staged row: conflict-free fragment loads */
constexpr int SCORE_PAD = 4;   /* floats of padding per score-tile row */
constexpr int MERGE_WARPS = 4;
constexpr size_t CONVERT_ROWS = 32768; /* rows per fp32 -> bf16 conversion batch (64 MiB of staging at 512-d) */

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ bool better(float score_a, int index_a, float score_b, int index_b) {
    return score_a > score_b || (score_a == score_b && index_a < index_b);
}

/* Sorts entries [0, n) best first. Bitonic sort in its "flip" form: every compare-exchange puts the better
 * entry at the lower position, so positions n .. next_pow2(n)-1 act as worst-of-all padding that never moves
 * and need not exist. The whole warp calls it. */
__device__ void warp_sort(float *score, int *index, int n, int lane) {
    int p = 1;
    while (p < n) p <<= 1;
    for (int size = 2; size <= p; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int i = lane; i < n; i += 32) {
                const int partner = stride == size >> 1 ? i ^ (size - 1) : i ^ stride;
                if (partner > i && partner < n && better(score[partner], index[partner], score[i], index[i])) {
                    const float s = score[i];
                    const int x = index[i];
                    score[i] = score[partner], index[i] = index[partner];
                    score[partner] = s, index[partner] = x;
                }
            }
            __syncwarp();
        }
}

/* One query's candidates as a warp sees them: entries [0, count) of a buffer of cap >= k + 32 entries. Every
 * lane holds the same copy of count and the threshold. Invariant: the best k candidates offered so far are
 * among the entries, and each candidate left out is worse than k entries. */
struct candidates {
    float *score;
    int *index;
    int count, cap, k;
    float threshold_score; /* a candidate must beat (threshold_score, threshold_index) */
    int threshold_index;

    /* Sorts and keeps the best k; once k exist, the k-th becomes the threshold. */
    __device__ void compact(int lane) {
        warp_sort(score, index, count, lane);
        if (count >= k) {
            count = k;
            threshold_score = score[k - 1];
            threshold_index = index[k - 1];
        }
    }

    /* Each lane offers one candidate (valid or not). Returns whether any was taken. */
    __device__ bool offer(float s, int x, bool valid, int lane) {
        bool take = valid && better(s, x, threshold_score, threshold_index);
        unsigned taken = __ballot_sync(0xffffffffu, take);
        if (!taken) return false;
        if (count + __popc(taken) > cap) { /* after compact() count <= k, so 32 more always fit */
            compact(lane);
            take = valid && better(s, x, threshold_score, threshold_index);
            taken = __ballot_sync(0xffffffffu, take);
        }
        if (take) {
            const int at = count + __popc(taken & ((1u << lane) - 1));
            score[at] = s;
            index[at] = x;
        }
        count += __popc(taken);
        __syncwarp();
        return taken != 0;
    }

    /* Writes the best k, best first, padded with empty entries (index -1, score -inf). */
    __device__ void write(float *out_score, int *out_index, int lane) {
        compact(lane);
        for (int r = lane; r < k; r += 32) {
            out_score[r] = r < count ? score[r] : -INFINITY;
            out_index[r] = r < count ? index[r] : -1;
        }
    }
};

/* Per-query list state kept in shared memory between tiles. */
struct list_head {
    int count, threshold_index;
    float threshold_score;
};

struct fused_args {
    const void *queries; /* this query chunk: n_queries rows of dim_pad elements */
    int n_queries;
    long long query_base; /* item index of its row 0, for the self test (query_offset + the chunk's start) */
    const void *items;    /* this item chunk */
    int n_items;
    long long item_base;
    int dim_pad, k, cap, exclude_self, items_per_split;
    float *partial_score; /* [n_queries][slots][k]; block (x, y) writes slot 1 + y */
    int *partial_index;
    int slots;
    float *global_score; /* lists in global memory: [gridDim.y][gridDim.x][BQ][cap] */
    int *global_index;
};

/* The score tile's geometry, shared by both precisions. */
template <int BQ> struct tile_shape {
    static constexpr int score_ld = BN + SCORE_PAD;
    static constexpr size_t score_bytes = sizeof(float) * BQ * score_ld;
};

/* ---- bf16 tiles on the tensor cores ---- */
template <int BQ> struct bf16_tile {
    static constexpr int ld = BK_BF16 + STAGE_PAD;
    static constexpr size_t stage_bytes = sizeof(bf16) * 2 * (BQ + BN) * ld; /* two stages */
    static constexpr int warps_m = BQ >= 32 ? BQ / 32 : 1, warps_n = WARPS / warps_m;
    static constexpr int frags_m = BQ / warps_m / 16, frags_n = BN / warps_n / 16;
    static_assert(frags_m >= 1 && frags_n >= 1 && warps_m * warps_n == WARPS, "tile shape");

    /* Starts the async copy of dims [k0, k0 + BK) of the tile's query and item rows into stage buf. */
    static __device__ void load(const fused_args &a, bf16 *stage, int q0, int i0, int i_end, int k0, int tid) {
        const bf16 *queries = static_cast<const bf16 *>(a.queries), *items = static_cast<const bf16 *>(a.items);
        constexpr int parts = BK_BF16 / 8; /* 16-byte pieces per row */
        for (int v = tid; v < (BQ + BN) * parts; v += THREADS) {
            const int row = v / parts, part = v % parts;
            bf16 *dst = stage + row * ld + part * 8;
            const bf16 *src = nullptr;
            if (row < BQ && q0 + row < a.n_queries) src = queries + (size_t)(q0 + row) * a.dim_pad + k0 + part * 8;
            if (row >= BQ && i0 + row - BQ < i_end) src = items + (size_t)(i0 + row - BQ) * a.dim_pad + k0 + part * 8;
            if (src) __pipeline_memcpy_async(dst, src, 16);
            else *reinterpret_cast<uint4 *>(dst) = make_uint4(0, 0, 0, 0);
        }
        __pipeline_commit();
    }

    /* scores[BQ][score_ld] = queries[q0 ..] . items[i0 ..] over all dims. */
    static __device__ void score(const fused_args &a, unsigned char *smem, float *scores, int q0, int i0, int i_end,
                                 int tid) {
        using namespace nvcuda;
        bf16 *stages = reinterpret_cast<bf16 *>(smem);
        const int warp = tid / 32, wm = warp / warps_n, wn = warp % warps_n;
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[frags_m][frags_n];
#pragma unroll
        for (int i = 0; i < frags_m; i++)
#pragma unroll
            for (int j = 0; j < frags_n; j++) wmma::fill_fragment(acc[i][j], 0.0f);
        const int chunks = a.dim_pad / BK_BF16;
        load(a, stages, q0, i0, i_end, 0, tid);
        for (int c = 0; c < chunks; c++) {
            if (c + 1 < chunks) load(a, stages + ((c + 1) & 1) * (BQ + BN) * ld, q0, i0, i_end, (c + 1) * BK_BF16, tid);
            else __pipeline_commit(); /* an empty group keeps the wait below uniform */
            __pipeline_wait_prior(1);
            __syncthreads();
            const bf16 *qs = stages + (c & 1) * (BQ + BN) * ld, *xs = qs + BQ * ld;
#pragma unroll
            for (int kk = 0; kk < BK_BF16; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa[frags_m];
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fb[frags_n];
#pragma unroll
                for (int i = 0; i < frags_m; i++) wmma::load_matrix_sync(fa[i], qs + ((wm * frags_m + i) * 16) * ld + kk, ld);
#pragma unroll
                for (int j = 0; j < frags_n; j++) wmma::load_matrix_sync(fb[j], xs + ((wn * frags_n + j) * 16) * ld + kk, ld);
#pragma unroll
                for (int i = 0; i < frags_m; i++)
#pragma unroll
                    for (int j = 0; j < frags_n; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
            }
            __syncthreads(); /* this stage is reloaded next-but-one chunk; the last one is overwritten by scores */
        }
#pragma unroll
        for (int i = 0; i < frags_m; i++)
#pragma unroll
            for (int j = 0; j < frags_n; j++)
                wmma::store_matrix_sync(scores + ((wm * frags_m + i) * 16) * tile_shape<BQ>::score_ld + (wn * frags_n + j) * 16,
                                        acc[i][j], tile_shape<BQ>::score_ld, wmma::mem_row_major);
    }
};

/* ---- fp32 tiles: one fma chain per score in ascending dims, like engine/topk_tile.c ---- */
template <int BQ> struct f32_tile {
    static constexpr size_t stage_bytes = sizeof(float) * BK_F32 * (BQ + BN); /* [BK][BQ] then [BK][BN] */
    static constexpr int tm = BQ / 16, tn = BN / 16; /* scores per thread: tm rows x tn columns */

    static __device__ void score(const fused_args &a, unsigned char *smem, float *scores, int q0, int i0, int i_end,
                                 int tid) {
        float *qs = reinterpret_cast<float *>(smem), *xs = qs + BK_F32 * BQ;
        const float *queries = static_cast<const float *>(a.queries), *items = static_cast<const float *>(a.items);
        const int ty = tid / 16, tx = tid % 16;
        float acc[tm][tn];
#pragma unroll
        for (int i = 0; i < tm; i++)
#pragma unroll
            for (int j = 0; j < tn; j++) acc[i][j] = 0.0f;
        for (int k0 = 0; k0 < a.dim_pad; k0 += BK_F32) {
            __syncthreads(); /* the previous chunk is consumed */
            constexpr int parts = BK_F32 / 4;
            for (int v = tid; v < (BQ + BN) * parts; v += THREADS) {
                const int row = v / parts, part = v % parts;
                float4 x = make_float4(0, 0, 0, 0);
                if (row < BQ && q0 + row < a.n_queries)
                    x = *reinterpret_cast<const float4 *>(queries + (size_t)(q0 + row) * a.dim_pad + k0 + part * 4);
                if (row >= BQ && i0 + row - BQ < i_end)
                    x = *reinterpret_cast<const float4 *>(items + (size_t)(i0 + row - BQ) * a.dim_pad + k0 + part * 4);
                float *dst = row < BQ ? qs + row : xs + (row - BQ);
                const int width = row < BQ ? BQ : BN;
                dst[(part * 4 + 0) * width] = x.x;
                dst[(part * 4 + 1) * width] = x.y;
                dst[(part * 4 + 2) * width] = x.z;
                dst[(part * 4 + 3) * width] = x.w;
            }
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < BK_F32; kk++) {
                float qv[tm], xv[tn];
#pragma unroll
                for (int i = 0; i < tm; i++) qv[i] = qs[kk * BQ + ty * tm + i];
#pragma unroll
                for (int j = 0; j < tn; j++) xv[j] = xs[kk * BN + tx * tn + j];
#pragma unroll
                for (int i = 0; i < tm; i++)
#pragma unroll
                    for (int j = 0; j < tn; j++) acc[i][j] = __fmaf_rn(qv[i], xv[j], acc[i][j]);
            }
        }
        __syncthreads(); /* the staging area becomes the score tile */
#pragma unroll
        for (int i = 0; i < tm; i++)
#pragma unroll
            for (int j = 0; j < tn; j++) scores[(ty * tm + i) * tile_shape<BQ>::score_ld + tx * tn + j] = acc[i][j];
    }
};

template <bool BF16, int BQ> struct tile_for;
template <int BQ> struct tile_for<true, BQ> { typedef bf16_tile<BQ> type; };
template <int BQ> struct tile_for<false, BQ> { typedef f32_tile<BQ> type; };

/* Shared memory of fused_topk: the staging area, reused as the score tile, then the list heads and (unless
 * they live in global memory) the lists. */
template <bool BF16, int BQ> __host__ __device__ constexpr size_t scratch_bytes() {
    return tile_for<BF16, BQ>::type::stage_bytes > tile_shape<BQ>::score_bytes ? tile_for<BF16, BQ>::type::stage_bytes
                                                                              : tile_shape<BQ>::score_bytes;
}
template <bool BF16, int BQ> size_t fused_smem_bytes(int cap, bool lists_in_global) {
    return scratch_bytes<BF16, BQ>() + sizeof(list_head) * BQ + (lists_in_global ? 0 : (size_t)BQ * cap * 8);
}

template <bool BF16, int BQ, bool LISTS_IN_GLOBAL>
__global__ void __launch_bounds__(THREADS) fused_topk(fused_args a) {
    extern __shared__ __align__(128) unsigned char smem[];
    float *scores = reinterpret_cast<float *>(smem);
    list_head *heads = reinterpret_cast<list_head *>(smem + scratch_bytes<BF16, BQ>());
    float *lists_score;
    int *lists_index;
    if (LISTS_IN_GLOBAL) {
        const size_t block = (size_t)blockIdx.y * gridDim.x + blockIdx.x;
        lists_score = a.global_score + block * BQ * a.cap;
        lists_index = a.global_index + block * BQ * a.cap;
    } else {
        lists_score = reinterpret_cast<float *>(heads + BQ);
        lists_index = reinterpret_cast<int *>(lists_score + BQ * a.cap);
    }
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int q0 = blockIdx.x * BQ;
    const int i_begin = blockIdx.y * a.items_per_split;
    const int i_end = min(a.n_items, i_begin + a.items_per_split);
    for (int r = tid; r < BQ; r += THREADS) heads[r] = list_head{0, INT_MAX, -INFINITY};
    __syncthreads();

    for (int i0 = i_begin; i0 < i_end; i0 += BN) {
        tile_for<BF16, BQ>::type::score(a, smem, scores, q0, i0, i_end, tid);
        __syncthreads();
        for (int r = warp; r < BQ && q0 + r < a.n_queries; r += WARPS) {
            list_head h = heads[r];
            candidates c{lists_score + (size_t)r * a.cap, lists_index + (size_t)r * a.cap, h.count, a.cap, a.k,
                         h.threshold_score, h.threshold_index};
            const long long self = a.exclude_self ? a.query_base + q0 + r : -1;
            for (int col = lane; col < BN; col += 32) {
                const long long item = a.item_base + i0 + col;
                c.offer(scores[r * tile_shape<BQ>::score_ld + col], (int)item, i0 + col < i_end && item != self, lane);
            }
            if (lane == 0) heads[r] = list_head{c.count, c.threshold_index, c.threshold_score};
        }
        __syncthreads(); /* the score tile is free again */
    }
    for (int r = warp; r < BQ && q0 + r < a.n_queries; r += WARPS) {
        list_head h = heads[r];
        candidates c{lists_score + (size_t)r * a.cap, lists_index + (size_t)r * a.cap, h.count, a.cap, a.k,
                     h.threshold_score, h.threshold_index};
        const size_t out = ((size_t)(q0 + r) * a.slots + 1 + blockIdx.y) * a.k;
        c.write(a.partial_score + out, a.partial_index + out, lane);
    }
}

/* Merges, per query, the sorted lists in slots [first_slot, slots) into slot 0. One warp per query. */
template <bool LISTS_IN_GLOBAL>
__global__ void merge_lists(float *partial_score, int *partial_index, int n_queries, int slots, int first_slot, int k,
                            int cap, float *global_score, int *global_index) {
    extern __shared__ __align__(128) unsigned char smem[];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, q = blockIdx.x * MERGE_WARPS + warp;
    if (q >= n_queries) return;
    float *list_score = LISTS_IN_GLOBAL ? global_score + (size_t)q * cap : reinterpret_cast<float *>(smem) + warp * cap;
    int *list_index = LISTS_IN_GLOBAL ? global_index + (size_t)q * cap
                                      : reinterpret_cast<int *>(smem + sizeof(float) * MERGE_WARPS * cap) + warp * cap;
    candidates c{list_score, list_index, 0, cap, k, -INFINITY, INT_MAX};
    const size_t row = (size_t)q * slots * k;
    for (int slot = first_slot; slot < slots; slot++) {
        const float *s = partial_score + row + (size_t)slot * k;
        const int *x = partial_index + row + (size_t)slot * k;
        for (int r0 = 0; r0 < k; r0 += 32) {
            const int r = r0 + lane;
            const bool valid = r < k && x[min(r, k - 1)] >= 0;
            /* each slot is sorted best first: once nothing in a stretch is taken, nothing after it will be */
            if (!c.offer(s[min(r, k - 1)], x[min(r, k - 1)], valid, lane)) break;
        }
    }
    c.write(partial_score + row, partial_index + row, lane); /* every read of this query's slots is done */
}

/* dst[r] (dim_pad bf16, zero padding) = src[r] (dim floats) */
__global__ void to_bf16(const float *src, size_t rows, int dim, int dim_pad, bf16 *dst) {
    const size_t total = rows * dim_pad;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / dim_pad;
        const int c = (int)(i % dim_pad);
        dst[i] = __float2bfloat16_rn(c < dim ? src[r * dim + c] : 0.0f);
    }
}

/* ---- host side ---- */

typedef void (*fused_kernel)(fused_args);
typedef void (*merge_kernel)(float *, int *, int, int, int, int, int, float *, int *);

struct config {
    int bq;
    bool lists_in_global, merge_in_global;
    fused_kernel kernel;
    size_t smem, merge_smem;
};

/* The widest query tile whose lists fit in shared memory; else global-memory lists. */
template <bool BF16> config choose(int cap, size_t smem_limit) {
    if (fused_smem_bytes<BF16, 64>(cap, false) <= smem_limit)
        return config{64, false, false, fused_topk<BF16, 64, false>, fused_smem_bytes<BF16, 64>(cap, false), 0};
    if (fused_smem_bytes<BF16, 16>(cap, false) <= smem_limit)
        return config{16, false, false, fused_topk<BF16, 16, false>, fused_smem_bytes<BF16, 16>(cap, false), 0};
    return config{16, true, false, fused_topk<BF16, 16, true>, fused_smem_bytes<BF16, 16>(cap, true), 0};
}

/* Every device buffer of one search, freed together whatever happened. */
struct buffers {
    void *items, *queries;
    float *staging, *partial_score, *global_score, *merge_score;
    int *partial_index, *global_index, *merge_index;
};

static userec_status release(buffers *b, userec_error *e) {
    void *all[] = {b->items, b->queries == b->items ? nullptr : b->queries, b->staging, b->partial_score, b->global_score,
                   b->merge_score, b->partial_index, b->global_index, b->merge_index};
    *b = buffers{};
    userec_status first = USEREC_OK;
    for (void *p : all) {
        cudaError_t r = cudaFree(p); /* cudaFree(nullptr) is a no-op */
        if (r != cudaSuccess && first == USEREC_OK) first = gpu_fail_cuda(e, r, "cudaFree", __FILE__, __LINE__);
    }
    return first;
}

/* Rows [r0, r0 + rows) of host matrix src (dim floats each) into dst (rows of dim_pad elements). */
static userec_status upload(const float *src, size_t r0, size_t rows, int dim, int dim_pad, bool bf16_out, void *dst,
                            float *staging, userec_error *e) {
    if (!bf16_out) {
        CUDA_CHECK(e, cudaMemcpy2D(dst, (size_t)dim_pad * sizeof(float), src + r0 * dim, (size_t)dim * sizeof(float),
                                   (size_t)dim * sizeof(float), rows, cudaMemcpyHostToDevice));
        return USEREC_OK;
    }
    for (size_t done = 0; done < rows; done += CONVERT_ROWS) {
        const size_t n = rows - done < CONVERT_ROWS ? rows - done : CONVERT_ROWS;
        CUDA_CHECK(e, cudaMemcpy(staging, src + (r0 + done) * dim, n * dim * sizeof(float), cudaMemcpyHostToDevice));
        to_bf16<<<1024, 256>>>(staging, n, dim, dim_pad, static_cast<bf16 *>(dst) + done * dim_pad);
        LAUNCH_CHECK(e, to_bf16);
    }
    return USEREC_OK;
}

/* How the search is cut to fit the device. */
struct plan {
    config cfg;
    int cap, dim_pad, splits;
    size_t elem, query_rows, item_rows;
    bool share_rows; /* all-pairs in one chunk: one device copy serves as queries and items */
};

/* Item splits per query tile: enough blocks to fill the device (few queries get many splits), each split
 * at least 4 tiles long. */
static int splits_for(size_t query_rows, size_t item_rows, int bq, int multiprocessors) {
    const size_t q_tiles = (query_rows + bq - 1) / bq, by_items = (item_rows + 4 * BN - 1) / (4 * BN);
    size_t splits = (4 * (size_t)multiprocessors + q_tiles - 1) / q_tiles;
    if (splits > by_items) splits = by_items;
    return splits < 1 ? 1 : (int)splits;
}

static userec_status make_plan(size_t n_queries, size_t n_items, size_t dim, const userec_topk_options *opt, bool same_rows,
                               plan *p, userec_error *e) {
    int device;
    cudaDeviceProp prop;
    CUDA_CHECK(e, cudaGetDevice(&device));
    CUDA_CHECK(e, cudaGetDeviceProperties(&prop, device));
    size_t smem_limit;
    if (userec_status st = gpu_smem_limit(&smem_limit, e)) return st;
    size_t free_bytes, total_bytes;
    CUDA_CHECK(e, cudaMemGetInfo(&free_bytes, &total_bytes));
    const bool bf16_in = opt->precision == USEREC_BF16;
    const size_t k = opt->k;
    *p = plan{};
    p->cap = (int)round_up(k + 32, 32);
    p->dim_pad = (int)round_up(dim, DIM_ALIGN);
    p->elem = bf16_in ? sizeof(bf16) : sizeof(float);
    p->cfg = bf16_in ? choose<true>(p->cap, smem_limit) : choose<false>(p->cap, smem_limit);
    p->cfg.merge_smem = (size_t)MERGE_WARPS * p->cap * 8;
    p->cfg.merge_in_global = p->cfg.merge_smem > smem_limit;
    if (p->cfg.merge_in_global) p->cfg.merge_smem = 0;

    /* 80% of what is free; USEREC_TOPK_GPU_MEMORY_MB caps it, so tests can force the chunked paths */
    size_t budget = free_bytes / 10 * 8;
    if (const char *cap = getenv("USEREC_TOPK_GPU_MEMORY_MB")) {
        const size_t cap_bytes = (size_t)strtoull(cap, NULL, 10) << 20;
        if (cap_bytes && cap_bytes < budget) budget = cap_bytes;
    }
    const size_t staging = bf16_in ? CONVERT_ROWS * dim * sizeof(float) : 0;
    const size_t row_bytes = (size_t)p->dim_pad * p->elem;
    if (budget < staging + 2 * BN * row_bytes)
        return set_error(e, USEREC_ERR_NOMEM, "%zu MiB of free GPU memory is too little for %zu-d vectors",
                         free_bytes >> 20, dim);
    const size_t avail = budget - staging;
    /* Items take what they need, at most half; queries halve until they and their lists fit in the rest. */
    p->item_rows = n_items < avail / 2 / row_bytes ? n_items : avail / 2 / row_bytes;
    p->share_rows = same_rows && p->item_rows == n_items;
    for (p->query_rows = n_queries;; p->query_rows = (p->query_rows + 1) / 2) {
        p->splits = splits_for(p->query_rows, p->item_rows, p->cfg.bq, prop.multiProcessorCount);
        const size_t q_tiles = (p->query_rows + p->cfg.bq - 1) / p->cfg.bq;
        const size_t need = p->item_rows * row_bytes + (p->share_rows ? 0 : p->query_rows * row_bytes) +
                            p->query_rows * (1 + p->splits) * k * 8 +
                            (p->cfg.lists_in_global ? q_tiles * p->cfg.bq * p->splits * p->cap * 8 : 0) +
                            (p->cfg.merge_in_global ? p->query_rows * p->cap * 8 : 0);
        if (need <= avail) return USEREC_OK;
        if (p->query_rows == 1)
            return set_error(e, USEREC_ERR_NOMEM, "%zu MiB of free GPU memory is too little for k = %zu",
                             free_bytes >> 20, k);
        p->share_rows = false; /* the queries now come in chunks of their own */
    }
}

static userec_status search(const float *queries, size_t n_queries, const float *items, size_t n_items, size_t dim,
                            const userec_topk_options *opt, int32_t *out_index, float *out_score, buffers *b, userec_error *e) {
    const bool same_rows = queries == items && n_queries == n_items && !opt->query_offset,
               bf16_in = opt->precision == USEREC_BF16;
    plan p{};
    userec_status st = make_plan(n_queries, n_items, dim, opt, same_rows, &p, e);
    if (st) return st;
    const size_t k = opt->k;
    const config &cfg = p.cfg;
    const int splits = p.splits, slots = 1 + splits;
    const size_t q_tiles_max = (p.query_rows + cfg.bq - 1) / cfg.bq;

    CUDA_CHECK(e, cudaMalloc(&b->items, p.item_rows * p.dim_pad * p.elem));
    CUDA_CHECK(e, cudaMemset(b->items, 0, p.item_rows * p.dim_pad * p.elem)); /* zero padding columns */
    if (p.share_rows) b->queries = b->items;
    else {
        CUDA_CHECK(e, cudaMalloc(&b->queries, p.query_rows * p.dim_pad * p.elem));
        CUDA_CHECK(e, cudaMemset(b->queries, 0, p.query_rows * p.dim_pad * p.elem));
    }
    if (bf16_in) CUDA_CHECK(e, cudaMalloc(&b->staging, CONVERT_ROWS * dim * sizeof(float)));
    CUDA_CHECK(e, cudaMalloc(&b->partial_score, p.query_rows * slots * k * sizeof(float)));
    CUDA_CHECK(e, cudaMalloc(&b->partial_index, p.query_rows * slots * k * sizeof(int)));
    if (cfg.lists_in_global) {
        const size_t entries = q_tiles_max * cfg.bq * splits * (size_t)p.cap;
        CUDA_CHECK(e, cudaMalloc(&b->global_score, entries * sizeof(float)));
        CUDA_CHECK(e, cudaMalloc(&b->global_index, entries * sizeof(int)));
    }
    if (cfg.merge_in_global) {
        CUDA_CHECK(e, cudaMalloc(&b->merge_score, p.query_rows * p.cap * sizeof(float)));
        CUDA_CHECK(e, cudaMalloc(&b->merge_index, p.query_rows * p.cap * sizeof(int)));
    }
    CUDA_CHECK(e, cudaFuncSetAttribute(cfg.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)cfg.smem));
    merge_kernel merge = cfg.merge_in_global ? merge_lists<true> : merge_lists<false>;
    CUDA_CHECK(e, cudaFuncSetAttribute(merge, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)cfg.merge_smem));

    for (size_t q0 = 0; q0 < n_queries; q0 += p.query_rows) {
        const size_t nq = n_queries - q0 < p.query_rows ? n_queries - q0 : p.query_rows;
        if (!p.share_rows && (st = upload(queries, q0, nq, (int)dim, p.dim_pad, bf16_in, b->queries, b->staging, e))) return st;
        for (size_t i0 = 0; i0 < n_items; i0 += p.item_rows) {
            const size_t ni = n_items - i0 < p.item_rows ? n_items - i0 : p.item_rows;
            /* a single item chunk stays on the device from one query chunk to the next */
            if ((q0 == 0 || ni != n_items) && (st = upload(items, i0, ni, (int)dim, p.dim_pad, bf16_in, b->items, b->staging, e)))
                return st;
            fused_args a{b->queries, (int)nq, (long long)(opt->query_offset + q0), b->items, (int)ni, (long long)i0, p.dim_pad, (int)k, p.cap,
                         opt->exclude_self, (int)round_up((ni + splits - 1) / splits, BN), b->partial_score,
                         b->partial_index, slots, b->global_score, b->global_index};
            cfg.kernel<<<dim3((unsigned)((nq + cfg.bq - 1) / cfg.bq), (unsigned)splits), THREADS, cfg.smem>>>(a);
            LAUNCH_CHECK(e, fused_topk);
            /* slot 0 holds the result of the earlier item chunks; on the first there is none */
            merge<<<(unsigned)((nq + MERGE_WARPS - 1) / MERGE_WARPS), MERGE_WARPS * 32, cfg.merge_smem>>>(
                b->partial_score, b->partial_index, (int)nq, slots, i0 == 0 ? 1 : 0, (int)k, p.cap, b->merge_score,
                b->merge_index);
            LAUNCH_CHECK(e, merge_lists);
        }
        CUDA_CHECK(e, cudaMemcpy2D(out_score + q0 * k, k * sizeof(float), b->partial_score, slots * k * sizeof(float),
                                   k * sizeof(float), nq, cudaMemcpyDeviceToHost));
        CUDA_CHECK(e, cudaMemcpy2D(out_index + q0 * k, k * sizeof(int32_t), b->partial_index, slots * k * sizeof(int),
                                   k * sizeof(int32_t), nq, cudaMemcpyDeviceToHost));
    }
    return USEREC_OK;
}

} // namespace

extern "C" userec_status topk_cuda_search(const float *queries, size_t n_queries, const float *items,
                                          size_t n_items, size_t dim, const userec_topk_options *opt, int32_t *index,
                                          float *score, userec_error *err) {
    if (!n_queries) return USEREC_OK;
    if (!n_items) { /* nothing to find: every rank is empty */
        for (size_t i = 0; i < n_queries * opt->k; i++) index[i] = USEREC_TOPK_EMPTY, score[i] = -INFINITY;
        return USEREC_OK;
    }
    buffers b{};
    userec_error e{};
    userec_status st = search(queries, n_queries, items, n_items, dim, opt, index, score, &b, &e);
    userec_error release_error{};
    const userec_status released = release(&b, &release_error);
    if (!st && released) st = released, e = release_error;
    if (st) return set_error(err, st, "top-k on the GPU: %s", e.message);
    return USEREC_OK;
}
