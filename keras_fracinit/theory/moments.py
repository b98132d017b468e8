"""Exact fractional moments of the squared layer output and the s-moment gain.

For one layer with standard Gaussian pre-activations `z_1..z_m`, the squared
output norm is `X_m = sum_i phi(z_i)^2` (times `xi_i / q^2` with inverted
dropout). The weight variance that preserves the s-th moment of the per-unit
RMS from layer to layer is

    sigma^2 = g_s(m) / fan_in,    g_s(m) = m * E[X_m^(s/2)]^(-2/s).

`E[X_m^p]` (p = s/2 in (0, 1)) is computed from the Laplace transform
`L(t) = E[exp(-t X_m)] = psi(t)^m` through the Mellin-type identity

    E[X^p] = p / Gamma(1 - p) * int_0^inf (1 - L(t)) t^(-p-1) dt.

No Monte Carlo and no large-width approximation: the integral is computed to
about 1e-14 relative accuracy for every width.

Numerical method (ours): write `mu = E[X_m]` and subtract from `1 - L(t)` the
function `h(t) = c1 (1 - exp(-mu t)) + c2 t exp(-mu t)`, whose Mellin
integral is known in closed form, with `c1 = 1 - L(inf)` and `c2 = mu L(inf)`.
`h` matches `1 - L` to first order at 0 (so the remainder is O(t^2) there,
which removes the `t^(-p)` end that defeats naive quadrature as p -> 1) and
at infinity (so the slowly decaying `t^(-p)` tail as p -> 0 is handled
analytically too). The remainder is analytic in `log t` in a strip around the
real axis and decays exponentially at both ends, so the trapezoidal rule in
`log t` converges geometrically; 1e-14 needs about a thousand nodes. The
result is the ratio `R = E[X^p] / E[X]^p <= 1`, from which
`g_s = g_2 * R^(-1/p)` with `g_2 = 2 q / (1 + E[A^2])` exactly, so s = 2 is
He/LeCun to the last bit.

Reference:
    M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving initialization
    schemes for training deep neural networks", AISTATS 2021.
"""

import functools
import math

import numpy as np
from scipy import special

from keras_fracinit.theory import activation as activation_lib

# Trapezoidal rule in u = log(mu t): the remainder is analytic for
# |Im u| < pi/2 and decays like exp(-(2-p) |u|) on the left and at least like
# exp(-|u|/2) on the right, so this step and range leave errors below 1e-16
# (checked against 50-digit quadrature in the tests).
_STEP = 0.125
_U_MIN = -44.0
_U_MAX = 92.0
_NODES = _STEP * np.arange(round(_U_MIN / _STEP), round(_U_MAX / _STEP) + 1)
_TAU = np.exp(_NODES)

# Power series of E_A[(1 + 2 A^2 t)^(-1/2)] - 1 for A ~ U[l, u] is used while
# y = u sqrt(2 t) is below this; past it the closed form has no cancellation.
_SERIES_LIMIT = 0.5
_SERIES_TERMS = 32


def _inverse_sqrt_minus_one(x):
    """`(1 + x)^(-1/2) - 1`, accurate also for tiny `x`."""
    return np.expm1(-0.5 * np.log1p(x))


def _uniform_slope_mean_minus_one(t, lower, upper):
    """`E_A[(1 + 2 A^2 t)^(-1/2)] - 1` for `A ~ U[lower, upper]`, lower < upper."""
    t = np.asarray(t, dtype=np.float64)
    out = np.empty_like(t)
    y = upper * np.sqrt(2.0 * t)
    small = y < _SERIES_LIMIT
    if np.any(small):
        # sum_n binom(-1/2, n) (2 t)^n E[A^(2n)],
        # E[A^(2n)] = u^(2n) (1 - r^(2n+1)) / ((2n+1)(1 - r)), r = l/u.
        # 1 - r^k through expm1 of log r = log1p(-(u - l)/u): no cancellation
        # when l is close to u.
        log_ratio = np.log1p(-(upper - lower) / upper) if lower > 0 else -np.inf
        n = np.arange(1, _SERIES_TERMS + 1, dtype=np.float64)
        binom = np.cumprod((-0.5 - n + 1.0) / n)
        moments = np.expm1((2.0 * n + 1.0) * log_ratio) / ((2.0 * n + 1.0) * np.expm1(log_ratio))
        powers = (y[small, None] ** 2) ** n
        out[small] = powers @ (binom * moments)
    large = ~small
    if np.any(large):
        # asinh(u x) - asinh(l x) = asinh(D) with D below, which avoids the
        # cancellation when l is close to u.
        x = np.sqrt(2.0 * t[large])
        diff = (
            (upper - lower)
            * (upper + lower)
            * x
            / (upper * np.sqrt(1.0 + (lower * x) ** 2) + lower * np.sqrt(1.0 + (upper * x) ** 2))
        )
        out[large] = np.arcsinh(diff) / ((upper - lower) * x) - 1.0
    return out


