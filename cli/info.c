/* info.c: `userec info MODEL`: what a .usew file holds, and whether this engine can run it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "model/model.h"
#include "model/provenance.h"

static void print_flags(uint32_t flags) {
    static const char *names[] = {"pre_ln", "emb_twice", "timing_signal", "l0_residual_proj", "tanh_head",
                                  "l2_normalize"};
    printf("flags          0x%x (", flags);
    const char *sep = "";
    for (unsigned b = 0; b < sizeof names / sizeof names[0]; b++)
        if (flags & (1u << b)) printf("%s%s", sep, names[b]), sep = " ";
    printf(")\n");
}

static void print_tensor(const usew_tensor *t) {
    char shape[64] = "[";
    for (uint32_t d = 0; d < t->ndim; d++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%u", d ? "," : "", t->shape[d]);
    strcat(shape, "]");
    printf("  %-40s %-4s %-14s %10llu bytes  @%-10llu crc32 %08x\n", t->name, usew_dtype_name(t->dtype), shape,
           (unsigned long long)t->nbytes, (unsigned long long)t->offset, t->crc32);
}

int cmd_info(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr, "usage: userec info MODEL.usew\n");
        return argc == 2 && !strcmp(argv[1], "--help") ? 0 : EXIT_USAGE;
    }
    char err[512];
    int io_failed = 0;
    usew_file *f = usew_open(argv[1], &io_failed, err, sizeof err);
    if (!f) return cli_failed("info", io_failed ? USEREC_ERR_IO : USEREC_ERR_FORMAT, "%s", err);
    const usew_hparams *hp = &f->hp;
    static const char *tokenizers[] = {"none", "spm", "tfjs"};
    printf("file           %s (%zu bytes, format version %u)\n", argv[1], f->size, hp->version);
    printf("checksums      header, table and all %u tensors verified\n", f->n_tensors);
    printf("layers         %u, widths", hp->n_layers);
    for (uint32_t i = 0; i < hp->n_layers && i < USEW_MAX_LAYERS; i++) printf(" %u", hp->layer_width[i]);
    printf(" -> d_model %u, %u heads, ffn %u\n", hp->d_model, hp->n_heads, hp->d_ffn);
    printf("vocabulary     %u embedding rows, %u tokenizer pieces, unk id %u, max length %u\n", hp->vocab_rows,
           hp->n_pieces, hp->unk_id, hp->max_len);
    printf("pooling        %s\n", hp->pooling == USEW_POOL_MEAN ? "mean" : "unknown");
    print_flags(hp->flags);
    printf("ln_eps         %g\nl2_floor       %g\n", hp->ln_eps, hp->l2_floor);
    printf("tokenizer      default %s, normalizer flags 0x%x\n",
           hp->default_tokenizer < 3 ? tokenizers[hp->default_tokenizer] : "unknown", hp->normalizer_flags);
    uint64_t total = 0;
    printf("tensors        %u\n", f->n_tensors);
    for (uint32_t i = 0; i < f->n_tensors; i++) {
        print_tensor(&f->tensors[i]);
        total += f->tensors[i].nbytes;
    }
    printf("tensor bytes   %llu\n", (unsigned long long)total);
    const usew_tensor *prov = usew_find(f, "meta.provenance");
    if (prov) printf("provenance     %.*s\n", (int)prov->nbytes, (const char *)prov->data);
    if (usew_is_test_weights(f)) printf("weights        TEST WEIGHTS: %s\n", USEW_TEST_WEIGHTS_WARNING);
    userec_error uerr;
    userec_model *m = model_from_file(f, &uerr);
    int runnable = m != NULL;
    printf("engine         %s%s\n", runnable ? "runs this model" : "cannot run this model: ", runnable ? "" : uerr.message);
    userec_free(m);
    return runnable ? 0 : EXIT_DATAERR;
}
