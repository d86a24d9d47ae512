/* devices.c: the device lists of --device (userec_devices in userec.h): "cpu", "cuda", "auto", "cuda:0,1,3",
 * "cuda:all", "cpu:0,0"; their names; and what a list runs on, checked before any work (the one rule and the
 * one message for every command, userec_device_choose included). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "encoder/devices.h"
#include "gpu/gpu.h"

#define MAX_CUDA_INDEX 1023 /* far above any node's GPU count; a typo like cuda:10000 is refused at once */

userec_status device_unusable(userec_device asked, const char *what, const userec_error *why, FILE *notes,
                              userec_error *err) {
    if (asked != USEREC_DEVICE_AUTO)
        return set_error(err, why->status, "--device %s: no usable GPU: %s", what, why->message);
    if (notes) fprintf(notes, "userec: --device auto: no usable GPU (%s); running on the CPU in fp32\n", why->message);
    return USEREC_OK;
}

/* "0,1,3" or "all" after "cuda:" / "cpu:"; max_index bounds each number. */
static userec_status parse_indices(const char *text, const char *list, int max_index, userec_devices *d,
                                   userec_error *err) {
    if (!strcmp(list, "all")) {
        d->all = 1;
        return USEREC_OK;
    }
    for (const char *p = list;;) {
        if (*p < '0' || *p > '9')
            return set_error(err, USEREC_ERR_INPUT, "device list '%s': '%s' is not a device number or 'all'", text, p);
        char *end;
        const long v = strtol(p, &end, 10);
        if (v > max_index)
            return set_error(err, USEREC_ERR_INPUT, "device list '%s': device %ld is above %d", text, v, max_index);
        if (d->count == USEREC_MAX_DEVICES)
            return set_error(err, USEREC_ERR_INPUT, "device list '%s': more than %d devices", text, USEREC_MAX_DEVICES);
        d->index[d->count++] = (int)v;
        if (!*end) return USEREC_OK;
        if (*end != ',' || !end[1])
            return set_error(err, USEREC_ERR_INPUT, "device list '%s': device numbers are separated by commas", text);
        p = end + 1;
    }
}

userec_status userec_devices_parse(const char *text, userec_devices *d, userec_error *err) {
    *d = (userec_devices){0};
    const char *colon = strchr(text, ':');
    const size_t kind_len = colon ? (size_t)(colon - text) : strlen(text);
    char kind[8] = "";
    if (kind_len < sizeof kind) memcpy(kind, text, kind_len), kind[kind_len] = 0;
    if (userec_device_parse(kind, &d->kind, NULL))
        return set_error(err, USEREC_ERR_INPUT,
                         "device '%s' is not cpu, cuda, auto, cuda:0,1,.. (those GPUs), cuda:all or cpu:0,0", text);
    if (!colon) {
        if (d->kind != USEREC_DEVICE_AUTO) d->count = 1; /* cpu is the CPU, cuda is GPU 0 */
        return USEREC_OK;
    }
    if (d->kind == USEREC_DEVICE_AUTO)
        return set_error(err, USEREC_ERR_INPUT, "device '%s': auto takes no device numbers", text);
    const userec_status st = parse_indices(text, colon + 1, d->kind == USEREC_DEVICE_CPU ? 0 : MAX_CUDA_INDEX, d, err);
    if (!st && d->all && d->kind == USEREC_DEVICE_CPU) d->all = 0, d->count = 1; /* the one CPU */
    return st;
}

const char *userec_devices_name(const userec_devices *d, char *buf, size_t len) {
    const char *kind = userec_device_name(d->kind);
    size_t used = (size_t)snprintf(buf, len, "%s", kind);
    if (d->all) {
        snprintf(buf + (used < len ? used : len), used < len ? len - used : 0, ":all");
        return buf;
    }
    if (d->count == 1 && d->index[0] == 0) return buf; /* cpu, cuda: the plain names */
    for (int i = 0; i < d->count && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%c%d", i ? ',' : ':', d->index[i]);
    return buf;
}

/* Every usable GPU, for cuda:all. */
static userec_status all_gpus(userec_devices *chosen, userec_error *err) {
    userec_gpu_info gpus[USEREC_MAX_DEVICES];
    userec_error why;
    const int count = gpu_list(gpus, USEREC_MAX_DEVICES, &why);
    if (!count) return device_unusable(USEREC_DEVICE_CUDA, "cuda:all", &why, NULL, err);
    for (int i = 0; i < count && i < USEREC_MAX_DEVICES; i++)
        if (gpus[i].usable) chosen->index[chosen->count++] = i;
    if (chosen->count) return USEREC_OK;
    if (!gpu_check(0, &why)) /* GPU 0 says why it is not usable, unless it just became so */
        set_error(&why, USEREC_ERR_DEVICE, "none of the %d GPUs runs this build", count);
    return device_unusable(USEREC_DEVICE_CUDA, "cuda:all", &why, NULL, err);
}

userec_status userec_devices_choose(const userec_devices *wanted, FILE *notes, userec_devices *chosen,
                                    userec_error *err) {
    *chosen = (userec_devices){.kind = wanted->kind};
    if (wanted->kind == USEREC_DEVICE_CPU) {
        *chosen = *wanted;
        return USEREC_OK;
    }
    if (wanted->kind == USEREC_DEVICE_AUTO) {
        userec_error why;
        chosen->count = 1;
        chosen->kind = gpu_check(0, &why) ? USEREC_DEVICE_CPU : USEREC_DEVICE_CUDA;
        return chosen->kind == USEREC_DEVICE_CPU ? device_unusable(USEREC_DEVICE_AUTO, "auto", &why, notes, err)
                                                 : USEREC_OK;
    }
    if (wanted->all) return all_gpus(chosen, err);
    for (int i = 0; i < wanted->count; i++) {
        int seen = 0; /* each GPU is checked once, however often it is listed */
        for (int j = 0; j < i && !seen; j++) seen = wanted->index[j] == wanted->index[i];
        userec_error why;
        if (!seen && gpu_check(wanted->index[i], &why)) {
            char name[16];
            snprintf(name, sizeof name, wanted->count == 1 && !wanted->index[0] ? "cuda" : "cuda:%d", wanted->index[i]);
            return device_unusable(USEREC_DEVICE_CUDA, name, &why, NULL, err);
        }
    }
    *chosen = *wanted;
    return USEREC_OK;
}

userec_status userec_device_choose(userec_device device, FILE *notes, userec_device *chosen, userec_error *err) {
    const userec_devices wanted = {.kind = device, .count = device != USEREC_DEVICE_AUTO};
    userec_devices got;
    *chosen = USEREC_DEVICE_CPU;
    const userec_status st = userec_devices_choose(&wanted, notes, &got, err);
    if (!st) *chosen = got.kind;
    return st;
}