def laplace_factor_minus_one(t, law):
    """`psi(t) - 1`, where `psi(t) = E[exp(-t phi(z)^2 xi / q^2)]` for one unit.

    Without dropout `psi(t) = 1/2 (1 + 2t)^(-1/2) + 1/2 E_A[(1 + 2 A^2
    t)^(-1/2)]`; inverted dropout with keep probability `q` maps it to
    `(1 - q) + q psi(t / q^2)`. Returned minus one, to full relative precision
    for small `t`, because the moment integral needs `1 - psi^m` there.

    Args:
        t: Array of non-negative arguments.
        law: An `ActivationLaw`.

    Returns:
        Array of `psi(t) - 1`, same shape as `t`.
    """
    t = np.asarray(t, dtype=np.float64) / (law.keep * law.keep)
    positive_part = _inverse_sqrt_minus_one(2.0 * t)
    if law.lower == law.upper:
        negative_part = _inverse_sqrt_minus_one(2.0 * law.lower**2 * t)
    else:
        negative_part = _uniform_slope_mean_minus_one(t, law.lower, law.upper)
    return law.keep * 0.5 * (positive_part + negative_part)


def mean_square_output(law, width):
    """`E[X_m] = m (1 + E[A^2]) / (2 q)`."""
    return width * (1.0 + law.mean_square_slope) / (2.0 * law.keep)


def scaled_laplace_minus_one(law, width):
    """`L(tau / E[X_m]) - 1` on the quadrature nodes `tau = exp(u)`.

    The Laplace transform of `X_m / E[X_m]`, minus one, to full relative
    precision for small `tau`; shared by every integral of this package.
    """
    t = _TAU / mean_square_output(law, width)
    with np.errstate(divide="ignore"):  # psi(t) rounds to 0 far out: L = 0
        log_laplace = width * np.log1p(laplace_factor_minus_one(t, law))
    return np.expm1(log_laplace)


def dead_probability(law, width):
    """`P(X_m = 0) = L(inf)`: every unit negative with slope 0, or dropped."""
    return law.dead_unit_probability**width


def _log_moment_ratio(p, law, width):
    """`log(E[X_m^p] / E[X_m]^p)` for `0 < p < 1`; see the module docstring."""
    dead_mass = dead_probability(law, width)
    # remainder h(t) - (1 - L(t)) with h as in the module docstring, at mu = 1
    remainder = (
        (1.0 - dead_mass) * (-np.expm1(-_TAU))
        + dead_mass * _TAU * np.exp(-_TAU)
        + scaled_laplace_minus_one(law, width)
    )
    integral = _STEP * np.dot(remainder, np.exp(-p * _NODES))
    # R - 1, formed without adding 1 so that log R keeps its relative
    # precision as p -> 0, where the gain is R^(-1/p).
    ratio_minus_one = -(1.0 - p) * dead_mass - p / special.gamma(1.0 - p) * integral
    return math.log1p(ratio_minus_one)


@functools.lru_cache(maxsize=4096)
def log_cumulants(law, width):
    """`(E[log X_m], Var[log X_m])` given `X_m > 0`; cached.

    From the Laplace transform `L_c` of `X' = X_m / E[X_m]` given `X_m > 0`,
    with the Frullani-type identities (valid for any `x > 0`)

        log x   = int_0^inf (e^-t - e^-xt) dt / t              (Frullani)
        log^2 x = -2 int_0^inf log t (e^-t - e^-xt) dt / t - 2 gamma log x,

    the second from expanding `Gamma(e) (1 - x^-e)` in `e`. The integrands
    decay exponentially in `u = log t` at both ends, so the same trapezoidal
    rule as for the moments is exact to about 1e-15 absolute.
    """
    dead_mass = dead_probability(law, width)
    conditional_minus_one = scaled_laplace_minus_one(law, width) / (1.0 - dead_mass)
    integrand = np.expm1(-_TAU) - conditional_minus_one
    mean_log = _STEP * integrand.sum()
    mean_square_log = -2.0 * _STEP * np.dot(_NODES, integrand) - 2.0 * np.euler_gamma * mean_log
    log_mean = math.log(mean_square_output(law, width))
    return log_mean + mean_log, mean_square_log - mean_log**2


