/* devices.c: `userec devices`: what this build can run on: the CPU (its model, the kernels it runs and its
 * precisions), and each CUDA GPU the driver shows, with its compute capability, whether this build runs on it
 * (and if not, why), and the peak rates bench measures MFU against; or why there is no usable GPU. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cpu/cpu_kernels.h"
#include "gpu/gpu.h"

#define MAX_LISTED 16

int cmd_devices(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "--help") && strcmp(argv[1], "-h")) return cli_fail("devices", "takes no arguments");
        printf("usage: userec devices\n  lists the CPU and the CUDA GPUs this build can encode on\n"
               "  (USEREC_CPU_ISA=generic|avx2|avx512 makes the CPU run a lower ISA's kernels)\n");
        return 0;
    }
    char model[96], no_kernels[200];
    cpu_model_name(model, sizeof model);
    const cpu_kernels *k = cpu_kernels_choose(no_kernels, sizeof no_kernels);
    printf("cpu      %s, %d threads; ISAs", model, omp_get_max_threads());
    for (int isa = 0; isa < CPU_ISAS; isa++)
        if (cpu_kernels_for((cpu_isa)isa)) printf(" %s", cpu_isa_name((cpu_isa)isa));
    if (k)
        printf("; kernels %s%s; %s\n", k->name, getenv("USEREC_CPU_ISA") && *getenv("USEREC_CPU_ISA") ? " (USEREC_CPU_ISA)" : "",
               k->bf16 ? "fp32, bf16 (avx512_bf16)" : "fp32");
    else
        printf("; no kernels: %s\n", no_kernels);
    userec_gpu_info devices[MAX_LISTED];
    userec_error err;
    const int count = gpu_list(devices, MAX_LISTED, &err);
    if (!count) {
        printf("cuda     unavailable: %s\n", err.message);
        return 0;
    }
    int driver, runtime;
    gpu_versions(&driver, &runtime);
    printf("cuda     driver %d.%d, runtime %d.%d, %d device(s); this build has code for %s\n", driver / 1000,
           driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10, count, gpu_build_targets());
    for (int i = 0; i < count && i < MAX_LISTED; i++) {
        const userec_gpu_info *d = &devices[i];
        printf("cuda:%-3d %s, compute capability %d.%d, %d SMs, %.1f GiB", i, d->name, d->cc_major, d->cc_minor,
               d->multiprocessors, (double)d->memory_bytes / (1u << 30));
        const double bf16 = gpu_peak_tflops(d->name, USEREC_BF16);
        if (bf16)
            printf("; dense peak TFLOP/s fp32 %.0f, tf32 %.0f, bf16 %.0f", gpu_peak_tflops(d->name, USEREC_FP32),
                   gpu_peak_tflops(d->name, USEREC_TF32), bf16);
        else
            printf("; not in the peak table (engine/gpu/gpu_peak.c): no MFU");
        userec_error why = {0};
        if (d->usable || !gpu_check(i, &why)) /* gpu_check: the same test as d->usable, with its reason */
            printf("; usable\n");
        else
            printf("; not usable: %s\n", why.message);
    }
    return 0;
}
