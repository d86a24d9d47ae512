/* replay.c: a main() for the fuzz targets, so that a plain build (no clang, no libFuzzer) runs them on given
 * files: tests/test_fuzz_regressions.py replays every input kept in tests/fuzz/regressions/ this way. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize && LLVMFuzzerInitialize(&argc, &argv)) return 1;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0, got;
        do {
            if (len == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 65536))) return 1;
            got = fread(buf + len, 1, cap - len, f);
            len += got;
        } while (got);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        printf("replayed %s (%zu bytes)\n", argv[i], len);
    }
    return 0;
}
