/* gpu_select.c: names of precisions and devices, what --device cpu|cuda|auto resolves to (one rule, one message
 * for every command), and the encoder behind it: the CPU path (encoder_cpu.c) or the GPU one (encoder_gpu.cu),
 * so that the CLI calls one function either way. */
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "gpu.h"
#include "model.h"

#define CPU_BATCH_TOKENS 8192
#define GPU_BATCH_TOKENS (4 * USEREC_GPU_CHUNK_TOKENS) /* four device chunks per call: copies hide under compute */

static const char *const precision_names[USEREC_PRECISIONS] = {"fp32", "tf32", "bf16"};

const char *userec_precision_name(userec_precision p) {
    return (unsigned)p < USEREC_PRECISIONS ? precision_names[p] : "unknown precision";
}

int userec_precision_parse(const char *name, userec_precision *p) {
    for (int i = 0; i < USEREC_PRECISIONS; i++)
        if (!strcmp(name, precision_names[i])) {
            *p = (userec_precision)i;
            return 0;
        }
    return -1;
}

int userec_device_parse(const char *name, userec_device *d) {
    static const struct {
        const char *name;
        userec_device device;
    } devices[] = {{"cpu", USEREC_DEVICE_CPU}, {"cuda", USEREC_DEVICE_CUDA}, {"auto", USEREC_DEVICE_AUTO}};
    for (size_t i = 0; i < sizeof devices / sizeof *devices; i++)
        if (!strcmp(name, devices[i].name)) {
            *d = devices[i].device;
            return 0;
        }
    return -1;
}

/* No usable GPU, for the reason in `why`: an error for --device cuda; for auto, a note and the CPU. */
static userec_status no_gpu(userec_device device, const userec_error *why, FILE *notes, userec_error *err) {
    if (device == USEREC_DEVICE_CUDA) return userec_fail(err, why->status, "--device cuda: no usable GPU: %s", why->message);
    if (notes) fprintf(notes, "userec: --device auto: no usable GPU (%s); running on the CPU in fp32\n", why->message);
    return USEREC_OK;
}

userec_status userec_device_choose(userec_device device, FILE *notes, userec_device *chosen, userec_error *err) {
    userec_error why;
    *chosen = USEREC_DEVICE_CPU;
    if (device == USEREC_DEVICE_CPU) return USEREC_OK;
    if (userec_gpu_check(0, &why)) return no_gpu(device, &why, notes, err);
    *chosen = USEREC_DEVICE_CUDA;
    return USEREC_OK;
}

struct userec_encoder {
    const userec_model *model;
    userec_gpu *gpu;    /* NULL on the CPU */
    cpu_workspace *cpu; /* the CPU path's buffers, reused batch after batch */
    char name[400];
};

userec_encoder *userec_encoder_open(const userec_model *model, userec_device device, userec_precision precision,
                                    FILE *notes, userec_error *err) {
    if (device == USEREC_DEVICE_CPU && precision != USEREC_FP32) {
        userec_fail(err, USEREC_ERR_INPUT, "the CPU path computes in fp32 only; --precision %s needs --device cuda",
                    userec_precision_name(precision));
        return NULL;
    }
    userec_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        userec_fail(err, USEREC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    e->model = model;
    if (device != USEREC_DEVICE_CPU) {
        const userec_gpu_options opt = {.device = 0, .precision = precision};
        userec_error why;
        e->gpu = userec_gpu_create(model, &opt, &why);
        if (!e->gpu && no_gpu(device, &why, notes, err)) {
            free(e);
            return NULL;
        }
    }
    if (!e->gpu && !(e->cpu = cpu_workspace_new())) {
        free(e);
        userec_fail(err, USEREC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (e->gpu)
        snprintf(e->name, sizeof e->name, "%s %s", userec_gpu_name(e->gpu), userec_precision_name(precision));
    else
        snprintf(e->name, sizeof e->name, "cpu fp32");
    return e;
}

void userec_encoder_close(userec_encoder *e) {
    if (!e) return;
    userec_gpu_destroy(e->gpu);
    cpu_workspace_free(e->cpu);
    free(e);
}

userec_status userec_encoder_encode(userec_encoder *e, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                    userec_counts *counts, userec_error *err) {
    return e->gpu ? userec_gpu_encode_ids(e->gpu, ids, offsets, n, out, counts, err)
                  : cpu_encode_ids(e->model, e->cpu, ids, offsets, n, out, counts, err);
}

const char *userec_encoder_name(const userec_encoder *e) { return e->name; }
const userec_model *userec_encoder_model(const userec_encoder *e) { return e->model; }
userec_gpu *userec_encoder_gpu(userec_encoder *e) { return e->gpu; }
size_t userec_encoder_batch_tokens(const userec_encoder *e) { return e->gpu ? GPU_BATCH_TOKENS : CPU_BATCH_TOKENS; }
