/* gpu_peak.c: the dense peak rates that `userec bench` divides by for MFU, looked up by the device name the
 * CUDA driver reports. The one table of them in the project.
 *
 * Source: NVIDIA's datasheets (H100: nvidia.com/en-us/data-center/h100, "H100 Tensor Core GPU" datasheet;
 * H200: nvidia.com/en-us/data-center/h200; GH200: nvidia.com/en-us/data-center/grace-hopper-superchip),
 * at boost clock. The datasheets print the tensor-core rates with 2:4 sparsity; the dense rates here are
 * half of those. fp32 is the CUDA-core rate (no tensor cores), which the fp32 mode's products run at. */
#include <string.h>

#include "gpu/gpu.h"

static const struct {
    const char *name_part; /* matched as a substring of the device name, first match wins */
    double tflops[USEREC_PRECISIONS]; /* fp32, tf32, bf16 */
} peaks[] = {
    {"H100 NVL", {60.0, 417.5, 835.5}},
    {"H100 PCIe", {51.0, 378.0, 756.5}},
    {"H100", {67.0, 494.5, 989.5}}, /* SXM5, named "NVIDIA H100 80GB HBM3" by the driver */
    {"H200 NVL", {60.0, 417.5, 835.5}},
    {"GH200", {67.0, 494.5, 989.5}},
    {"H200", {67.0, 494.5, 989.5}}, /* SXM */
};

double gpu_peak_tflops(const char *device_name, userec_precision p) {
    if (!device_name || (unsigned)p >= USEREC_PRECISIONS) return 0;
    for (size_t i = 0; i < sizeof peaks / sizeof *peaks; i++)
        if (strstr(device_name, peaks[i].name_part)) return peaks[i].tflops[p];
    return 0;
}
