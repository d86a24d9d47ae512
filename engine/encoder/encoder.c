/* encoder.c: one encoder on any device (userec_encoder in userec.h): the CPU path (cpu/encoder_cpu.c) or the GPU
 * one (gpu/encoder_gpu.cu) behind the same calls, or several of them, one per listed device, behind the
 * dispatcher of multi_encoder.c; names of devices and precisions; the public list of GPUs. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "cpu/cpu_ops.h"
#include "encoder/devices.h"
#include "encoder/multi_encoder.h"
#include "gpu/gpu.h"
#include "model/model.h"

#define CPU_BATCH_TOKENS 8192
#define GPU_BATCH_TOKENS (4 * GPU_CHUNK_TOKENS) /* four device chunks per call: copies hide under compute */

static const char *const precision_names[USEREC_PRECISIONS] = {"fp32", "tf32", "bf16"};
static const char *const device_names[] = {"cpu", "cuda", "auto"};

const char *userec_precision_name(userec_precision p) {
    return (unsigned)p < USEREC_PRECISIONS ? precision_names[p] : "unknown precision";
}

userec_status userec_precision_parse(const char *name, userec_precision *p, userec_error *err) {
    for (int i = 0; i < USEREC_PRECISIONS; i++)
        if (!strcmp(name, precision_names[i])) {
            *p = (userec_precision)i;
            return USEREC_OK;
        }
    return set_error(err, USEREC_ERR_INPUT, "precision '%s' is not fp32, tf32 or bf16", name);
}

const char *userec_device_name(userec_device d) {
    return (unsigned)d < sizeof device_names / sizeof *device_names ? device_names[d] : "unknown device";
}

userec_status userec_device_parse(const char *name, userec_device *d, userec_error *err) {
    for (size_t i = 0; i < sizeof device_names / sizeof *device_names; i++)
        if (!strcmp(name, device_names[i])) {
            *d = (userec_device)i;
            return USEREC_OK;
        }
    return set_error(err, USEREC_ERR_INPUT, "device '%s' is not cpu, cuda or auto", name);
}

userec_status userec_gpu_list(userec_gpu_info *gpus, int max, int *count, userec_error *err) {
    *count = gpu_list(gpus, max, err);
    return *count ? USEREC_OK : USEREC_ERR_DEVICE;
}

struct userec_encoder {
    const userec_model *model;
    gpu_encoder *gpu;   /* NULL on the CPU */
    cpu_workspace *cpu; /* the CPU path's buffers, reused batch after batch */
    /* Several devices: one encoder each (the parts), the dispatcher over them, their names for its messages. */
    userec_encoder **parts;
    const char **part_names;
    size_t n_parts;
    multi_encoder *multi;
    userec_device_work work; /* one device's own work since the last stats reset */
    char name[400];
};

