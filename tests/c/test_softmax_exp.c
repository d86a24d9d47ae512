/* test_softmax_exp.c: the exponentials of attention's softmax (cpu_kernels.exp_shifted, engine/cpu/cpu_lanes.h)
 * on every ISA this CPU runs, against float64 exp: within 2 ULP (relative 2.4e-7) wherever e^x is a normal
 * float, within 2^-126 below that; its sum within the float roundings its additions can make; whole vectors and
 * the tail alike; and every ISA's values and sum the generic kernels' bits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu_kernels.h"

static const cpu_kernels *K; /* the ISA under test */

/* n values spread over [lo, hi] (both ends included), shifted up by shift. */
static float *grid(size_t n, double lo, double hi, float shift) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(n > 1 ? lo + (hi - lo) * (double)i / (double)(n - 1) : lo) + shift;
    return x;
}

static void check_exp(const char *what, size_t n, double lo, double hi, float shift) {
    float *x = grid(n, lo, hi, shift), *y = grid(n, lo, hi, shift), *generic = grid(n, lo, hi, shift);
    const float sum = K->exp_shifted(y, n, shift), generic_sum = cpu_kernels_generic.exp_shifted(generic, n, shift);
    char name[128];
    snprintf(name, sizeof name, "%s: %s", K->name, what);
    double max_rel = 0, max_tiny = 0, ref_sum = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double arg = (double)x[i] - (double)shift, ref = exp(arg);
        ref_sum += (double)y[i];
        if (ref >= 0x1p-126) { /* a normal float: relative error */
            const double rel = fabs((double)y[i] - ref) / ref;
            if (rel > max_rel) max_rel = rel, worst = i;
        } else if (fabs((double)y[i] - ref) > max_tiny) {
            max_tiny = fabs((double)y[i] - ref);
        }
    }
    const double sum_rel = fabs((double)sum - ref_sum) / ref_sum;
    printf("# %s: max relative error %.3g at x = %.9g (got %.9g, float64 %.9g); below the normal range max |error| "
           "%.3g; sum %.9g vs %.9g (relative %.3g)\n",
           name, max_rel, (double)x[worst] - shift, y[worst], exp((double)x[worst] - shift), max_tiny, sum, ref_sum,
           sum_rel);
    printf("#   first values got/want:");
    for (size_t i = 0; i < 3 && i < n; i++) printf(" %.9g/%.9g", y[i], exp((double)x[i] - shift));
    printf("\n");
    /* The sum runs in 16 lanes of about n/16 additions each, then 4 folds: each adds at most one float rounding. */
    const double sum_bound = ((double)n / 16 + 4) * 0x1p-24 + 2.4e-7;
    CHECK(max_rel <= 2.4e-7 && max_tiny <= 0x1p-126 && sum_rel <= sum_bound, name,
          "max relative %.3g (2.4e-7 allowed), tiny %.3g (2^-126 allowed), sum relative %.3g (%.3g allowed)", max_rel,
          max_tiny, sum_rel, sum_bound);
    snprintf(name, sizeof name, "%s: %s: the generic kernels' bits", K->name, what);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += memcmp(&y[i], &generic[i], sizeof *y) != 0;
    if (K->isa != CPU_ISA_GENERIC)
        CHECK(!differ && !memcmp(&sum, &generic_sum, sizeof sum), name, "%zu of %zu values differ; sum %.9g vs %.9g",
              differ, n, sum, generic_sum);
    free(x), free(y), free(generic);
}

int main(void) {
    for (int isa = 0; isa < CPU_ISAS; isa++) {
        if (!(K = cpu_kernels_for((cpu_isa)isa))) {
            SKIP(cpu_isa_name((cpu_isa)isa), "this CPU does not run these kernels");
            continue;
        }
        check_exp("softmax range [-20, 0], 100003 values", 100003, -20, 0, 0);
        check_exp("shifted scores [-30, 0] + 7.5, 4099 values", 4099, -30, 0, 7.5f);
        check_exp("down to underflow [-104, -80], 20001 values", 20001, -104, -80, 0);
        check_exp("short row (the tail only), 7 values", 7, -3, 0, 1.25f);
        check_exp("a row of 16 and a tail of 13, 29 values", 29, -9, 0, -2.0f);
        check_exp("one value, 0", 1, 0, 0, 0);
    }
    CHECK_DONE();
}
