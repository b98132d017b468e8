"""What the scheme predicts over depth: log-normal norms, small outputs, heavy tails.

With zero biases and square layers of width `m`, rotational invariance makes
the output norm a product of independent per-layer factors,

    log(||x_L|| / ||x_0||) = sum_{k=1..L} xi_k,   xi = 1/2 log(sigma^2 X_m),

with `sigma^2 = g_s(m) / m`. So `log ||x_L||` is a random walk with drift
`mu = 1/2 (log sigma^2 + E[log X_m])` and step variance
`v = 1/4 Var[log X_m]`, and by the central limit theorem
`(log(||x_L|| / ||x_0||) - L mu) / sqrt(L) -> N(0, v)`. Jensen's inequality on
`E[(sigma^2 X_m)^(s/2)] = 1` gives `mu <= 0`, and `mu` moves up towards 0 as `s`
decreases: the norm still shrinks over depth, but more slowly than under He
(`s = 2`), so small outputs are rarer. (With a dead mass `P(X_m = 0)` the
condition holds for survivors only after dividing by `1 - P(X_m = 0)`, so for
ReLU at widths 1-2 and small `s` the surviving signals can grow: `mu > 0`.)

For ReLU (and with dropout) a layer kills the signal for good with
probability `P(X_m = 0)` (`2^-m` for ReLU); the log-norm law is then stated
given survival and the death probability is reported beside it.

**Heavy tails with biases.** With biases, `x_k = phi(W_k x_{k-1} + b_k)` is a
Kesten-type random affine recursion: for large `||x||` the bias is negligible
and the norm is multiplied by the factor `M = sigma sqrt(X_m)`, whose law the
functions below give exactly. Since `E[M^s] = 1` by construction and
`E[log M] = mu < 0`, the Kesten-Goldie theorem gives a depth limit with a
power-law tail `P(||x_inf|| > t) ~ C t^-s`: for `s < 2` it has infinite
variance. `norm_factor_moment` and `kesten_tail_index` make this checkable.

Reference:
    M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving initialization
    schemes for training deep neural networks", AISTATS 2021.
"""

import dataclasses
import math
import numbers

from scipy import optimize
from scipy import special

from keras_fracinit import _checks
from keras_fracinit.theory import activation as activation_lib
from keras_fracinit.theory import moments
from keras_fracinit.theory import stable_moments


@dataclasses.dataclass(frozen=True)
class LogNormLimit:
    """The Gaussian limit law of `log(||x_L|| / ||x_0||)` over `depth` layers.

    Attributes:
        mean: `L mu`, the mean of `log(||x_L|| / ||x_0||)` given survival.
        variance: `L v`, its variance given survival.
        survival: Probability that no layer kills the signal,
            `(1 - P(X_m = 0))^L` (1 unless ReLU-type or dropout).
        drift: Per-layer mean `mu`.
        step_variance: Per-layer variance `v`.
        width: Layer width `m`.
        depth: Number of layers `L`.
    """

    mean: float
    variance: float
    survival: float
    drift: float
    step_variance: float
    width: int
    depth: int

    @property
    def std(self) -> float:
        """Standard deviation `sqrt(L v)`."""
        return math.sqrt(self.variance)

    def cdf(self, log_ratio: float) -> float:
        """`P(log(||x_L|| / ||x_0||) <= log_ratio)` given survival (Gaussian)."""
        return special.ndtr((log_ratio - self.mean) / self.std)


