"""Symmetric alpha-stable values from uniform ones (Chambers, Mallows and Stuck, 1976).

With `V ~ U(-pi/2, pi/2)` and `W ~ Exp(1)` independent,

    z = sin(alpha V) / cos(V)^(1/alpha) * (cos((1 - alpha) V) / W)^((1 - alpha)/alpha)

is SaS(1): `E exp(iuz) = exp(-|u|^alpha)`. Written with `keras.ops`, so the
same arithmetic serves `keras.random` draws, TensorFlow graphs and compiled
JAX functions.

Care in float32 (the usual kernel dtype):

- The formula runs in logs with the scale inside, `sigma |z| = exp(log sigma
  + log|z|)`: for small alpha, `W^((alpha-1)/alpha)` and `cos(V)^(-1/alpha)`
  overflow on their own long before the scaled value does.
- `cos V` near the poles is `sin` of the distance to the pole, which the
  uniform gives exactly; `cos` of a rounded `V` there has no correct digit.
- The uniforms are moved off 0, where `V = -pi/2` or `W = inf` would give an
  infinite value; the law moves by less than the uniform's own resolution.
- A value beyond the dtype's finite range (possible for small alpha) is
  clipped to it: a kernel never holds `inf`.

At alpha = 1 the exponent `(1 - alpha)/alpha` is 0 and the formula is
Cauchy's `tan V`; nothing divides by `1 - alpha`.

Reference:
    J. M. Chambers, C. L. Mallows and B. W. Stuck, "A method for simulating
    stable random variables", JASA 71 (1976); R. Weron, "On the
    Chambers-Mallows-Stuck method", Statist. Probab. Lett. 28 (1996).
"""

import math

import keras
import numpy as np

# Below the resolution of a float32 uniform draw (2^-24): moves 0 off the edge.
_OFF_EDGE = 2.0**-26


def symmetric_stable(angle, exponential, alpha, scale, dtype):
    """`scale * z`, z ~ SaS(alpha), from two independent U[0, 1) draws of the same shape.

    Args:
        angle: The uniform draws that give `V` (float32 or wider).
        exponential: The uniform draws that give `W = -log U`.
        alpha: Stability index in (0, 2), a Python float.
        scale: The SaS scale `sigma`: a positive Python float or scalar tensor.
        dtype: The dtype of the result.

    Returns:
        A tensor of the uniforms' shape.
    """
    ops = keras.ops
    # x in (-1, 1): V = x pi/2; the distance to the nearer pole is (1 - |x|) pi/2
    x = 2.0 * ops.maximum(angle, _OFF_EDGE) - 1.0
    v = 0.5 * math.pi * x
    log_cos_v = ops.log(ops.sin(0.5 * math.pi * (1.0 - ops.abs(x))))
    log_w = ops.log(-ops.log(ops.maximum(exponential, _OFF_EDGE)))
    log_size = ops.log(ops.abs(ops.sin(alpha * v))) - log_cos_v / alpha
    if alpha != 1.0:
        log_size = log_size + (1.0 - alpha) / alpha * (ops.log(ops.cos((1.0 - alpha) * v)) - log_w)
    largest = float(np.finfo(keras.backend.standardize_dtype(dtype)).max)
    log_scale = ops.log(ops.cast(scale, log_size.dtype))
    size = ops.minimum(ops.exp(log_size + log_scale), largest)
    return ops.cast(ops.sign(x) * size, dtype)


def uniform_dtype(dtype):
    """The dtype the uniforms are drawn in: float32, or float64 for a float64 kernel."""
    return "float64" if keras.backend.standardize_dtype(dtype) == "float64" else "float32"
