/* cpu_kernels.c: which kernels this CPU runs (cpuid, through the compiler's __builtin_cpu_supports, which also
 * checks that the OS saves the wider registers), and the USEREC_CPU_ISA override, decided once per process. */
#include "cpu/cpu_kernels.h"

#include <cpuid.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const char *const isa_names[CPU_ISAS] = {"generic", "avx2", "avx512"};

const char *cpu_isa_name(cpu_isa isa) { return (unsigned)isa < CPU_ISAS ? isa_names[isa] : "unknown ISA"; }

static pthread_once_t detected = PTHREAD_ONCE_INIT;
static cpu_isa best_isa;
static cpu_kernels avx512_kernels; /* cpu_kernels_avx512, with the bf16 products where the CPU has them */

static void detect(void) {
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    best_isa = avx512 ? CPU_ISA_AVX512 : avx2 ? CPU_ISA_AVX2 : CPU_ISA_GENERIC;
    avx512_kernels = cpu_kernels_avx512;
    if (avx512 && __builtin_cpu_supports("avx512bf16")) {
        avx512_kernels.bf16 = &cpu_gemm_bf16_avx512;
        avx512_kernels.bf16_probe = cpu_bf16_probe_avx512;
    }
}

cpu_isa cpu_isa_best(void) {
    pthread_once(&detected, detect);
    return best_isa;
}

const cpu_kernels *cpu_kernels_for(cpu_isa isa) {
    if (isa > cpu_isa_best()) return NULL;
    return isa == CPU_ISA_AVX512 ? &avx512_kernels : isa == CPU_ISA_AVX2 ? &cpu_kernels_avx2 : &cpu_kernels_generic;
}

static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;
static const cpu_kernels *chosen;
static char chosen_error[160];

static void choose(void) {
    const char *forced = getenv("USEREC_CPU_ISA");
    if (!forced || !*forced) {
        chosen = cpu_kernels_for(cpu_isa_best());
        return;
    }
    for (int isa = 0; isa < CPU_ISAS; isa++)
        if (!strcmp(forced, isa_names[isa])) {
            if (!(chosen = cpu_kernels_for((cpu_isa)isa)))
                snprintf(chosen_error, sizeof chosen_error, "USEREC_CPU_ISA=%s: this CPU runs at most %s", forced,
                         cpu_isa_name(cpu_isa_best()));
            return;
        }
    snprintf(chosen_error, sizeof chosen_error, "USEREC_CPU_ISA='%.40s' is not generic, avx2 or avx512", forced);
}

const cpu_kernels *cpu_kernels_choose(char *err, size_t err_len) {
    pthread_once(&chosen_once, choose);
    if (!chosen) ERR(err, err_len, "%s", chosen_error);
    return chosen;
}

void cpu_model_name(char *out, size_t len) {
    unsigned regs[12] = {0}, eax, ebx, ecx, edx;
    char brand[sizeof regs + 1] = "unknown x86-64 CPU";
    if (__get_cpuid_max(0x80000000, NULL) >= 0x80000004) {
        for (unsigned leaf = 0; leaf < 3; leaf++)
            __get_cpuid(0x80000002 + leaf, &regs[4 * leaf], &regs[4 * leaf + 1], &regs[4 * leaf + 2], &regs[4 * leaf + 3]);
        memcpy(brand, regs, sizeof regs);
        brand[sizeof regs] = 0;
    }
    const char *name = brand;
    while (*name == ' ') name++;
    size_t end = strlen(name);
    while (end && name[end - 1] == ' ') end--;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        snprintf(out, len, "%.*s", (int)end, name);
        return;
    }
    unsigned family = eax >> 8 & 0xf, model = eax >> 4 & 0xf;
    if (family == 0xf) family += eax >> 20 & 0xff;
    if (family >= 6) model |= (eax >> 16 & 0xf) << 4;
    snprintf(out, len, "%.*s (family %u, model %u)", (int)end, name, family, model);
}