@functools.lru_cache(maxsize=4096)
def log_gain_for_law(s, law, width):
    """`log g_s(m)` for an already validated `ActivationLaw`; cached."""
    if s == 2.0:
        return math.log(law.second_moment_gain)
    p = 0.5 * s
    return math.log(law.second_moment_gain) - _log_moment_ratio(p, law, width) / p


def fractional_moment(
    s: float,
    activation: str | activation_lib.ActivationSpec | None = "relu",
    *,
    width: int,
) -> float:
    """Exact `E[X_m^(s/2)]`, the s/2-th moment of one layer's squared output.

    `X_m = sum_{i=1..m} phi(z_i)^2 xi_i / q^2` with `z_i` iid N(0, 1), `m` the
    width and `xi_i ~ Bernoulli(q)` the inverted-dropout mask (q = 1 - dropout).
    For `s = 2` this is `m (1 + E[A^2]) / (2 q)`.

    Takes the arguments of `moment_gain`.

    Returns:
        A float.

    Examples:
        >>> round(fractional_moment(1.0, "linear", width=1), 6)  # E|z|
        0.797885

    Reference:
        Gurbuzbalaban and Hu, AISTATS 2021, Section 3.
    """
    s, width, spec = activation_lib.validate(s, activation, width)
    law = spec.law
    # g = m E[X^p]^(-1/p)  <=>  E[X^p] = (m / g)^p
    return math.exp(0.5 * s * (math.log(width) - log_gain_for_law(s, law, width)))


def gain_for_law(s: float, law: activation_lib.ActivationLaw, width: int) -> float:
    """`g_s(m)` for an already validated `ActivationLaw`; cached.

    The fast path used by the initializers. `s` must be a float in (0, 2] and
    `width` a positive int.

    Raises:
        ValueError: if the gain exceeds the float64 range, which happens only
            for ReLU-type laws at tiny `s` and tiny widths, where the
            probability of a dead layer enters as `(1 - P(X_m = 0))^(-2/s)`.
    """
    log_gain = log_gain_for_law(s, law, width)
    if log_gain > 700.0:
        raise ValueError(
            f"The s-moment gain exceeds the float64 range (log gain = "
            f"{log_gain:.4g}) for s={s}, width={width} and {law}: the "
            "probability that every unit is dead dominates. Use a larger "
            "`s` or a wider layer."
        )
    return math.exp(log_gain)


def moment_gain(
    s: float,
    activation: str | activation_lib.ActivationSpec | None = "relu",
    *,
    width: int,
) -> float:
    """The exact s-moment gain `g_s(m) = m * E[X_m^(s/2)]^(-2/s)`.

    Gaussian weights with variance `g_s(m) / fan_in` preserve the s-th moment
    of the per-unit RMS `||x|| / sqrt(n)` from a layer's input to its output
    of width `m`, for every width. At `s = 2` it is exactly the classical gain
    `g_2 = 2 q / (1 + E[A^2])`: 2 (He) for ReLU, `2 / (1 + a^2)` for Leaky
    ReLU, 1 (LeCun) for linear, `2 / (1 + (l^2 + l u + u^2) / 3)` for
    randomized Leaky ReLU, times the keep probability `q` with dropout. For
    `s < 2` it is larger, and `g_2 + O(1/m)`.

    For ReLU at tiny widths the gain counts the probability `2^-m` that every
    unit is dead, so it can be far above He's 2 (m = 2, s = 0.5: 9.32). That is
    the exact answer, not an artefact.

    Args:
        s: Moment order, in (0, 2].
        activation: `"relu"`, `"leaky_relu"`, `"rrelu"` or `"linear"` with its
            defaults, or an `ActivationSpec` (slopes, dropout).
        width: Number of units `m` of the layer (a positive integer).

    Returns:
        The gain, a float. Cached per (s, activation law, width): a repeated
            call costs microseconds.

    Examples:
        >>> round(moment_gain(1.0, "relu", width=64), 5)
        2.03982
        >>> from keras_fracinit.theory import ActivationSpec
        >>> moment_gain(2.0, ActivationSpec("leaky_relu", negative_slope=0.5), width=64)
        1.6

    Reference:
        Gurbuzbalaban and Hu, AISTATS 2021, Sections 2-3.
    """
    s, width, spec = activation_lib.validate(s, activation, width)
    law = spec.law
    return gain_for_law(s, law, width)
