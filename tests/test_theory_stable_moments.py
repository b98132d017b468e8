"""`theory.stable_moments`: the exact s-moment gain of alpha-stable weights.

Independent checks: the alpha = 2 identity (the Mellin-Barnes route against
the Gaussian code, two methods that share nothing), closed forms at width 1,
a second quadrature (`make_reference_stable_gains.py`, stored), Monte Carlo
with an independent sampler, and the depth theory against `simulate`.
"""

import json
import math
import pathlib

import numpy as np
import pytest
from scipy import special
from scipy import stats

from keras_fracinit import initializers
from keras_fracinit import simulate
from keras_fracinit.theory import ActivationSpec
from keras_fracinit.theory import log_norm_limit
from keras_fracinit.theory import moment_gain
from keras_fracinit.theory import small_output_probability
from keras_fracinit.theory import stable_laplace
from keras_fracinit.theory import stable_moment_gain
from keras_fracinit.theory import stable_moments

pytestmark = pytest.mark.backend_independent

REFERENCES = pathlib.Path(__file__).parent / "data" / "reference_stable_gains.json"
ACTIVATIONS = [
    ActivationSpec("relu"),
    ActivationSpec("linear"),
    ActivationSpec("leaky_relu", negative_slope=0.2),
    ActivationSpec("rrelu"),
    ActivationSpec("relu", dropout=0.3),
]


def _mellin_barnes_gain(s, alpha, spec, width):
    p = s / alpha
    return math.exp(math.log(width) - stable_moments.log_moment(p, spec.law, alpha, width) / p)


@pytest.mark.parametrize("spec", ACTIVATIONS, ids=repr)
@pytest.mark.parametrize("width", [1, 2, 7, 64, 1000, 10**6])
def test_alpha_two_identity(spec, width):
    for s in (0.05, 0.8, 1.5, 1.99):
        expected = moment_gain(s, spec, width=width) / 2.0
        assert _mellin_barnes_gain(s, 2.0, spec, width) == pytest.approx(expected, rel=1e-12)
        assert stable_moment_gain(s, 2.0, spec, width=width) == expected


def _abs_moment(s, alpha):
    """E|z|^s, z ~ SaS(1): 2^s Gamma((1+s)/2) Gamma(1 - s/alpha) / (Gamma(1 - s/2) sqrt(pi))."""
    return (
        2**s
        * special.gamma((1 + s) / 2)
        * special.gamma(1 - s / alpha)
        / (special.gamma(1 - s / 2) * math.sqrt(math.pi))
    )


@pytest.mark.parametrize("alpha", [0.3, 0.9, 1.0, 1.5, 1.95])
def test_width_one_closed_forms(alpha):
    # one unit: Y^s = |phi(z)|^s xi / q^s, so E Y^s = q^(1-s) (1 + E[A^s]) / 2 * E|z|^s
    for s in (0.05 * alpha, 0.5 * alpha, 0.97 * alpha):
        for spec in ACTIVATIONS:
            law = spec.law
            if law.lower == law.upper:
                slope_moment = law.lower**s
            else:
                slope_moment = (law.upper ** (s + 1) - law.lower ** (s + 1)) / (
                    (s + 1) * (law.upper - law.lower)
                )
            moment = law.keep ** (1 - s) * 0.5 * (1 + slope_moment) * _abs_moment(s, alpha)
            expected = moment ** (-alpha / s)
            assert stable_moment_gain(s, alpha, spec, width=1) == pytest.approx(expected, rel=1e-11), (
                s,
                spec,
            )


def test_second_quadrature():
    rows = json.loads(REFERENCES.read_text())["rows"]
    assert len(rows) >= 5
    for row in rows:
        spec = ActivationSpec(row["activation"], **row["kwargs"])
        got = stable_moment_gain(row["s"], row["alpha"], spec, width=row["width"])
        assert got == pytest.approx(row["gain"], rel=max(row["tolerance"], 1e-9)), row


@pytest.mark.parametrize("width", [64, 10**4, 10**6])
def test_outer_integral_without_the_subtraction(width):
    # The moment integral taken as it stands: trapezoid in log t over [-140, 80] around the bend,
    # step 0.02, the far right end in closed form; no subtracted function, other nodes.
    alpha, s = 1.5, 0.8
    p, law = s / alpha, ActivationSpec("relu").law
    u = np.arange(-140.0, 80.0 + 0.01, 0.02) + math.log(stable_moments.sum_law(law, alpha, width).scale)
    small, minus_one, excess = stable_laplace.laplace_parts(np.exp(u), law, alpha)
    one_minus = np.empty_like(u)
    one_minus[small] = -np.expm1(width * np.log1p(minus_one[small]))
    one_minus[~small] = 1.0 - (law.dead_unit_probability + excess[~small]) ** width
    weights = np.full(u.shape, 0.02)
    weights[[0, -1]] = 0.01
    integral = np.dot(weights, one_minus * np.exp(-p * u)) + math.exp(-p * u[-1]) / p
    gain = width * (p / special.gamma(1 - p) * integral) ** (-1 / p)
    assert stable_moment_gain(s, alpha, "relu", width=width) == pytest.approx(gain, rel=1e-10)