/* One device: cpu, cuda (CUDA device `index`), or auto (GPU 0 when it works, else the CPU, with a note). */
static userec_encoder *open_one(const userec_model *model, userec_device device, int index,
                                userec_precision precision, FILE *notes, userec_error *err) {
    userec_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        set_error(err, USEREC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    e->model = model;
    if (device != USEREC_DEVICE_CPU) {
        const gpu_options opt = {.device = index, .precision = precision};
        userec_error why;
        char what[16];
        snprintf(what, sizeof what, index ? "cuda:%d" : "cuda", index);
        e->gpu = gpu_encoder_create(model, &opt, &why);
        if (!e->gpu && device_unusable(device, what, &why, notes, err)) {
            free(e);
            return NULL;
        }
    }
    /* --device auto without a GPU computes fp32 on the CPU, as its note says. */
    const userec_precision cpu_precision = device == USEREC_DEVICE_CPU ? precision : USEREC_FP32;
    if (!e->gpu && cpu_workspace_new(model, cpu_precision, &e->cpu, err)) {
        free(e);
        return NULL;
    }
    if (e->gpu)
        snprintf(e->name, sizeof e->name, "%s %s", gpu_encoder_name(e->gpu), userec_precision_name(precision));
    else
        snprintf(e->name, sizeof e->name, "cpu %s", userec_precision_name(cpu_precision));
    e->work.name = e->name;
    return e;
}

userec_encoder *userec_encoder_open(const userec_model *model, userec_device device, userec_precision precision,
                                    FILE *notes, userec_error *err) {
    return open_one(model, device, 0, precision, notes, err);
}

static userec_status encode_part(void *part, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                 userec_counts *counts, userec_error *err) {
    return userec_encoder_encode(part, ids, offsets, n, out, counts, err);
}

/* A part's name without its "cuda:N " (the card and precision); the whole name on the CPU. */
static const char *card_of(const char *part_name) {
    const char *space = strchr(part_name, ' ');
    return !strncmp(part_name, "cuda:", 5) && space ? space + 1 : part_name;
}

/* "cuda:0,1: 2 x NVIDIA H100 80GB HBM3 bf16", "cpu:0,0: 2 x cpu fp32". */
static void name_parts(userec_encoder *e, const userec_devices *chosen) {
    char list[256];
    size_t same = 1;
    while (same < e->n_parts && !strcmp(card_of(e->part_names[same]), card_of(e->part_names[0]))) same++;
    snprintf(e->name, sizeof e->name, same == e->n_parts ? "%s: %zu x %s" : "%s: %zu encoders: %s and others",
             userec_devices_name(chosen, list, sizeof list), e->n_parts, card_of(e->part_names[0]));
}

userec_encoder *userec_encoder_open_on(const userec_model *model, const userec_devices *devices,
                                       userec_precision precision, FILE *notes, userec_error *err) {
    if (devices->kind == USEREC_DEVICE_AUTO) return open_one(model, USEREC_DEVICE_AUTO, 0, precision, notes, err);
    userec_devices chosen;
    if (userec_devices_choose(devices, notes, &chosen, err)) return NULL;
    if (chosen.count == 1) return open_one(model, chosen.kind, chosen.index[0], precision, notes, err);
    userec_encoder *e = calloc(1, sizeof *e);
    if (e) {
        e->parts = calloc((size_t)chosen.count, sizeof *e->parts);
        e->part_names = calloc((size_t)chosen.count, sizeof *e->part_names);
    }
    if (!e || !e->parts || !e->part_names) {
        userec_encoder_close(e);
        set_error(err, USEREC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    e->model = model;
    for (; e->n_parts < (size_t)chosen.count; e->n_parts++) { /* each uploads its own copy of the weights */
        userec_encoder *part = open_one(model, chosen.kind, chosen.index[e->n_parts], precision, notes, err);
        if (!part) {
            userec_encoder_close(e);
            return NULL;
        }
        e->parts[e->n_parts] = part;
        e->part_names[e->n_parts] = part->name;
    }
    char msg[256];
    /* Pieces of at most a part's own batch: a call of userec_encoder_batch_tokens(e) gives each device one. */
    if (!(e->multi = multi_encoder_new(encode_part, (void *const *)e->parts, e->n_parts, userec_info(model).dim,
                                       userec_encoder_batch_tokens(e->parts[0]), msg, sizeof msg))) {
        set_error(err, USEREC_ERR_NOMEM, "%s", msg);
        userec_encoder_close(e);
        return NULL;
    }
    name_parts(e, &chosen);
    return e;
}

void userec_encoder_close(userec_encoder *e) {
    if (!e) return;
    multi_encoder_free(e->multi); /* its threads first: they call the parts */
    for (size_t i = 0; i < e->n_parts; i++) userec_encoder_close(e->parts[i]);
    free(e->parts);
    free(e->part_names);
    gpu_encoder_destroy(e->gpu);
    cpu_workspace_free(e->cpu);
    free(e);
}

userec_status userec_encoder_encode(userec_encoder *e, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                    userec_counts *counts, userec_error *err) {
    if (e->multi) {
        /* Checked whole first, so that a bad id is named by its place in the call, not in a piece. */
        size_t rows, clipped;
        const userec_status st = model_check_ids(&e->model->hp, ids, offsets, n, &rows, &clipped, err);
        return st ? st : multi_encoder_encode(e->multi, ids, offsets, n, out, counts, e->part_names, err);
    }
    userec_counts mine = {0};
    const double t0 = now_seconds();
    const userec_status st = e->gpu ? gpu_encoder_encode(e->gpu, ids, offsets, n, out, &mine, err)
                                    : cpu_encode_ids(e->model, e->cpu, ids, offsets, n, out, &mine, err);
    e->work.busy_s += now_seconds() - t0;
    e->work.sentences += mine.sentences;
    e->work.tokens += mine.tokens;
    if (counts) {
        counts->sentences += mine.sentences;
        counts->tokens += mine.tokens;
        counts->clipped += mine.clipped;
    }
    return st;
}

const char *userec_encoder_name(const userec_encoder *e) { return e->name; }
const userec_model *userec_encoder_model(const userec_encoder *e) { return e->model; }

userec_device userec_encoder_device(const userec_encoder *e) {
    if (e->multi) return userec_encoder_device(e->parts[0]);
    return e->gpu ? USEREC_DEVICE_CUDA : USEREC_DEVICE_CPU;
}

size_t userec_encoder_batch_tokens(const userec_encoder *e) {
    if (e->multi) return e->n_parts * userec_encoder_batch_tokens(e->parts[0]);
    return e->gpu ? GPU_BATCH_TOKENS : CPU_BATCH_TOKENS;
}

/* Several devices: their figures summed (a device's stages overlap; so do the devices). */
void userec_encoder_stats_get(const userec_encoder *e, userec_encoder_stats *stats) {
    memset(stats, 0, sizeof *stats);
    if (e->gpu) gpu_encoder_stats(e->gpu, stats);
    for (size_t i = 0; i < e->n_parts; i++) {
        userec_encoder_stats part;
        userec_encoder_stats_get(e->parts[i], &part);
        stats->upload_ms += part.upload_ms;
        stats->kernels_ms += part.kernels_ms;
        stats->download_ms += part.download_ms;
        stats->chunks += part.chunks;
        stats->graph_replays += part.graph_replays;
    }
}

void userec_encoder_stats_reset(userec_encoder *e) {
    if (e->gpu) gpu_encoder_stats_reset(e->gpu);
    e->work = (userec_device_work){.name = e->name};
    for (size_t i = 0; i < e->n_parts; i++) userec_encoder_stats_reset(e->parts[i]);
}

size_t userec_encoder_work(const userec_encoder *e, userec_device_work *work, size_t max) {
    if (!e->multi) {
        if (max) work[0] = e->work;
        return 1;
    }
    for (size_t i = 0; i < e->n_parts && i < max; i++) work[i] = e->parts[i]->work;
    return e->n_parts;
}

userec_encoder *userec_encoder_part(userec_encoder *e, size_t i) {
    if (!e->multi) return i ? NULL : e;
    return i < e->n_parts ? e->parts[i] : NULL;
}
