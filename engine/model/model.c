/* model.c: turns a validated .usew file into a USE-lite model: finds every tensor the forward pass needs,
 * checks its shape against the header, and precomputes the timing signal. */
#include "model/model.h"

#include "cpu/layer0_tables.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What binding the tensors found wrong: the missing or misshapen ones (all of them, listed) and the first
 * value that is not finite (one is enough to refuse the file). */
typedef struct {
    const usew_file *f;
    char missing[2048];
    char non_finite[256];
} binding;

/* The index of the first NaN or infinity in x[0..n), or n. The common case (none) is one pass the compiler
 * vectorises: an exponent of all ones is what NaN and infinity share. */
static size_t first_non_finite(const float *x, size_t n) {
    uint32_t any = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, x + i, sizeof bits);
        any |= (bits & 0x7F800000u) == 0x7F800000u;
    }
    if (!any) return n;
    size_t i = 0;
    while (isfinite(x[i])) i++;
    return i;
}

/* Looks up an f32 tensor of exactly the expected shape (d1 = 0 for a vector) whose values are all finite.
 * Notes the problem in b and returns NULL when it is absent, shaped otherwise or holds a NaN or infinity. */
static const float *require(binding *b, const char *name, uint32_t d0, uint32_t d1) {
    const usew_tensor *t = usew_find(b->f, name);
    size_t used = strlen(b->missing);
    if (!t) {
        snprintf(b->missing + used, sizeof b->missing - used, "%s%s", used ? ", " : "", name);
        return NULL;
    }
    uint32_t ndim = d1 ? 2 : 1;
    if (t->dtype != USEW_F32 || t->ndim != ndim || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        snprintf(b->missing + used, sizeof b->missing - used, "%s%s (want f32 %u x %u, have %s of %u dims %u x %u)",
                 used ? ", " : "", name, d0, d1 ? d1 : 1, usew_dtype_name(t->dtype), t->ndim, t->shape[0],
                 t->ndim > 1 ? t->shape[1] : 1);
        return NULL;
    }
    const size_t n = (size_t)d0 * (d1 ? d1 : 1), bad = first_non_finite(t->data, n);
    if (bad < n) {
        if (!b->non_finite[0]) {
            const uint32_t cols = d1 ? d1 : 1;
            snprintf(b->non_finite, sizeof b->non_finite, "tensor '%s' holds %g at element %zu (row %zu, column %zu)",
                     name, ((const float *)t->data)[bad], bad, bad / cols, bad % cols);
        }
        return NULL;
    }
    return t->data;
}

static void require_dense(binding *b, const char *prefix, uint32_t in, uint32_t out, dense *d) {
    char name[USEW_NAME_BYTES];
    snprintf(name, sizeof name, "%.64s.weight", prefix);
    d->w = require(b, name, in, out);
    snprintf(name, sizeof name, "%.64s.bias", prefix);
    d->b = require(b, name, out, 0);
    d->packed = (gemm_weights){.in = in, .out = out};
}

/* Every dense layer of the model (at most 5 per layer and the head); returns how many. */
static size_t model_dense_layers(userec_model *m, dense **all) {
    size_t n = 0;
    for (uint32_t i = 0; i < m->hp.n_layers; i++) {
        encoder_layer *l = &m->layers[i];
        dense *of_layer[] = {&l->qkv, &l->out, &l->proj, &l->ffn_up, &l->ffn_down};
        for (size_t j = 0; j < sizeof of_layer / sizeof *of_layer; j++)
            if (of_layer[j]->w) all[n++] = of_layer[j];
    }
    all[n++] = &m->head;
    return n;
}

static void require_norm(binding *b, const char *prefix, uint32_t width, layer_norm *n) {
    char name[USEW_NAME_BYTES];
    snprintf(name, sizeof name, "%.64s.scale", prefix);
    n->scale = require(b, name, width, 0);
    snprintf(name, sizeof name, "%.64s.bias", prefix);
    n->bias = require(b, name, width, 0);
}

