/* multi_encoder.h: one encode call shared by several workers (one encoder per device): the call is cut into
 * pieces of whole sentences, each worker thread takes the next piece as soon as it is free, and every piece's
 * rows are written to their own place in the output, so the output is the one a single worker would write.
 * It knows nothing of devices: a worker is any encode function with its state, so that tests can run it with
 * CPU encoders, or with workers that fail or dawdle on purpose. */
#ifndef USEREC_MULTI_ENCODER_H
#define USEREC_MULTI_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "userec.h"

/* userec_encoder_encode's contract: sentence i of the piece is ids[offsets[i] .. offsets[i+1]) (offsets need not
 * start at 0); writes n rows of dim floats to out; counts may be NULL. */
typedef userec_status (*multi_encode_fn)(void *worker, const int32_t *ids, const size_t *offsets, size_t n,
                                         float *out, userec_counts *counts, userec_error *err);

typedef struct multi_encoder multi_encoder;

/* Starts one thread per worker (workers[i] is passed to fn; they stay the caller's). Each thread runs OpenMP
 * regions with the calling thread's omp_get_max_threads(). piece_tokens: the most tokens a piece aims at (0:
 * no limit); a call is cut into about two pieces per worker, fewer when pieces would outgrow it. Returns NULL
 * with err set when memory or threads run out. */
multi_encoder *multi_encoder_new(multi_encode_fn fn, void *const *workers, size_t n_workers, size_t dim,
                                 size_t piece_tokens, char *err, size_t err_len);
/* Stops and joins the threads. */
void multi_encoder_free(multi_encoder *m);

/* Encodes n sentences across the workers; rows land in out in input order. When a piece fails, no further piece
 * is handed out, the pieces under way finish, and the error of the first failed piece in input order is
 * returned, its message prefixed with `names[worker]: ` when names is given. counts (may be NULL) gets the
 * sum of the pieces' counts, and only on success. One call at a time. */
userec_status multi_encoder_encode(multi_encoder *m, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                   userec_counts *counts, const char *const *names, userec_error *err);

#endif
