"""The inverse timescales of tensor2tensor's timing signal, bit-exact as TensorFlow computes them in float32.

TF Hub's USE-lite module computes them in its graph (SPEC 1.2):
    log_increment = float32(log(max/min)) / float32(n - 1)        all float32
    inv[k] = min * exp(float32(k) * -log_increment)
TensorFlow's CPU exp is Eigen 3.3's vectorised Cephes polynomial, which differs from a correctly rounded exp
in the last bit for 16 of USE-lite's 128 values; emulating it reproduces all 128 stored values of the TF.js
model byte for byte (tests/test_convert.py checks this). Every float32 operation is emulated by rounding the
exact double result (double rounding is harmless for one +, - or * of float32 operands).
"""
import math
import struct

_F32 = struct.Struct("<f")


def f32(x):
    return _F32.unpack(_F32.pack(x))[0]


# Eigen 3.3 pexp<Packet4f> constants (Cephes expf)
EXP_HI, EXP_LO = f32(88.3762626647950), f32(-88.3762626647949)
LOG2E = f32(1.44269504088896341)
C1, C2 = f32(0.693359375), f32(-2.12194440e-4)
POLY = [f32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                         1.6666665459e-1, 5.0000001201e-1)]


def exp_f32(x):
    """Eigen 3.3's float32 exp: exp(x) = 2^n * exp(g), n = floor(x*log2(e) + 0.5), g by a degree-7 polynomial."""
    x0 = x
    x = max(min(x, EXP_HI), EXP_LO)
    n = math.floor(f32(f32(x * LOG2E) + 0.5))
    x = f32(f32(x - f32(n * C1)) - f32(n * C2))
    z = f32(x * x)
    y = POLY[0]
    for c in POLY[1:]:
        y = f32(f32(y * x) + c)
    y = f32(f32(f32(y * z) + x) + 1.0)
    return max(f32(y * 2.0 ** n), x0)


def inverse_timescales(n, log_range, min_timescale=1.0):
    """float32 inv[k] for k < n; log_range = log(max_timescale / min_timescale) as the graph holds it."""
    increment = f32(f32(log_range) / max(f32(n) - 1.0, 1.0))
    return [f32(min_timescale * exp_f32(f32(k * -increment))) for k in range(n)]
