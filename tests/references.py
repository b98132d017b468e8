"""Independent high-precision references for the s-moment gain (mpmath).

These use formulas other than the package's Laplace-transform quadrature:
gamma-function closed forms and binomial mixtures (docs/theory.md),
the Gauss hypergeometric series for Leaky ReLU, and for randomized Leaky ReLU
mpmath's own adaptive quadrature at 60 digits. Only the terms of a binomial
mixture within 9 standard deviations of its mean are summed: the rest weigh
less than 1e-17 together.
"""

import math

import mpmath as mp

mp.mp.dps = 40


def _binomial_window(m, prob):
    mean = m * prob
    sd = math.sqrt(m * prob * (1.0 - prob))
    lo = max(0, int(mean - 9.0 * sd - 10))
    hi = min(m, int(mean + 9.0 * sd + 10))
    return range(lo, hi + 1)


def _log_binomial_pmf(m, k, prob):
    return (
        mp.loggamma(m + 1)
        - mp.loggamma(k + 1)
        - mp.loggamma(m - k + 1)
        + k * mp.log(prob)
        + (m - k) * mp.log(1 - prob)
    )


def chi_square_moment(k, p):
    """E[(chi^2_k)^p] = 2^p Gamma(k/2 + p) / Gamma(k/2); 0 for k = 0."""
    if k == 0:
        return mp.mpf(0)
    half = mp.mpf(k) / 2
    return 2**p * mp.exp(mp.loggamma(half + p) - mp.loggamma(half))


def _hyp2f1(a, b, c, z):
    """2F1(a, b; c; z) for 0 <= z < 1 to 40 digits.

    mpmath's own hyp2f1 (with its transformations near z = 1) for moderate
    parameters; the plain Gauss series for large ones, where mpmath gives up
    and the series converges fast because b/c is near 1/2 in the window.
    """
    if c <= 5000:
        return mp.hyp2f1(a, b, c, z)
    term, total, n = mp.mpf(1), mp.mpf(1), 0
    while True:
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        total += term
        n += 1
        if abs(term) < mp.mpf(10) ** -38 * abs(total) and n > 5:
            return total


def leaky_moment(m, p, slope):
    """E[X_m^p] for Leaky ReLU: chi^2_m moment times a binomial mixture of 2F1.

    Given B = k positive units, X = chi^2_m (1 - (1 - a^2) G) with
    G ~ Beta((m - k)/2, k/2), so E[X^p | k] = E[(chi^2_m)^p]
    2F1(-p, (m - k)/2; m/2; 1 - a^2). With a = 0 (ReLU) the conditional
    moment is the chi^2_k moment instead, used directly below.
    """
    p = mp.mpf(p)
    half = mp.mpf(1) / 2
    if slope == 0:
        return mp.fsum(
            mp.exp(_log_binomial_pmf(m, k, half)) * chi_square_moment(k, p)
            for k in _binomial_window(m, 0.5)
            if k > 0
        )
    z = 1 - mp.mpf(slope) ** 2
    mixture = mp.fsum(
        mp.exp(_log_binomial_pmf(m, k, half)) * _hyp2f1(-p, mp.mpf(m - k) / 2, mp.mpf(m) / 2, z)
        for k in _binomial_window(m, 0.5)
    )
    return chi_square_moment(m, p) * mixture


def laplace_moment(m, p, lower, upper, keep=1.0):
    """E[X_m^p] by 60-digit adaptive quadrature of the Laplace-transform formula.

    E[X^p] = p / Gamma(1 - p) int_0^inf (1 - L(t)) t^(-p-1) dt, with the
    t^(-p) end below 1e-30 / E[X] and the constant 1 - L(inf) beyond
    1 / E[X] integrated in closed form.
    """
    with mp.workdps(60):
        p, lo, hi, q = (mp.mpf(v) for v in (p, lower, upper, keep))

        def psi(t):
            t = t / q**2
            if lo == hi:
                slopes = 1 / mp.sqrt(1 + 2 * lo * lo * t)
            else:
                x = mp.sqrt(2 * t)
                slopes = (mp.asinh(hi * x) - mp.asinh(lo * x)) / ((hi - lo) * x)
            return (1 - q) + q * (1 / mp.sqrt(1 + 2 * t) + slopes) / 2

        mean = m * (1 + (lo * lo + lo * hi + hi * hi) / 3) / (2 * q)
        dead = ((1 - q) + q * (mp.mpf(1) / 2 if hi == 0 else 0)) ** m
        eps = mp.mpf(10) ** -30 / mean
        scale = 1 / mean
        near = mp.quad(
            lambda t: (1 - psi(t) ** m) * t ** (-p - 1),
            [eps] + [mp.mpf(10) ** k / mean for k in range(-20, 1, 2)],
        )
        far = mp.quad(
            lambda t: (dead - psi(t) ** m) * t ** (-p - 1),
            [scale * mp.mpf(10) ** k for k in range(0, 40, 3)] + [mp.inf],
        )
        integral = mean * eps ** (1 - p) / (1 - p) + near + (1 - dead) * scale ** (-p) / p + far
        return p / mp.gamma(1 - p) * integral


def gain_from_moment(m, p, moment):
    """g = m E[X^p]^(-1/p), as a float."""
    return float(m * moment ** (-1 / mp.mpf(p)))
