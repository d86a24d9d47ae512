/* test_cpu_isa.c: every ISA this CPU runs gives the generic kernels' bits in the forward pass's own steps
 * (engine/cpu/cpu_kernels.h): layer norm rows of every width class (whole 16-lane blocks, tails, fewer than 16),
 * attention over sentences of 1 to 128 tokens with heads of 64 and 128 channels, and the packing of products'
 * rows against a per-element copy. ISAs the CPU lacks are
 * skipped, saying so. Also: the layer norm's statistics against float64, and the generic kernels' fma emulation
 * against fmaf. (The products: test_gemm.c; the softmax's
 * exponentials: test_softmax_exp.c; whole vectors and top-k scores through the CLI: tests/test_cpu_isa.py.) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu_gemm.h"
#include "cpu/cpu_ops.h"

static uint64_t rng = 0x853c49e6748fea9bull;
static float uniform_pm1(void) { /* xorshift64*, in [-1, 1) */
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (float)((double)((rng * 2685821657736338717ull) >> 40) / 8388608.0 - 1.0);
}

static float *random_floats(size_t n, float scale, float offset) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = uniform_pm1() * scale + offset;
    return x;
}

static size_t differing(const float *a, const float *b, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += memcmp(&a[i], &b[i], sizeof *a) != 0;
    return count;
}

static void check_layer_norm(const cpu_kernels *k) {
    const uint32_t widths[] = {1, 5, 16, 17, 256, 300, 512};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
        const uint32_t w = widths[i];
        const size_t rows = 37;
        float *x = random_floats(rows * w, 3.0f, 0.7f), *scale = random_floats(w, 1.0f, 1.0f);
        float *bias = random_floats(w, 0.5f, 0.0f), *got = malloc(rows * w * sizeof *got);
        float *want = malloc(rows * w * sizeof *want);
        const layer_norm norm = {scale, bias};
        cpu_layer_norm(k, x, rows, w, &norm, 1e-6f, got);
        cpu_layer_norm(&cpu_kernels_generic, x, rows, w, &norm, 1e-6f, want);
        double worst = 0;
        for (size_t r = 0; r < rows; r++) { /* float64 statistics: a check on the lanes' order itself */
            double mean = 0, var = 0;
            for (uint32_t c = 0; c < w; c++) mean += x[r * w + c];
            mean /= w;
            for (uint32_t c = 0; c < w; c++) var += (x[r * w + c] - mean) * (x[r * w + c] - mean);
            const double inv = 1 / sqrt(var / w + 1e-6);
            for (uint32_t c = 0; c < w; c++)
                worst = fmax(worst, fabs(got[r * w + c] - ((x[r * w + c] - mean) * inv * scale[c] + bias[c])));
        }
        char name[128];
        snprintf(name, sizeof name, "%s: layer norm, %zu rows of %u: within 1e-5 of float64", k->name, rows, w);
        CHECK(worst < 1e-5, name, "max |error| %.3g", worst);
        if (k->isa != CPU_ISA_GENERIC) {
            snprintf(name, sizeof name, "%s: layer norm, %zu rows of %u: the generic kernels' bits", k->name, rows, w);
            const size_t differ = differing(got, want, rows * w);
            CHECK(!differ, name, "%zu of %zu values differ", differ, rows * w);
        }
        free(x), free(scale), free(bias), free(got), free(want);
    }
}

static void check_attention(const cpu_kernels *k) {
    const size_t lens[] = {1, 7, 12, 13, 32, 0, 33, 100, 128, 2};
    const size_t n = sizeof lens / sizeof *lens;
    size_t starts[sizeof lens / sizeof *lens + 1] = {0};
    for (size_t s = 0; s < n; s++) starts[s + 1] = starts[s] + lens[s];
    const uint32_t widths[] = {256, 512}, heads = 4; /* heads of 64 and 128 channels, as USE-lite's layers */
    for (size_t i = 0; i < 2; i++) {
        const uint32_t w = widths[i];
        const size_t rows = starts[n];
        float *qkv = random_floats(rows * 3 * w, 2.0f, 0.0f), *got = malloc(rows * w * sizeof *got);
        float *want = malloc(rows * w * sizeof *want);
        const int failed = cpu_attention(k, qkv, starts, n, w, heads, got) ||
                           cpu_attention(&cpu_kernels_generic, qkv, starts, n, w, heads, want);
        char name[128];
        snprintf(name, sizeof name, "%s: attention, %zu sentences of 0-128 tokens, width %u: the generic kernels' bits",
                 k->name, n, w);
        const size_t differ = failed ? rows * w : differing(got, want, rows * w);
        CHECK(!differ, name, "failed %d, %zu of %zu values differ; first: %.9g vs %.9g", failed, differ, rows * w,
              got[0], want[0]);
        free(qkv), free(got), free(want);
    }
}

/* fma(a, b, c) through the generic micro-kernel: one k step, c as the tile's initial value. */
static float generic_fma(float a, float b, float c) {
    float a_panel[12] = {a}, b_panel[2 * GEMM_NR] = {b}, tile[12 * 2 * GEMM_NR] = {c};
    cpu_kernels_generic.fp32.kernel(1, a_panel, b_panel, 0, tile, 2 * GEMM_NR, 1, NULL, 0);
    return tile[0];
}