def log_norm_limit(
    s: float,
    activation: str | activation_lib.ActivationSpec | None = "relu",
    *,
    width: int,
    depth: int,
    alpha: float = 2.0,
) -> LogNormLimit:
    """Mean and variance of `log(||x_L|| / ||x_0||)` under the s-moment scheme.

    For `depth` square Dense layers of `width` units, zero biases, weights
    `N(0, g_s(m) / m)`:

        mean = L mu,  mu = 1/2 (log(g_s(m) / m) + E[log X_m])
        variance = L v,  v = 1/4 Var[log X_m]

    with `E[log X_m]` and `Var[log X_m]` exact (for ReLU given `X_m > 0`):
    they equal the digamma/trigamma mixtures `E_B[psi(B/2)] + log 2` and
    `E_B[psi_1(B/2)] + Var_B[psi(B/2)]`, `B ~ Binomial(m, 1/2)`, and are
    computed for every activation of the class from the Laplace transform of
    `X_m`. `s = 2` gives He's (LeCun's for linear).

    With `alpha < 2` the weights are symmetric alpha-stable with
    `sigma^alpha = G_{alpha,s}(m) / m` (`stable_moment_gain`) and the norm is
    the l_alpha norm, which such weights multiply by independent factors
    `sigma Y_m` (`Y_m` the l_alpha norm of `phi(z)`, `z` iid SaS(1)):

        mu = (log(G / m) + E[log S_m]) / alpha,  v = Var[log S_m] / alpha^2,

    `S_m = Y_m^alpha`, again exact.

    Args:
        s: Moment order of the scheme, in (0, 2] (below `alpha` if
            `alpha < 2`).
        activation: `"relu"`, `"leaky_relu"`, `"rrelu"` or `"linear"` with its
            defaults, or an `ActivationSpec`.
        width: Layer width `m`.
        depth: Number of layers `L` (a positive integer).
        alpha: Stability index of the weights, in (0, 2]; 2 (Gaussian, the
            l_2 norm) by default.

    Returns:
        A `LogNormLimit`.

    Examples:
        >>> he = log_norm_limit(2.0, "relu", width=64, depth=100)
        >>> frac = log_norm_limit(1.0, "relu", width=64, depth=100)
        >>> round(frac.mean - he.mean, 2), round(he.std, 2)
        (0.99, 1.44)

    Reference:
        Gurbuzbalaban and Hu, AISTATS 2021 (log-normal limit theorem).
    """
    s, alpha, width, spec = stable_moments.validate(s, alpha, activation, width)
    law = spec.law
    depth = _checks.check_positive_int(depth, "depth")
    if alpha == 2.0:
        mean_log, var_log = moments.log_cumulants(law, width)
        drift = 0.5 * (moments.log_gain_for_law(s, law, width) - math.log(width) + mean_log)
        step_variance = 0.25 * var_log
    else:
        mean_log, var_log = stable_moments.log_cumulants(law, alpha, width)
        log_gain = stable_moments.log_gain_for_law(s, alpha, law, width)
        drift = (log_gain - math.log(width) + mean_log) / alpha
        step_variance = var_log / alpha**2
    return LogNormLimit(
        mean=float(depth * drift),
        variance=float(depth * step_variance),
        survival=float((1.0 - moments.dead_probability(law, width)) ** depth),
        drift=float(drift),
        step_variance=float(step_variance),
        width=width,
        depth=depth,
    )


def small_output_probability(
    s: float,
    activation: str | activation_lib.ActivationSpec | None = "relu",
    *,
    eps: float,
    width: int,
    depth: int,
    alpha: float = 2.0,
) -> float:
    """Predicted `P(||x_L|| <= eps ||x_0||)` under the s-moment scheme.

    The approximation: the central limit theorem for `log ||x_L||`, with its
    exact mean and variance from `log_norm_limit`, plus the exact probability
    that a layer killed the signal:

        P ~ (1 - survival) + survival * Phi((log eps - L mu) / sqrt(L v)).

    The Gaussian shape is the only approximation; it improves with depth.
    For `s < 2` the probability is smaller than He's because the weights are
    larger (the paper's claim).

    Args:
        s: Moment order of the scheme, in (0, 2].
        activation: `"relu"`, `"leaky_relu"`, `"rrelu"` or `"linear"` with its
            defaults, or an `ActivationSpec`.
        eps: Threshold on `||x_L|| / ||x_0||`, positive.
        width: Layer width `m`.
        depth: Number of layers `L`.
        alpha: Stability index of the weights, in (0, 2]; below 2 the norm
            is the l_alpha norm (see `log_norm_limit`).

    Returns:
        A probability (float).

    Examples:
        >>> p_he = small_output_probability(2.0, eps=0.1, width=64, depth=100)
        >>> p_frac = small_output_probability(1.0, eps=0.1, width=64, depth=100)
        >>> p_frac < p_he
        True

    Reference:
        Gurbuzbalaban and Hu, AISTATS 2021.
    """
    if isinstance(eps, bool) or not (isinstance(eps, numbers.Real) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"Argument `eps` must be a positive finite number. Received: eps={eps!r}")
    limit = log_norm_limit(s, activation, width=width, depth=depth, alpha=alpha)
    return float((1.0 - limit.survival) + limit.survival * limit.cdf(math.log(eps)))


