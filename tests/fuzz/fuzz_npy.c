/* fuzz_npy.c: the .npy reader (npy_parse: magic, version, header dict, shape, size) on any bytes; every element of
 * an accepted array is read, so that a size check that lets the data run past the buffer shows. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "output/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1); /* exactly size bytes: ASan sees any read past them */
    if (!copy) return 0;
    memcpy(copy, data, size);
    npy_array a;
    char err[512] = "";
    if (npy_parse(copy, size, "fuzz.npy", &a, err, sizeof err)) {
        if (!err[0]) abort();
    } else {
        const size_t bytes = a.rows * a.cols * (a.dtype == NPY_F16 ? 2 : 4);
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < bytes; i++) sum += ((const uint8_t *)a.data)[i];
        (void)sum;
    }
    free(copy);
    return 0;
}
