/* metrics.c: the quality measures of `userec eval` (metrics.h). Sums in double, in a fixed order. */
#include <math.h>
#include <stdlib.h>

#include "eval/metrics.h"
#include "userec.h"

double eval_pearson(const double *x, const double *y, size_t n) {
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        const double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy, sxx += dx * dx, syy += dy * dy;
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0;
}

typedef struct {
    double value;
    size_t index;
} indexed;

static int by_value(const void *a, const void *b) {
    const indexed *x = a, *y = b;
    if (x->value != y->value) return x->value < y->value ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* rank[i]: the 1-based rank of v[i], ties sharing the average of their ranks. */
static int average_ranks(const double *v, size_t n, double *rank) {
    indexed *s = malloc((n ? n : 1) * sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < n; i++) s[i] = (indexed){v[i], i};
    qsort(s, n, sizeof *s, by_value);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && s[j].value == s[i].value) j++;
        const double avg = 0.5 * (double)(i + 1 + j); /* ranks i+1 .. j */
        for (size_t t = i; t < j; t++) rank[s[t].index] = avg;
        i = j;
    }
    free(s);
    return 0;
}

double eval_spearman(const double *x, const double *y, size_t n) {
    double *rx = malloc((n ? n : 1) * sizeof *rx), *ry = malloc((n ? n : 1) * sizeof *ry);
    double r = NAN;
    if (rx && ry && !average_ranks(x, n, rx) && !average_ranks(y, n, ry)) r = eval_pearson(rx, ry, n);
    free(rx);
    free(ry);
    return r;
}

static int contains(const int32_t *sorted, size_t n, int32_t v) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && sorted[lo] == v;
}

size_t eval_first_hit(const int32_t *list, size_t k, const int32_t *targets, size_t n_targets) {
    for (size_t r = 0; r < k && list[r] != USEREC_TOPK_EMPTY; r++)
        if (contains(targets, n_targets, list[r])) return r + 1;
    return 0;
}

double eval_hit_rate(const int32_t *lists, size_t k, const size_t *start, const int32_t *liked, size_t n_users,
                     size_t *pairs) {
    size_t hits = 0, n = 0;
    for (size_t u = 0; u < n_users; u++) {
        const int32_t *mine = liked + start[u];
        const size_t count = start[u + 1] - start[u];
        if (count < 2) continue;
        for (size_t i = 0; i < count; i++) {
            n++;
            /* the item itself is never in its own list (all-pairs search without self) */
            hits += eval_first_hit(lists + (size_t)mine[i] * k, k, mine, count) > 0;
        }
    }
    *pairs = n;
    return n ? (double)hits / (double)n : 0;
}

double eval_random_hit_rate(const size_t *start, size_t n_users, size_t n_items, size_t k) {
    double hits = 0;
    size_t n = 0;
    for (size_t u = 0; u < n_users; u++) {
        const size_t likes = start[u + 1] - start[u];
        if (likes < 2) continue;
        double miss = 1; /* all k drawn from the n_items - likes items the user did not like */
        for (size_t j = 0; j < k; j++)
            miss *= n_items - likes > j ? (double)(n_items - likes - j) / (double)(n_items - 1 - j) : 0;
        hits += (double)likes * (1 - miss);
        n += likes;
    }
    return n ? hits / (double)n : 0;
}

typedef struct {
    size_t popularity;
    int32_t item;
} popular;

static int by_popularity(const void *a, const void *b) {
    const popular *x = a, *y = b;
    if (x->popularity != y->popularity) return x->popularity < y->popularity ? 1 : -1;
    return (x->item > y->item) - (x->item < y->item);
}

int eval_popularity_lists(const size_t *popularity, size_t n_items, size_t k, int32_t *lists) {
    popular *order = malloc((n_items ? n_items : 1) * sizeof *order);
    if (!order) return -1;
    for (size_t i = 0; i < n_items; i++) order[i] = (popular){popularity[i], (int32_t)i};
    qsort(order, n_items, sizeof *order, by_popularity);
    for (size_t i = 0; i < n_items; i++) {
        size_t r = 0;
        for (size_t j = 0; j < n_items && r < k; j++)
            if ((size_t)order[j].item != i) lists[i * k + r++] = order[j].item;
        while (r < k) lists[i * k + r++] = USEREC_TOPK_EMPTY;
    }
    free(order);
    return 0;
}