def norm_factor_moment(
    q: float, s: float, activation: str | activation_lib.ActivationSpec | None = "relu", *, width: int
) -> float:
    """`E[M^q]` for the per-layer norm factor `M = ||x_k|| / ||x_{k-1}||`.

    `M = sigma sqrt(X_m)` with `sigma^2 = g_s(m) / m` (square layers, zero
    biases), so `E[M^q] = (g_s(m) / m)^(q/2) E[X_m^(q/2)]`, exact, for
    `0 < q <= 2`. By construction `E[M^s] = 1`: the Kesten tail index of the
    depth limit with biases.

    Args:
        q: Moment order, in (0, 2].
        s: Moment order of the scheme, in (0, 2].
        activation: `"relu"`, `"leaky_relu"`, `"rrelu"` or `"linear"` with its
            defaults, or an `ActivationSpec`.
        width: Layer width `m`.

    Returns:
        A float.

    Examples:
        >>> round(norm_factor_moment(1.0, 1.0, "relu", width=8), 12)
        1.0

    Reference:
        Gurbuzbalaban and Hu, AISTATS 2021.
    """
    return math.exp(_log_norm_factor_moment(q, s, activation, width))


def _log_norm_factor_moment(q, s, activation, width):
    # (q/2) (log g_s - log g_q): in logs, since g_q overflows for tiny q when
    # the dead-unit mass of ReLU enters as (1 - 2^-m)^(-2/q).
    s, width, spec = activation_lib.validate(s, activation, width)
    law = spec.law
    q = _checks.check_moment_order(q, "q")
    return 0.5 * q * (moments.log_gain_for_law(s, law, width) - moments.log_gain_for_law(q, law, width))


def kesten_tail_index(
    gain: float, activation: str | activation_lib.ActivationSpec | None = "relu", *, width: int
) -> float:
    """The tail index `kappa` of the depth limit with biases, for any Gaussian gain.

    Square layers of `width` units with weights `N(0, gain / width)` multiply
    the norm by `M = sqrt(gain / m * X_m)`; with biases the depth limit has a
    power tail of index `kappa`, the root of `E[M^kappa] = 1` (Kesten-Goldie):

        log E[M^q] = (q / 2) (log gain - log g_q(m)).

    The s-moment scheme's gain `g_s(m)` gives `kappa = s` exactly, the
    paper's origin of heavy tails; He's `g_2` gives 2. Solved numerically over
    (0, 2]; a gain at or below `g_2` has `kappa >= 2` (finite variance) and
    is reported as 2.

    Args:
        gain: The weight variance times the width, `sigma^2 m` (positive).
        activation: `"relu"`, `"leaky_relu"`, `"rrelu"` or `"linear"` with its
            defaults, or an `ActivationSpec`.
        width: Layer width `m`.

    Returns:
        `kappa` in (0, 2], a float.

    Raises:
        ValueError: if `E[log M] >= 0`: the norms grow without bound and
            there is no depth limit.

    Examples:
        >>> from keras_fracinit.theory import moment_gain
        >>> gain = moment_gain(0.7, "leaky_relu", width=16)
        >>> round(kesten_tail_index(gain, "leaky_relu", width=16), 8)
        0.7

    Reference:
        Kesten (1973); Goldie (1991); Gurbuzbalaban and Hu, AISTATS 2021.
    """
    if isinstance(gain, bool) or not isinstance(gain, numbers.Real) or not (0.0 < gain < math.inf):
        raise ValueError(f"Argument `gain` must be a positive finite number. Received: gain={gain!r}")
    _, width, spec = activation_lib.validate(1.0, activation, width)
    law = spec.law
    log_gain = math.log(gain)

    def log_moment(q):
        return 0.5 * q * (log_gain - moments.log_gain_for_law(q, law, width))

    # log E[M^q] is convex in q, 0 at q = 0 with slope E[log M].
    if log_moment(2.0) <= 0.0:
        return 2.0
    lowest = 1e-3
    if log_moment(lowest) >= 0.0:
        raise ValueError(
            f"No depth limit for gain={gain!r} at width={width}: E[log M] >= 0, "
            "so the norms grow without bound."
        )
    return optimize.brentq(log_moment, lowest, 2.0, xtol=1e-13, rtol=1e-13)
