"""One unit's Laplace transform under symmetric alpha-stable weights.

With weights iid SaS(sigma) (characteristic function `exp(-sigma^alpha
|u|^alpha)`), the pre-activations of a layer are iid SaS(sigma ||x||_alpha)
given its input, and the alpha-th power of the output's l_alpha norm is
`sigma^alpha ||x||_alpha^alpha S_m`, with

    S_m = sum_{i=1..m} Y_i,    Y = R |z|^alpha,    z ~ SaS(1),

`R = xi / q^alpha` times 1 (for z > 0) or `A^alpha` (for z <= 0): the slope
law `A` and the inverted-dropout mask `xi ~ Bernoulli(q)` of the activation,
independent of `|z|` because `z` is symmetric. Everything about `S_m` follows
from `psi(t) = E[exp(-t Y)]`: its Laplace transform is `psi(t)^m`.

Method (ours): the Mellin transform of `Y` is known in closed form,

    E[Y^-w] = E[R^-w] E|z|^(-alpha w),
    E|z|^r = 2^r Gamma((1 + r)/2) Gamma(1 - r/alpha) / (Gamma(1 - r/2) sqrt(pi)),

for `-1 < Re r < alpha`, so `psi` is one Mellin-Barnes integral,

    psi(t) = P(R = 0) + 1/(2 pi i) int_{Re w = c} K(w) t^-w dw,
    K(w) = Gamma(w) E[R^-w; R > 0] E|z|^(-alpha w),   0 < c < 1/alpha.

`K` decays like `exp(-pi |Im w|)` along vertical lines and is analytic
between its poles, so the trapezoidal rule on the line converges
geometrically. For small `t`, where `1 - psi(t) ~ A t log(1/t) + B t` (the
`1/t` tail of `Y` for alpha < 2) must keep its relative precision, the line
moves to `Re w = -3/2`, past the double pole at `w = -1`, whose residue
`t (c_-1 - c_-2 log t)` is taken analytically, its two Laurent
coefficients by the trapezoidal rule on a circle around the pole.

Reference:
    V. M. Zolotarev, "One-dimensional stable distributions", AMS (1986)
    (the absolute moments); J. Chambers, C. Mallows and B. Stuck, JASA 71
    (1976), whose representation the package samples with.
"""

import functools
import math

import numpy as np
from scipy import special

# Trapezoidal nodes on the vertical lines: step and height. The kernel is
# analytic at least 1/4 on either side of both lines and decays like
# exp(-pi |y|), so these leave errors near 1e-16 (checked in the tests
# against closed forms and a second quadrature).
_STEP = 0.04
_HEIGHT = 16.0
_Y = _STEP * np.arange(round(_HEIGHT / _STEP) + 1)
_WEIGHTS = np.full(_Y.shape, _STEP)
_WEIGHTS[0] = 0.5 * _STEP
# The line for small t, between the double poles at -1 and -2.
_LEFT = -1.5
# Laurent coefficients at w = -1: circle of radius 1/2 (the nearest other
# poles, 0 and -2, are 1 away: the error is about 2^-64).
_CIRCLE = -1.0 + 0.5 * np.exp(2j * np.pi * np.arange(64) / 64)
# psi from the left line up to this t, from the line between the poles after.
_SWITCH = 1.0


def _slope_mellin(w, law, alpha):
    """`E[R^-w; R > 0]` for the activation law (complex `w`)."""
    if law.upper == 0.0:
        negative = 0.0
    elif law.lower == law.upper:
        negative = np.exp(-alpha * w * math.log(law.lower))
    else:
        power = 1.0 - alpha * w
        top = np.exp(power * math.log(law.upper))
        bottom = np.exp(power * math.log(law.lower)) if law.lower > 0.0 else 0.0
        negative = (top - bottom) / (power * (law.upper - law.lower))
    return law.keep * np.exp(alpha * w * math.log(law.keep)) * 0.5 * (1.0 + negative)


def mellin_kernel(w, law, alpha):
    """`K(w) = Gamma(w) E[R^-w; R > 0] E|z|^(-alpha w)` for complex `w`."""
    w = np.asarray(w, dtype=np.complex128)
    aw = alpha * w
    log_numerator = (
        special.loggamma(w)
        + special.loggamma(1.0 + w)
        + special.loggamma(0.5 * (1.0 - aw))
        - aw * math.log(2.0)
        - 0.5 * math.log(math.pi)
    )
    # 1 / Gamma(1 + alpha w / 2) may be 0 (alpha = 2 at w = -1): reciprocal gamma.
    return np.exp(log_numerator) * special.rgamma(1.0 + 0.5 * aw) * _slope_mellin(w, law, alpha)


@functools.lru_cache(maxsize=512)
def _lines(law, alpha):
    """The kernel on both lines and the Laurent coefficients at -1; cached."""
    right = 0.5 / alpha
    on_circle = mellin_kernel(_CIRCLE, law, alpha)
    step = _CIRCLE + 1.0
    coefficient_1 = float(np.mean(on_circle * step).real)
    coefficient_2 = float(np.mean(on_circle * step * step).real)
    return (
        right,
        mellin_kernel(right + 1j * _Y, law, alpha) * _WEIGHTS / math.pi,
        mellin_kernel(_LEFT + 1j * _Y, law, alpha) * _WEIGHTS / math.pi,
        coefficient_1,
        coefficient_2,
    )


def small_time_coefficients(law, alpha):
    """`(A, B)` with `1 - psi(t) = A t log(1/t) + B t + O(t^2 log t)` as t -> 0.

    `A = 0` for alpha = 2 (then `B = E[Y]`); for alpha < 2 the `1/t` tail of
    `Y` makes `A > 0`.
    """
    _, _, _, coefficient_1, coefficient_2 = _lines(law, alpha)
    return -coefficient_2, -coefficient_1


def laplace_parts(t, law, alpha):
    """`psi(t)` in the two forms the sums need, each to its own precision.

    Args:
        t: Array of positive arguments.
        law: An `ActivationLaw`.
        alpha: Stability index in (0, 2].

    Returns:
        `(small, minus_one, excess)`: a boolean mask of `t <= 1`; there,
        `psi(t) - 1` to full relative precision; elsewhere
        `psi(t) - P(R = 0)` to full absolute precision (`minus_one` and
        `excess` hold zeros where the other applies).
    """
    t = np.asarray(t, dtype=np.float64)
    right, on_right, on_left, coefficient_1, coefficient_2 = _lines(law, alpha)
    small = t <= _SWITCH
    minus_one = np.zeros_like(t)
    excess = np.zeros_like(t)
    log_t = np.log(t[small])
    # t^(3/2 - iy), summed over the left line
    phases = np.exp(np.outer(log_t, -_LEFT - 1j * _Y))
    residue = t[small] * (coefficient_1 - coefficient_2 * log_t)
    minus_one[small] = residue + (phases @ on_left).real
    log_t = np.log(t[~small])
    phases = np.exp(np.outer(log_t, -right - 1j * _Y))
    excess[~small] = np.maximum((phases @ on_right).real, 0.0)
    return small, minus_one, excess


def laplace(t, law, alpha):
    """`psi(t) = E[exp(-t Y)]` for one unit (plain values, for checks and plots)."""
    small, minus_one, excess = laplace_parts(t, law, alpha)
    return np.where(small, 1.0 + minus_one, law.dead_unit_probability + excess)
