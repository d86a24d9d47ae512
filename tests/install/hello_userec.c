/* hello_userec.c: a program outside the project, built against an installed userec with
 * `pkg-config --cflags --libs userec` (tests/test_install.py): encodes its arguments, prints each vector's first
 * values, then each text's nearest other text. Only the public header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <userec.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: hello_userec MODEL.usew TEXT TEXT...\n");
        return 2;
    }
    userec_error err;
    userec_model *m = userec_load(argv[1], &err);
    if (!m) return fprintf(stderr, "%s: %s\n", userec_status_name(err.status), err.message), 1;
    const size_t n = (size_t)argc - 2, dim = userec_info(m).dim;
    size_t *lens = malloc(n * sizeof *lens);
    float *vectors = malloc(n * dim * sizeof *vectors), *score = malloc(n * sizeof *score);
    int32_t *index = malloc(n * sizeof *index);
    for (size_t i = 0; i < n; i++) lens[i] = strlen(argv[i + 2]);
    userec_encoder *enc = userec_encoder_open(m, USEREC_DEVICE_CPU, USEREC_FP32, NULL, &err);
    int rc = !enc || userec_encoder_encode_texts(enc, USEREC_TOKENIZER_DEFAULT, (const char *const *)argv + 2, lens, n,
                                                 vectors, NULL, &err);
    const userec_topk_options opt = {.k = 1, .exclude_self = 1, .device = USEREC_DEVICE_CPU, .precision = USEREC_FP32};
    if (!rc) rc = userec_topk_search(vectors, n, vectors, n, dim, &opt, index, score, &err);
    printf("userec %s (header %s)\n", userec_version(), USEREC_VERSION);
    for (size_t i = 0; !rc && i < n; i++)
        printf("%zu %.9g %.9g %.9g nearest %d %.9g\n", i, vectors[i * dim], vectors[i * dim + 1], vectors[i * dim + 2],
               index[i], score[i]);
    if (rc) fprintf(stderr, "%s: %s\n", userec_status_name(err.status), err.message);
    userec_encoder_close(enc);
    userec_free(m);
    free(lens), free(vectors), free(score), free(index);
    return rc ? 1 : 0;
}
