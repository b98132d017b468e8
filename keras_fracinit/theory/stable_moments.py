"""The exact s-moment gain for symmetric alpha-stable weights.

Weights iid SaS(sigma) map an input `x` to outputs whose l_alpha norm is
`sigma ||x||_alpha Y_m`, `Y_m = S_m^(1/alpha)` independent of `x` (see
`stable_laplace`). Preserving the s-th moment of the per-unit size
`||x||_alpha / n^(1/alpha)` from layer to layer, for `0 < s < alpha`, gives

    sigma^alpha = G_{alpha,s}(m) / fan_in,   G_{alpha,s}(m) = m E[Y_m^s]^(-alpha/s),

and `E[Y_m^s] = E[S_m^p]`, `p = s / alpha`, is the Mellin-type integral

    E[S^p] = p / Gamma(1 - p) int_0^inf (1 - L(t)) t^(-p-1) dt,   L = psi^m.

At alpha = 2 the weights are N(0, 2 sigma^2) and `G = g_s / 2`, the paper's
gain.

Numerical method (ours), as for the Gaussian gain: in the scaled variable
`tau = t / T` (`T` puts the bend of `1 - L` near `tau = 1`), subtract from
`1 - L` the function

    h(tau) = (1 - L(inf)) (1 - e^-tau) + A' j(tau) + c tau e^-tau,
    j(tau) = tau log(1 + 1/tau) - (1 - e^-tau),

whose Mellin integral is closed-form and which matches `1 - L` at infinity
and to first order at 0, where `1 - L ~ A' tau log(1/tau) + B' tau`: the
`tau log(1/tau)` term is the `1/t` tail of one unit's alpha-th power. The
remainder is `O(tau^2 log^2 tau)` at 0, decays like a power at infinity and
is analytic in `log tau`, so the trapezoidal rule in `log tau` converges
geometrically, and

    E[(T S)^p] = (1 - L(inf)) + A' (Gamma(1 + p) / (1 - p) - 1) + c p
                 + p / Gamma(1 - p) int r(tau) tau^(-p-1) dtau.

Reference:
    M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving initialization
    schemes for training deep neural networks", AISTATS 2021; S. Favaro,
    S. Fortini and S. Peluchetti, "Stable behaviour of infinitely wide deep
    neural networks", AISTATS 2020.
"""

import dataclasses
import functools
import math

import numpy as np
from scipy import special

from keras_fracinit import _checks
from keras_fracinit.theory import activation as activation_lib
from keras_fracinit.theory import moments
from keras_fracinit.theory import stable_laplace

# Trapezoidal rule in u = log(tau): the remainder is analytic for
# |Im u| < pi/2, decays like exp((2 - p) u) on the left and at least like
# exp(-(p + 1/2) u) on the right.
_STEP = 0.125
_NODES = _STEP * np.arange(round(-46.0 / _STEP), round(96.0 / _STEP) + 1)
_TAU = np.exp(_NODES)


@dataclasses.dataclass(frozen=True)
class _SumLaw:
    """What the integrals need of `S_m` on the nodes, in `tau = t / scale`."""

    scale: float
    dead: float  # L(inf) = P(S_m = 0)
    slope_log: float  # A': 1 - L ~ A' tau log(1/tau) + B' tau
    slope_linear: float  # B'
    bend: np.ndarray  # q(tau) = (1 - L) - (1 - L(inf)) (1 - e^-tau)


def _tail_of_j(tau):
    """`j(tau) = tau log(1 + 1/tau) - 1 + e^-tau`, without cancellation for large tau."""
    x = 1.0 / tau
    large = tau > 8.0
    out = np.empty_like(tau)
    # tau log1p(x) - 1 = sum_k (-x)^k / (k + 1) for k >= 1, x <= 1/8
    k = np.arange(1, 24)
    out[large] = ((-x[large, None]) ** k / (k + 1.0)).sum(axis=1) + np.exp(-tau[large])
    out[~large] = tau[~large] * np.log1p(x[~large]) + np.expm1(-tau[~large])
    return out


@functools.lru_cache(maxsize=1024)
def sum_law(law, alpha, width):
    """`S_m` on the nodes, for `m = width` units; cached."""
    coeff_log, coeff_linear = stable_laplace.small_time_coefficients(law, alpha)
    a_sum, b_sum = width * max(coeff_log, 0.0), width * coeff_linear
    # 1 - L bends where a t log(1/t) + b t ~ 1
    scale = 1.0 / (a_sum * math.log(math.e + a_sum) + max(b_sum, 0.0))
    dead_unit = law.dead_unit_probability
    dead = dead_unit**width
    small, minus_one, excess = stable_laplace.laplace_parts(scale * _TAU, law, alpha)
    bend = np.empty_like(_TAU)
    with np.errstate(divide="ignore"):  # psi rounds to 0 far out: L = 0
        one_minus = -np.expm1(width * np.log1p(minus_one[small]))
        if dead_unit > 0.0:
            # L - L(inf) = P0^m expm1(x), x = m log1p(excess / P0), in logs:
            # P0^m underflows and expm1(x) overflows at large widths.
            x = width * np.log1p(excess[~small] / dead_unit)
            above_dead = np.exp(width * math.log(dead_unit) + x + np.log(-np.expm1(-x)))
        else:
            above_dead = excess[~small] ** width
    bend[small] = one_minus + (1.0 - dead) * np.expm1(-_TAU[small])
    bend[~small] = (1.0 - dead) * np.exp(-_TAU[~small]) - above_dead
    return _SumLaw(
        scale=scale,
        dead=dead,
        slope_log=a_sum * scale,
        slope_linear=scale * (b_sum - a_sum * math.log(scale)),
        bend=bend,
    )


