"""`theory.stable_laplace`: one unit's Laplace transform under alpha-stable weights.

Checked against closed forms (Cauchy's psi through the sine and cosine
integrals, the Gaussian `(1 + 4t)^(-1/2)`), against the structure of the
activation class (ReLU, Leaky ReLU, dropout built from the linear psi) and
against Monte Carlo with an independent sampler (scipy's levy_stable).
"""

import math

import numpy as np
import pytest
from scipy import special
from scipy import stats

from keras_fracinit.theory import ActivationSpec
from keras_fracinit.theory import stable_laplace

pytestmark = pytest.mark.backend_independent

LINEAR = ActivationSpec("linear").law
RELU = ActivationSpec("relu").law


def _cauchy(t):
    """E exp(-t |z|), z standard Cauchy: (2/pi) [Ci(t) sin t + (pi/2 - Si(t)) cos t]."""
    si, ci = special.sici(t)
    return 2.0 / math.pi * (ci * np.sin(t) + (0.5 * math.pi - si) * np.cos(t))


def test_cauchy_closed_form():
    t = np.logspace(-3, 12, 61)
    np.testing.assert_allclose(stable_laplace.laplace(t, LINEAR, 1.0), _cauchy(t), rtol=0, atol=3e-15)


def test_small_t_end_keeps_its_relative_precision():
    # Cauchy: 1 - psi = (2/pi) t (log(1/t) + 1 - gamma) + O(t^2 log t): the coefficients
    # A and B exactly, and 1 - psi itself to 1e-14 where the O(t^2) term is below that.
    a, b = stable_laplace.small_time_coefficients(LINEAR, 1.0)
    assert a == pytest.approx(2.0 / math.pi, rel=1e-14)
    assert b == pytest.approx(2.0 / math.pi * (1.0 - np.euler_gamma), rel=1e-13)
    t = np.logspace(-300, -14, 30)
    small, minus_one, _ = stable_laplace.laplace_parts(t, LINEAR, 1.0)
    assert small.all()
    np.testing.assert_allclose(-minus_one, a * t * np.log(1.0 / t) + b * t, rtol=1e-14)


def test_gaussian_at_alpha_two():
    # SaS(1) at alpha = 2 is N(0, 2): E exp(-t z^2) = (1 + 4t)^(-1/2)
    t = np.logspace(-200, 30, 47)
    exact_minus_one = np.expm1(-0.5 * np.log1p(4.0 * t))
    small, minus_one, excess = stable_laplace.laplace_parts(t, LINEAR, 2.0)
    # A = 0 here is known to about 1e-16 only, and enters times log(1/t) (460 at t = 1e-200)
    np.testing.assert_allclose(minus_one[small], exact_minus_one[small], rtol=1e-12)
    np.testing.assert_allclose(excess[~small], 1.0 + exact_minus_one[~small], rtol=0, atol=3e-15)
    a, b = stable_laplace.small_time_coefficients(RELU, 2.0)
    assert abs(a) < 1e-14 and b == pytest.approx(1.0, rel=1e-14)  # E[relu(z)^2] = 1


@pytest.mark.parametrize("alpha", [0.6, 1.3, 1.8])
def test_the_activation_class_is_built_from_the_linear_transform(alpha):
    t = np.logspace(-6, 6, 25)
    linear = stable_laplace.laplace(t, LINEAR, alpha)
    np.testing.assert_allclose(stable_laplace.laplace(t, RELU, alpha), 0.5 + 0.5 * linear, atol=3e-15)
    leaky = ActivationSpec("leaky_relu", negative_slope=0.3).law
    scaled = stable_laplace.laplace(0.3**alpha * t, LINEAR, alpha)
    np.testing.assert_allclose(stable_laplace.laplace(t, leaky, alpha), 0.5 * (linear + scaled), atol=3e-15)
    dropped = ActivationSpec("relu", dropout=0.4).law
    kept = stable_laplace.laplace(t / 0.6**alpha, RELU, alpha)
    np.testing.assert_allclose(stable_laplace.laplace(t, dropped, alpha), 0.4 + 0.6 * kept, atol=3e-15)


def test_randomized_slope_is_the_average_over_the_slope():
    alpha, t = 1.4, np.logspace(-4, 4, 9)
    rrelu = ActivationSpec("rrelu", lower=0.1, upper=0.5).law
    nodes, weights = np.polynomial.legendre.leggauss(60)
    slopes = 0.3 + 0.2 * nodes
    average = sum(
        w / 2 * stable_laplace.laplace(a**alpha * t, LINEAR, alpha) for a, w in zip(slopes, weights)
    )
    expected = 0.5 * stable_laplace.laplace(t, LINEAR, alpha) + 0.5 * average
    np.testing.assert_allclose(stable_laplace.laplace(t, rrelu, alpha), expected, atol=1e-14)


def test_monte_carlo_with_an_independent_sampler():
    alpha, n = 1.5, 200_000
    z = stats.levy_stable.rvs(alpha, 0.0, size=n, random_state=np.random.default_rng(7))
    y = np.maximum(z, 0.0) ** alpha
    for t in (0.01, 0.3, 5.0):
        draws = np.exp(-t * y)
        bound = 4.5 * draws.std() / math.sqrt(n)  # two-sided, far below 1e-4 per check
        assert abs(draws.mean() - stable_laplace.laplace(np.array([t]), RELU, alpha)[0]) < bound
