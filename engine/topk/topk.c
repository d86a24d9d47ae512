/* topk.c: userec_topk_search (userec.h) checks its arguments and hands the search to the CPU (topk_cpu.c) or the
 * CUDA path (kernels/topk_fused.cu), or to several devices (topk_devices.c). */
#include <math.h>

#include "common/error.h"
#include "gpu/gpu.h"
#include "topk/topk.h"

userec_status topk_search_one(const float *queries, size_t n_queries, const float *items, size_t n_items, size_t dim,
                              const userec_topk_options *opt, int32_t *index, float *score, userec_error *err) {
    if (opt->device == USEREC_DEVICE_CUDA)
        return topk_cuda_search(queries, n_queries, items, n_items, dim, opt, index, score, err);
    if (opt->precision != USEREC_FP32)
        return set_error(err, USEREC_ERR_INPUT, "top-k: the CPU path computes in fp32 only (bf16 is for --device cuda)");
    char msg[sizeof err->message];
    const cpu_kernels *kernels = cpu_kernels_choose(msg, sizeof msg);
    if (!kernels) return set_error(err, USEREC_ERR_DEVICE, "%s", msg);
    if (topk_cpu_search(kernels, queries, n_queries, items, n_items, dim, opt, index, score, msg, sizeof msg))
        return set_error(err, USEREC_ERR_NOMEM, "%s", msg);
    return USEREC_OK;
}

userec_status userec_topk_search(const float *queries, size_t n_queries, const float *items, size_t n_items,
                                 size_t dim, const userec_topk_options *opt, int32_t *index, float *score,
                                 userec_error *err) {
    if (opt->k < 1) return set_error(err, USEREC_ERR_INPUT, "top-k: k must be at least 1");
    if (dim < 1 || dim > INT32_MAX)
        return set_error(err, USEREC_ERR_INPUT, "top-k: vectors of %zu values are not supported", dim);
    if (n_items > INT32_MAX || n_queries > INT32_MAX)
        return set_error(err, USEREC_ERR_INPUT, "top-k: %zu queries x %zu items: at most %d of each are supported",
                         n_queries, n_items, INT32_MAX);
    if (opt->exclude_self && (opt->query_offset > n_items || n_queries > n_items - opt->query_offset))
        return set_error(err, USEREC_ERR_INPUT,
                         "top-k: excluding self pairs query q with item %zu + q, but there are %zu queries and only %zu "
                         "items", opt->query_offset, n_queries, n_items);
    if (opt->precision != USEREC_FP32 && opt->precision != USEREC_BF16)
        return set_error(err, USEREC_ERR_INPUT, "top-k: precision %s is not offered (fp32 or bf16)",
                         userec_precision_name(opt->precision));
    if ((opt->use_min_score && isnan(opt->min_score)) || (opt->use_max_score && isnan(opt->max_score)))
        return set_error(err, USEREC_ERR_INPUT, "top-k: a score bound is NaN");
    if ((unsigned)opt->group_rule > USEREC_GROUPS_OTHER)
        return set_error(err, USEREC_ERR_INPUT, "top-k: unknown group rule %d", (int)opt->group_rule);
    if (opt->group_rule != USEREC_GROUPS_ANY && (!opt->item_group || !opt->query_group))
        return set_error(err, USEREC_ERR_INPUT, "top-k: a group rule needs the items' and the queries' groups");
    const int filtered = opt->use_min_score || opt->use_max_score || opt->group_rule != USEREC_GROUPS_ANY;
    userec_devices wanted = opt->devices ? *opt->devices : (userec_devices){.kind = opt->device, .count = 1};
    /* The fused CUDA kernel selects without filters: refuse rather than return lists that ignore them. */
    if (filtered && wanted.kind == USEREC_DEVICE_CUDA)
        return set_error(err, USEREC_ERR_INPUT,
                         "top-k: score and group filters run on the CPU only (--device cpu or auto)");
    userec_topk_options chosen = *opt;
    if (filtered && wanted.kind == USEREC_DEVICE_AUTO) wanted = (userec_devices){.kind = USEREC_DEVICE_CPU, .count = 1};
    if (opt->devices) {
        userec_devices where;
        const userec_status st = userec_devices_choose(&wanted, NULL, &where, err);
        if (st) return st;
        if (where.kind == USEREC_DEVICE_CPU && opt->devices->kind != USEREC_DEVICE_CPU) chosen.precision = USEREC_FP32;
        return topk_search_devices(queries, n_queries, items, n_items, dim, &chosen, &where, index, score, err);
    }
    chosen.device = wanted.kind;
    if (chosen.device == USEREC_DEVICE_AUTO) {
        userec_status st = userec_device_choose(USEREC_DEVICE_AUTO, NULL, &chosen.device, err);
        if (st) return st;
    }
    if (chosen.device == USEREC_DEVICE_CPU && opt->device != USEREC_DEVICE_CPU) chosen.precision = USEREC_FP32;
    return topk_search_one(queries, n_queries, items, n_items, dim, &chosen, index, score, err);
}
