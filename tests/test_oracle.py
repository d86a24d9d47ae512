"""Checks the TF.js reference driver (tests/oracle/embed.js) against an independent float64 NumPy forward
pass of SPEC 1 (tests/reference_forward.py), both on the deterministic test weights (SPEC 2.3).
Agreement validates the driver (batching, sparse input, empty sentences) and our reading of SPEC 1."""
import numpy as np

import reference_forward
from common import assert_close, tfjs_test_model
from oracle_client import oracle_embed

TOLERANCE = 1e-5
VOCAB_ROWS = 8002
BATCH = 4
# Empty sentences among others and in a batch of their own; lengths past the 128-token clip. Few long
# sentences: the CPU backend needs about 30 ms per (padded) position.
LENGTHS = [5, 17, 0, 129, 0, 1, 200, 2, 64, 0, 0, 40, 3, 31, 7,
           100, 0, 12, 45, 9, 33, 1, 1, 60, 20, 4, 80, 2, 0, 3]
CLIPPED = 6  # the 200-token sentence


def reference(model_dir, sequences):
    specs, buffer = reference_forward.read_tfjs(model_dir)
    return reference_forward.embed(specs, buffer, sequences)


def test_oracle_matches_numpy_reference():
    model = tfjs_test_model()
    rng = np.random.default_rng(20240601)
    sequences = [rng.integers(0, VOCAB_ROWS, n).tolist() for n in LENGTHS]
    sequences.append(sequences[CLIPPED][:128])  # the same input to the graph as the 200-token sentence
    got = oracle_embed(model, sequences, batch=BATCH)
    assert_close("TF.js graph vs NumPy SPEC 1", got, reference(model, sequences), TOLERANCE)
    assert_close("200 tokens vs their first 128", got[CLIPPED], got[-1], 0.0)


def test_oracle_all_empty_input():
    model = tfjs_test_model()
    sequences = [[], [], []]
    got = oracle_embed(model, sequences, batch=2)
    want = reference(model, sequences)
    assert_close("empty sentences: TF.js graph vs NumPy", got, want, TOLERANCE)
    # SPEC 1: an all-padding row is the normalised tanh(bt).
    bias = reference_forward.tensors(*reference_forward.read_tfjs(model))[
        "module/Encoder_en/hidden_layers/tanh_layer_0/bias"].astype(np.float64)
    assert_close("empty sentence vs tanh(bt)/|tanh(bt)|", got[0], np.tanh(bias) / np.linalg.norm(np.tanh(bias)),
                 TOLERANCE)
