/* encoder.c: one encoder on any device (userec_encoder in userec.h): the CPU path (cpu/encoder_cpu.c) or the GPU
 * one (gpu/encoder_gpu.cu) behind the same calls; what --device cpu|cuda|auto resolves to (one rule, one message
 * for every command); names of devices and precisions; the public list of GPUs. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "cpu/cpu_ops.h"
#include "gpu/gpu.h"

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

/* No usable GPU, for the reason in `why`: an error for --device cuda; for auto, a note and the CPU. */
static userec_status no_gpu(userec_device device, const userec_error *why, FILE *notes, userec_error *err) {
    if (device == USEREC_DEVICE_CUDA) return set_error(err, why->status, "--device cuda: no usable GPU: %s", why->message);
    if (notes) fprintf(notes, "userec: --device auto: no usable GPU (%s); running on the CPU in fp32\n", why->message);
    return USEREC_OK;
}

userec_status userec_device_choose(userec_device device, FILE *notes, userec_device *chosen, userec_error *err) {
    userec_error why;
    *chosen = USEREC_DEVICE_CPU;
    if (device == USEREC_DEVICE_CPU) return USEREC_OK;
    if (gpu_check(0, &why)) return no_gpu(device, &why, notes, err);
    *chosen = USEREC_DEVICE_CUDA;
    return USEREC_OK;
}

struct userec_encoder {
    const userec_model *model;
    gpu_encoder *gpu;   /* NULL on the CPU */
    cpu_workspace *cpu; /* the CPU path's buffers, reused batch after batch */
    char name[400];
};

userec_encoder *userec_encoder_open(const userec_model *model, userec_device device, userec_precision precision,
                                    FILE *notes, userec_error *err) {
    userec_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        set_error(err, USEREC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    e->model = model;
    if (device != USEREC_DEVICE_CPU) {
        const gpu_options opt = {.device = 0, .precision = precision};
        userec_error why;
        e->gpu = gpu_encoder_create(model, &opt, &why);
        if (!e->gpu && no_gpu(device, &why, notes, err)) {
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
    return e;
}

void userec_encoder_close(userec_encoder *e) {
    if (!e) return;
    gpu_encoder_destroy(e->gpu);
    cpu_workspace_free(e->cpu);
    free(e);
}

userec_status userec_encoder_encode(userec_encoder *e, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                    userec_counts *counts, userec_error *err) {
    return e->gpu ? gpu_encoder_encode(e->gpu, ids, offsets, n, out, counts, err)
                  : cpu_encode_ids(e->model, e->cpu, ids, offsets, n, out, counts, err);
}

const char *userec_encoder_name(const userec_encoder *e) { return e->name; }
const userec_model *userec_encoder_model(const userec_encoder *e) { return e->model; }
userec_device userec_encoder_device(const userec_encoder *e) { return e->gpu ? USEREC_DEVICE_CUDA : USEREC_DEVICE_CPU; }
size_t userec_encoder_batch_tokens(const userec_encoder *e) { return e->gpu ? GPU_BATCH_TOKENS : CPU_BATCH_TOKENS; }

void userec_encoder_stats_get(const userec_encoder *e, userec_encoder_stats *stats) {
    if (e->gpu) gpu_encoder_stats(e->gpu, stats);
    else memset(stats, 0, sizeof *stats);
}

void userec_encoder_stats_reset(userec_encoder *e) {
    if (e->gpu) gpu_encoder_stats_reset(e->gpu);
}