#define MAX_WIDTH 65536 /* USE-lite's widest is 1536 */

/* The architecture this engine implements: USE-lite's quirks all present, mean pooling. */
static userec_status check_architecture(const usew_hparams *hp, const char *path, userec_error *err) {
    const uint32_t needed = USEW_F_PRE_LN | USEW_F_EMB_TWICE | USEW_F_TIMING_SIGNAL | USEW_F_TANH_HEAD |
                            USEW_F_L2_NORMALIZE;
    if (hp->flags & ~USEW_F_KNOWN)
        return set_error(err, USEREC_ERR_UNSUPPORTED, "%s: unknown architecture flags 0x%x (a newer converter?)",
                         path, hp->flags & ~USEW_F_KNOWN);
    if ((hp->flags & needed) != needed || hp->pooling != USEW_POOL_MEAN)
        return set_error(err, USEREC_ERR_UNSUPPORTED,
                         "%s: architecture flags 0x%x / pooling %u are not the USE-lite transformer this engine runs",
                         path, hp->flags, hp->pooling);
    /* widths bounded so that every product of them below (3 * width, max_len * width) fits 32 bits */
    if (hp->n_layers < 1 || hp->n_layers > USEW_MAX_LAYERS || !hp->n_heads || !hp->d_model || !hp->d_ffn ||
        hp->d_model > MAX_WIDTH || hp->d_ffn > MAX_WIDTH || !hp->vocab_rows || hp->vocab_rows > INT32_MAX ||
        !hp->max_len || hp->max_len > 4096)
        return set_error(err, USEREC_ERR_FORMAT, "%s: implausible hyper-parameters (layers %u, heads %u, d_model %u, "
                         "d_ffn %u, vocab %u, max_len %u)", path, hp->n_layers, hp->n_heads, hp->d_model, hp->d_ffn,
                         hp->vocab_rows, hp->max_len);
    /* a NaN, an infinity or a non-positive epsilon would turn every vector into NaN without an error */
    if (!(isfinite(hp->ln_eps) && hp->ln_eps > 0) || !(isfinite(hp->l2_floor) && hp->l2_floor > 0))
        return set_error(err, USEREC_ERR_FORMAT, "%s: ln_eps %g and l2_floor %g must be positive and finite", path,
                         hp->ln_eps, hp->l2_floor);
    for (uint32_t i = 0; i < hp->n_layers; i++) {
        uint32_t w = hp->layer_width[i];
        if (!w || w > MAX_WIDTH || w % hp->n_heads || (w != hp->d_model && !(i == 0 && (hp->flags & USEW_F_L0_RESIDUAL_PROJ))))
            return set_error(err, USEREC_ERR_FORMAT, "%s: layer %u width %u does not fit d_model %u, %u heads",
                             path, i, w, hp->d_model, hp->n_heads);
    }
    if (hp->layer_width[0] % 2)
        return set_error(err, USEREC_ERR_FORMAT, "%s: the timing signal needs an even width, not %u", path,
                         hp->layer_width[0]);
    return USEREC_OK;
}

/* PE[p] = concat(sin(p*inv), cos(p*inv)), rounded like the graph: the product in float32, sin/cos of it. */
static float *timing_signal(const float *inv, uint32_t max_len, uint32_t width) {
    uint32_t half = width / 2;
    float *pe = malloc((size_t)max_len * width * sizeof *pe);
    if (!pe) return NULL;
    for (uint32_t p = 0; p < max_len; p++)
        for (uint32_t i = 0; i < half; i++) {
            float t = (float)p * inv[i];
            pe[(size_t)p * width + i] = (float)sin(t);
            pe[(size_t)p * width + half + i] = (float)cos(t);
        }
    return pe;
}

