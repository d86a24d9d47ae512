/* metrics.h: the quality measures of `userec eval` (docs/evaluation.md): rank correlation for graded similarity,
 * the rank of the first relevant item for matching, hit rate for co-liked items. */
#ifndef USEREC_EVAL_METRICS_H
#define USEREC_EVAL_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Pearson's correlation of x and y (n values each); 0 when either is constant. */
double eval_pearson(const double *x, const double *y, size_t n);

/* Spearman's rank correlation: Pearson's of the ranks, tied values sharing their average rank (as
 * scipy.stats.spearmanr). Returns NAN when out of memory. */
double eval_spearman(const double *x, const double *y, size_t n);

/* The 1-based position in list[0..k) of the first entry that is in targets[0..n_targets) (sorted ascending), or 0
 * when none is. */
size_t eval_first_hit(const int32_t *list, size_t k, const int32_t *targets, size_t n_targets);

/* Hit rate of related lists for co-liked items: the share of (user, liked item) pairs, over users who liked two or
 * more items, whose item's list (lists[item * k .. + k), USEREC_TOPK_EMPTY padded) holds another item the same user
 * liked. User u liked items liked[start[u] .. start[u+1]) (sorted ascending). *pairs gets the pairs counted. */
double eval_hit_rate(const int32_t *lists, size_t k, const size_t *start, const int32_t *liked, size_t n_users,
                     size_t *pairs);

/* What eval_hit_rate would give for lists of k items drawn at random (without the item itself) from n_items: for a
 * user with L likes, each pair hits with probability 1 - C(n_items - L, k) / C(n_items - 1, k). */
double eval_random_hit_rate(const size_t *start, size_t n_users, size_t n_items, size_t k);

/* The popularity baseline's lists: for every item, the k most popular other items (popularity[i] descending,
 * then lower index), k entries per item into lists. Returns 0, or -1 when out of memory. */
int eval_popularity_lists(const size_t *popularity, size_t n_items, size_t k, int32_t *lists);

#endif
