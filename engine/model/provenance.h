/* provenance.h: what the `meta.provenance` record of a .usew file (docs/format.md) says about the weights. */
#ifndef USEREC_PROVENANCE_H
#define USEREC_PROVENANCE_H

#include "model/weights.h"

/* 1 when the provenance marks the file as test weights (tools/make_test_model.py's folders carry the mark, which
 * tools/convert.py copies as "test_weights"): real architecture, random weights, vectors that mean nothing. */
int usew_is_test_weights(const usew_file *f);

/* The warning every command that reads such a model prints (one line, no newline). */
#define USEW_TEST_WEIGHTS_WARNING                                                                              \
    "these are the deterministic TEST weights (tools/make_test_model.py): real architecture and tokenizer, "  \
    "random weights, so the vectors do not mean anything; `make weights` gets the real USE-lite"

#endif