/* Builds each tokenizer whose payload the file carries (about 10 ms each), so encoding texts needs no setup. */
static userec_status load_tokenizers(userec_model *m, const char *path, userec_error *err) {
    static const struct {
        enum usew_tokenizer kind;
        const char *tensor;
    } payloads[] = {{USEW_TOK_SPM, "tok.spm.pieces"}, {USEW_TOK_TFJS, "tok.tfjs.vocab"}};
    char msg[256];
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        if (!usew_find(m->file, payloads[i].tensor)) continue;
        if (!(m->tokenizers[payloads[i].kind] = tokenizer_from_usew(m->file, payloads[i].kind, msg, sizeof msg)))
            return set_error(err, USEREC_ERR_FORMAT, "%s: %s tokenizer: %s", path,
                             tokenizer_kind_name(payloads[i].kind), msg);
    }
    return USEREC_OK;
}

const tokenizer *model_tokenizer(const userec_model *m, enum usew_tokenizer kind, userec_error *err) {
    if (kind == USEW_TOK_NONE) kind = m->hp.default_tokenizer;
    if (kind != USEW_TOK_SPM && kind != USEW_TOK_TFJS) {
        set_error(err, USEREC_ERR_UNSUPPORTED, "%s: the model has no tokenizer (convert it with --spm-model or from "
                  "a folder with vocab.json)", m->file->path);
        return NULL;
    }
    if (!m->tokenizers[kind])
        set_error(err, USEREC_ERR_UNSUPPORTED, "%s: the model has no %s tokenizer (%s)",
                  m->file->path, tokenizer_kind_name(kind),
                  kind == USEW_TOK_SPM ? "convert it with --spm-model universal_encoder_8k_spm.model"
                                         : "convert it from the TF.js folder, which has vocab.json");
    return m->tokenizers[kind];
}

userec_model *userec_load(const char *path, userec_error *err) {
    char msg[512];
    int io_failed;
    usew_file *f = usew_open(path, &io_failed, msg, sizeof msg);
    if (!f) {
        set_error(err, io_failed ? USEREC_ERR_IO : USEREC_ERR_FORMAT, "%s", msg);
        return NULL;
    }
    return model_from_file(f, err);
}