/* The generic kernels emulate fmaf without an fma instruction (rounding to odd in double): against the C
 * library's fmaf on random operands, on sums that cancel, and on sums just off a float midpoint, where rounding
 * the exact sum to double first and then to float goes wrong: (1 + 2^-12) 2^-24 x (1 - 2^-12 + 2^-24) + 1 is
 * 1 + 2^-24 + 2^-60 exactly, whose double is the midpoint 1 + 2^-24 (ties to even: 1), but fmaf rounds up. */
static void check_generic_fma(void) {
    const float a = (1 + 0x1p-12f) * 0x1p-24f, b = 1 - 0x1p-12f + 0x1p-24f;
    size_t tried = 0, differ = 0, naive_wrong = 0;
    float first_got = 0, first_want = 0;
    for (int sign = 0; sign < 8; sign++)
        for (int scale = -60; scale <= 60; scale += 12) {
            const float x = ldexpf(sign & 1 ? -a : a, scale), y = sign & 2 ? -b : b, z = ldexpf(sign & 4 ? -1 : 1, scale);
            const float got = generic_fma(x, y, z), want = fmaf(x, y, z);
            naive_wrong += (float)((double)x * y + z) != want;
            if (memcmp(&got, &want, sizeof got) && !differ++) first_got = got, first_want = want;
            tried++;
        }
    for (int i = 0; i < 200000; i++) {
        const float x = ldexpf(uniform_pm1(), (int)(uniform_pm1() * 40)), y = ldexpf(uniform_pm1(), (int)(uniform_pm1() * 40));
        const float z = i % 3 ? -(float)((double)x * y) * (1 + uniform_pm1() * 0x1p-20f) : ldexpf(uniform_pm1(), (int)(uniform_pm1() * 80));
        const float got = generic_fma(x, y, z), want = fmaf(x, y, z);
        if (memcmp(&got, &want, sizeof got) && !differ++) first_got = got, first_want = want;
        tried++;
    }
    CHECK(!differ && naive_wrong, "generic: the emulated fma is fmaf, bit for bit, where double rounding is wrong too",
          "%zu of %zu differ (first: %.9g, fmaf %.9g); naive double rounding wrong in %zu cases", differ, tried,
          first_got, first_want, naive_wrong);
}

/* pack_rows of k's products (and of its bf16 ones) against the plain per-element packing: panels of every width
 * class (narrower than, equal to and wider than a register's rows), row counts that leave a partial panel, k
 * ranges with tails; nothing written past the last panel. */
static void check_pack_rows(const cpu_kernels *k) {
    const size_t widths[] = {1, 5, 6, 8, 12, 13, 16, 20}, counts[] = {1, 7, 12, 40}, kcs[] = {1, 7, 16, 33, 256};
    const size_t k0 = 3, guard = 64;
    size_t tried = 0, wrong = 0, overrun = 0;
    for (int bf16 = 0; bf16 < 2; bf16++) {
        const gemm_kernel *g = bf16 ? k->bf16 : &k->fp32;
        if (!g) continue;
        for (size_t w = 0; w < sizeof widths / sizeof *widths; w++)
            for (size_t c = 0; c < sizeof counts / sizeof *counts; c++)
                for (size_t q = 0; q < sizeof kcs / sizeof *kcs; q++) {
                    const size_t width = widths[w], n = counts[c], kc = kcs[q], ld = k0 + kc + 5;
                    if (bf16 && width > 16) continue; /* the bf16 products pack only their 12-row panels */
                    const size_t steps = bf16 ? (kc + 1) / 2 : kc, panels = (n + width - 1) / width;
                    const size_t words = panels * steps * width; /* 32-bit elements: a float, or a bf16 pair */
                    float *src = random_floats(n * ld, 2.0f, 0.0f);
                    uint32_t *got = malloc((words + guard) * sizeof *got), *want = calloc(words, sizeof *want);
                    memset(got, 0xa5, (words + guard) * sizeof *got);
                    g->pack_rows(src, n, ld, k0, kc, width, steps * width * (bf16 ? 2 : 1), got);
                    for (size_t r = 0; r < n; r++)
                        for (size_t s = 0; s < steps; s++) {
                            uint32_t *to = want + r / width * steps * width + s * width + r % width;
                            const float *from = src + r * ld + k0 + (bf16 ? 2 * s : s);
                            if (!bf16) memcpy(to, from, sizeof *to);
                            else *to = gemm_bf16_round(from[0]) | (2 * s + 1 < kc ? (uint32_t)gemm_bf16_round(from[1]) << 16 : 0);
                        }
                    tried++;
                    wrong += memcmp(got, want, words * sizeof *got) != 0;
                    for (size_t i = words; i < words + guard; i++) overrun += got[i] != 0xa5a5a5a5u;
                    free(src), free(got), free(want);
                }
    }
    char name[128];
    snprintf(name, sizeof name, "%s: pack_rows (fp32%s) equals the per-element packing", k->name, k->bf16 ? ", bf16" : "");
    CHECK(!wrong && !overrun, name, "%zu of %zu packings differ; %zu words written past the panels", wrong, tried, overrun);
}

int main(void) {
    check_generic_fma();
    for (int isa = 0; isa < CPU_ISAS; isa++) {
        const cpu_kernels *k = cpu_kernels_for((cpu_isa)isa);
        if (!k) {
            SKIP(cpu_isa_name((cpu_isa)isa), "this CPU does not run these kernels");
            continue;
        }
        check_layer_norm(k);
        check_pack_rows(k);
        if (k->isa != CPU_ISA_GENERIC) check_attention(k);
    }
    CHECK_DONE();
}