def test_monte_carlo_with_an_independent_sampler():
    # E f^s = 1 for the per-unit size factor f = (G/m)^(1/alpha) S^(1/alpha); f^s has a finite
    # variance because 2 s < alpha, so the bound is a plain 4.5-sigma interval.
    alpha, s, width, n = 1.5, 0.5, 8, 100_000
    z = stats.levy_stable.rvs(alpha, 0.0, size=(n, width), random_state=np.random.default_rng(3))
    total = (np.maximum(z, 0.0) ** alpha).sum(axis=1)
    gain = stable_moment_gain(s, alpha, "relu", width=width)
    draws = (gain / width * total) ** (s / alpha)
    assert abs(draws.mean() - 1.0) < 4.5 * draws.std() / math.sqrt(n)


def test_gain_shrinks_like_one_over_log_width():
    gains = [stable_moment_gain(0.8, 1.5, "relu", width=m) for m in (10, 10**3, 10**6)]
    assert gains[0] > gains[1] > gains[2] > 0
    # G log m stays within a factor 2 over five decades (Favaro et al.'s (m log m)^(-1/alpha))
    scaled = [g * math.log(m) for g, m in zip(gains, (10, 10**3, 10**6))]
    assert max(scaled) / min(scaled) < 2.0


def test_extreme_orders_stay_finite_and_continuous():
    low = [stable_moment_gain(s, 1.2, "relu", width=64) for s in (1e-4, 2e-4)]
    assert low[0] == pytest.approx(low[1], rel=1e-3)
    high = stable_moment_gain(1.2 - 1e-9, 1.2, "linear", width=64)
    assert 0 < high < stable_moment_gain(1.0, 1.2, "linear", width=64)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"s": 1.5, "alpha": 1.5}, "Argument `s` must be below `alpha`"),
        ({"s": 1.8, "alpha": 1.5}, "Received: s=1.8 and alpha=1.5"),
        ({"s": 0.5, "alpha": 2.5}, "Argument `alpha` must be in (0, 2]"),
        ({"s": 0.5, "alpha": 0.0}, "Argument `alpha` must be in (0, 2]"),
        ({"s": 2.5, "alpha": 2.0}, "Argument `s` must be in (0, 2]"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        stable_moment_gain(**kwargs, width=4)


def test_alpha_two_allows_s_two():
    assert stable_moment_gain(2.0, 2.0, "relu", width=5) == 1.0  # He: 2 sigma^2 = 2 / fan


def test_depth_theory_table():
    # The drift and spread of the per-layer log size factor, ReLU, width 64 (spec's table).
    for alpha, s, drift, sd in [(1.8, 0.8, -0.057, 0.32), (1.5, 0.8, -0.149, 0.49), (1.5, 0.3, -0.041, 0.49)]:
        limit = log_norm_limit(s, "relu", width=64, depth=1, alpha=alpha)
        assert limit.drift == pytest.approx(drift, abs=6e-4)
        assert limit.std == pytest.approx(sd, abs=6e-3)


def test_depth_theory_against_simulation():
    alpha, s, width, depth, networks = 1.5, 0.8, 32, 12, 6000
    init = initializers.FractionalMomentStable(s, alpha)
    sim = simulate.propagate(init, {"width": width, "depth": depth}, networks=networks, seed=5)
    assert sim.norm_order == alpha
    log_ratio = np.log(sim.sizes[:, -1] / sim.sizes[:, 0])
    limit = log_norm_limit(s, "relu", width=width, depth=depth, alpha=alpha)
    # the mean of a sum of independent per-layer logs is exact; its spread is sqrt(L v)
    assert abs(log_ratio.mean() - limit.mean) < 4.5 * limit.std / math.sqrt(networks)
    assert log_ratio.std() == pytest.approx(limit.std, rel=0.05)
    predicted = small_output_probability(s, eps=0.2, width=width, depth=depth, alpha=alpha)
    measured = np.mean(log_ratio <= math.log(0.2))
    # The Gaussian shape is the only approximation: Berry-Esseen (constant 0.4748, Shevtsova
    # 2011) bounds it by the per-layer third absolute moment, plus the sampling error.
    steps = np.log(sim.sizes[:, 1:] / sim.sizes[:, :-1]).ravel()
    third = np.mean(np.abs(steps - steps.mean()) ** 3)
    shape = 0.4748 * third / (limit.step_variance**1.5 * math.sqrt(depth))
    sampling = 4.5 * math.sqrt(predicted * (1 - predicted) / networks)
    assert abs(measured - predicted) < shape + sampling


def test_s_moment_is_preserved_layer_by_layer_in_simulation():
    # s = 0.5 < alpha / 2: the per-layer factor f^s has a finite variance, so each layer's
    # mean over the networks gets a plain 4.5-sigma bound (12 layers, ~1e-4 false alarms)
    alpha, s, width, depth, networks = 1.5, 0.5, 32, 12, 6000
    init = initializers.FractionalMomentStable(s, alpha, "leaky_relu", negative_slope=0.1)
    sim = simulate.propagate(init, {"width": width, "depth": depth}, networks=networks, seed=9)
    factors = (sim.sizes[:, 1:] / sim.sizes[:, :-1]) ** s
    bound = 4.5 * factors.std(axis=0) / math.sqrt(networks)
    assert np.all(np.abs(factors.mean(axis=0) - 1.0) < bound)
    np.testing.assert_allclose(sim.s_moments(s)[1], factors[:, 0].mean())
    # and through depth: (r_L / r_0)^s is a product of independent factors of mean 1, whose
    # variance stays finite (E f^(2s) < inf for 2s < alpha)
    through = (sim.sizes[:, -1] / sim.sizes[:, 0]) ** s
    assert abs(sim.s_moments(s)[-1] - 1.0) < 4.5 * through.std() / math.sqrt(networks)