@functools.lru_cache(maxsize=4096)
def log_moment(p, law, alpha, width):
    """`log E[S_m^p]` for `0 < p < 1`; cached. See the module docstring."""
    terms = sum_law(law, alpha, width)
    alive = 1.0 - terms.dead
    linear = terms.slope_linear + terms.slope_log - alive
    remainder = terms.bend - terms.slope_log * _tail_of_j(_TAU) - linear * _TAU * np.exp(-_TAU)
    integral = _STEP * np.dot(remainder, np.exp(-p * _NODES))
    gamma_ratio_minus_one = math.expm1(special.gammaln(1.0 + p) - math.log1p(-p))
    # E[(T S)^p] / (1 - L(inf)) - 1, without adding 1: log keeps its
    # relative precision as p -> 0, where the gain is a power 1/p of it.
    excess = (
        terms.slope_log * gamma_ratio_minus_one + linear * p + p / special.gamma(1.0 - p) * integral
    ) / alive
    return -p * math.log(terms.scale) + math.log(alive) + math.log1p(excess)


@functools.lru_cache(maxsize=4096)
def log_cumulants(law, alpha, width):
    """`(E[log S_m], Var[log S_m])` given `S_m > 0`; cached.

    The Frullani-type identities of `moments.log_cumulants`, with
    `e^-tau - L_c(tau) = q(tau) / (1 - L(inf))` for the law `L_c` of
    `T S_m` given `S_m > 0`.
    """
    terms = sum_law(law, alpha, width)
    integrand = terms.bend / (1.0 - terms.dead)
    mean_log = _STEP * integrand.sum()
    mean_square_log = -2.0 * _STEP * np.dot(_NODES, integrand) - 2.0 * np.euler_gamma * mean_log
    return mean_log - math.log(terms.scale), mean_square_log - mean_log**2


def log_gain_for_law(s, alpha, law, width):
    """`log G_{alpha,s}(m)`; alpha = 2 is the Gaussian gain over 2, exactly."""
    if alpha == 2.0:
        return moments.log_gain_for_law(s, law, width) - math.log(2.0)
    p = s / alpha
    return math.log(width) - log_moment(p, law, alpha, width) / p


def stable_gain_for_law(s: float, alpha: float, law: activation_lib.ActivationLaw, width: int) -> float:
    """`G_{alpha,s}(m)` for validated arguments (the initializers' fast path); cached.

    Raises:
        ValueError: if the gain exceeds the float64 range (ReLU-type laws at
            tiny `s` and tiny widths, where the dead mass enters as a power
            `-alpha/s`).
    """
    if alpha == 2.0:
        return moments.gain_for_law(s, law, width) / 2.0
    log_gain = log_gain_for_law(s, alpha, law, width)
    if log_gain > 700.0:
        raise ValueError(
            f"The s-moment gain exceeds the float64 range (log gain = {log_gain:.4g}) for s={s}, "
            f"alpha={alpha}, width={width} and {law}: the probability that every unit is dead "
            "dominates. Use a larger `s` or a wider layer."
        )
    return math.exp(log_gain)


def validate(s, alpha, activation, width):
    """Checks `s`, `alpha` (s < alpha), `width` and the activation; returns them canonical."""
    s, width, spec = activation_lib.validate(s, activation, width)
    alpha = _checks.check_stability_index(alpha)
    return _checks.check_order_below_index(s, alpha), alpha, width, spec


def stable_moment_gain(
    s: float,
    alpha: float,
    activation: str | activation_lib.ActivationSpec | None = "relu",
    *,
    width: int,
) -> float:
    """The exact s-moment gain `G_{alpha,s}(m)` of symmetric alpha-stable weights.

    Weights iid SaS(sigma), `E exp(iuW) = exp(-sigma^alpha |u|^alpha)`, with

        sigma^alpha = G_{alpha,s}(m) / fan_in,   G_{alpha,s}(m) = m E[Y_m^s]^(-alpha/s),

    preserve the s-th moment of the per-unit size `||x||_alpha / n^(1/alpha)`
    from a layer's input to its output of width `m`, at every width, where
    `Y_m` is the l_alpha norm of `phi(z)` for `m` iid SaS(1) pre-activations.
    The s-th moment of alpha-stable values is finite only for `s < alpha`.
    `alpha = 2` is the Gaussian scheme (SaS(sigma) = N(0, 2 sigma^2)), so there
    `G = moment_gain / 2` exactly. For `alpha < 2`, `G` decays like
    `1 / log m` in the width, the `(m log m)^(-1/alpha)` scale of Favaro et
    al. (2020) for wide stable networks.

    Args:
        s: Moment order to preserve, in (0, 2] and below `alpha` (`s = 2` only
            with `alpha = 2`).
        alpha: Stability index of the weights, in (0, 2]; 2 is Gaussian, 1
            is Cauchy.
        activation: `"relu"`, `"leaky_relu"`, `"rrelu"` or `"linear"` with its
            defaults, or an `ActivationSpec` (slopes, dropout).
        width: Number of units `m` of the layer (a positive integer).

    Returns:
        The gain, a float, cached per (s, alpha, activation law, width).

    Example:
        >>> round(stable_moment_gain(1.0, 2.0, "relu", width=64), 5)  # moment_gain / 2
        1.01991
        >>> round(stable_moment_gain(0.8, 1.5, "relu", width=64), 4)
        0.5689

    Reference:
        M. Gurbuzbalaban and Y. Hu, AISTATS 2021; S. Favaro, S. Fortini and
        S. Peluchetti, AISTATS 2020.
    """
    s, alpha, width, spec = validate(s, alpha, activation, width)
    return stable_gain_for_law(s, alpha, spec.law, width)