userec_model *model_from_file(usew_file *f, userec_error *err) {
    const char *path = f->path;
    userec_model *m = calloc(1, sizeof *m);
    if (!m) {
        usew_close(f);
        set_error(err, USEREC_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    m->file = f;
    if (!(m->cpu_cache = calloc(1, sizeof *m->cpu_cache))) {
        set_error(err, USEREC_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    pthread_mutex_init(&m->cpu_cache->lock, NULL);
    /* m->hp is set only once the header passed the check: userec_free walks m->hp.n_layers layers of a
     * fixed array, so it must never see a count the check refused */
    if (check_architecture(&f->hp, path, err)) goto fail;
    m->hp = f->hp;
    const usew_hparams *hp = &m->hp;

    binding b = {.f = f};
    char name[USEW_NAME_BYTES];
    uint32_t w0 = hp->layer_width[0], d = hp->d_model;
    m->embed = require(&b, "embed.table", hp->vocab_rows, w0);
    const float *inv = require(&b, "embed.timing_inv", w0 / 2, 0);
    for (uint32_t i = 0; i < hp->n_layers; i++) {
        encoder_layer *l = &m->layers[i];
        uint32_t w = l->width = hp->layer_width[i];
        snprintf(name, sizeof name, "l%u.attn_norm", i);
        require_norm(&b, name, w, &l->attn_norm);
        snprintf(name, sizeof name, "l%u.attn.qkv", i);
        require_dense(&b, name, w, 3 * w, &l->qkv);
        snprintf(name, sizeof name, "l%u.attn.out", i);
        require_dense(&b, name, w, d, &l->out);
        if (i == 0 && (hp->flags & USEW_F_L0_RESIDUAL_PROJ)) require_dense(&b, "l0.proj", w, d, &l->proj);
        snprintf(name, sizeof name, "l%u.ffn_norm", i);
        require_norm(&b, name, d, &l->ffn_norm);
        snprintf(name, sizeof name, "l%u.ffn.up", i);
        require_dense(&b, name, d, hp->d_ffn, &l->ffn_up);
        snprintf(name, sizeof name, "l%u.ffn.down", i);
        require_dense(&b, name, hp->d_ffn, d, &l->ffn_down);
    }
    require_dense(&b, "head", d, d, &m->head);
    if (b.missing[0]) {
        set_error(err, USEREC_ERR_FORMAT, "%s: missing or misshapen tensors: %s", path, b.missing);
        goto fail;
    }
    if (b.non_finite[0]) {
        set_error(err, USEREC_ERR_FORMAT, "%s: %s: a model's values must be finite (the file is damaged or was "
                  "converted from a diverged checkpoint)", path, b.non_finite);
        goto fail;
    }
    if (!(m->timing = timing_signal(inv, hp->max_len, w0))) {
        set_error(err, USEREC_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    dense *all[5 * USEW_MAX_LAYERS + 1];
    for (size_t i = 0, n = model_dense_layers(m, all); i < n; i++)
        if (gemm_weights_pack(all[i]->w, all[i]->b, all[i]->packed.in, all[i]->packed.out, &all[i]->packed)) {
            set_error(err, USEREC_ERR_NOMEM, "%s: out of memory for the packed weights", path);
            goto fail;
        }
    if (load_tokenizers(m, path, err)) goto fail;
    return m;
fail:
    userec_free(m);
    return NULL;
}

void userec_free(userec_model *m) {
    if (!m) return;
    dense *all[5 * USEW_MAX_LAYERS + 1];
    for (size_t i = 0, n = model_dense_layers(m, all); i < n; i++) gemm_weights_free(&all[i]->packed);
    usew_close(m->file);
    for (int k = 0; k < 3; k++) tokenizer_free(m->tokenizers[k]);
    free(m->timing);
    if (m->cpu_cache) {
        layer0_tables_free(m->cpu_cache->layer0);
        pthread_mutex_destroy(&m->cpu_cache->lock);
        free(m->cpu_cache);
    }
    free(m);
}

userec_model_info userec_info(const userec_model *m) {
    const usew_hparams *hp = &m->hp;
    const double ffn = (double)hp->d_ffn * hp->d_model; /* each of a feed-forward block's two products */
    double macs = 0;
    for (uint32_t i = 0; i < hp->n_layers; i++) {
        const encoder_layer *l = &m->layers[i];
        macs += (double)l->width * 3 * l->width + (double)l->width * hp->d_model + ffn;
        if (l->proj.w) macs += (double)l->width * hp->d_model;
        /* The last layer's down-projection runs once per sentence, after pooling (encoder_cpu.c, pooled_ffn_block). */
        if (i + 1 < hp->n_layers) macs += ffn;
    }
    return (userec_model_info){
        .dim = hp->d_model,
        .max_len = hp->max_len,
        .vocab_rows = hp->vocab_rows,
        .n_layers = hp->n_layers,
        .flops_per_token = 2 * macs,
        .flops_per_sentence = 2 * (ffn + (double)hp->d_model * hp->d_model),
    };
}

userec_status model_check_ids(const usew_hparams *hp, const int32_t *ids, const size_t *offsets, size_t n,
                              size_t *rows, size_t *clipped, userec_error *err) {
    *rows = *clipped = 0;
    for (size_t s = 0; s < n; s++) {
        if (offsets[s + 1] < offsets[s])
            return set_error(err, USEREC_ERR_INPUT, "sentence %zu: offsets go backwards", s);
        for (size_t i = offsets[s]; i < offsets[s + 1]; i++)
            if (ids[i] < 0 || (uint32_t)ids[i] >= hp->vocab_rows)
                return set_error(err, USEREC_ERR_INPUT, "sentence %zu, token %zu: id %d is outside 0..%u", s,
                                 i - offsets[s], ids[i], hp->vocab_rows - 1);
        *clipped += offsets[s + 1] - offsets[s] > hp->max_len;
        *rows += model_kept_tokens(hp, offsets, s);
    }
    return USEREC_OK;
}
