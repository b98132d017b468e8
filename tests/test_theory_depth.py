"""Depth predictions: exact log cumulants, small outputs, Kesten tail index."""

import math

import mpmath as mp
import numpy as np
import pytest
from scipy import special
from scipy import stats

from keras_fracinit.theory import activation as activation_lib
from keras_fracinit.theory import kesten_tail_index
from keras_fracinit.theory import log_norm_limit
from keras_fracinit.theory import moment_gain
from keras_fracinit.theory import moments
from keras_fracinit.theory import norm_factor_moment
from keras_fracinit.theory import small_output_probability

pytestmark = pytest.mark.backend_independent

WIDTHS = [1, 2, 5, 64, 1000, 100_000]


def _binomial_weights(m, survive=True):
    k = np.arange(1 if survive else 0, m + 1)
    w = stats.binom.pmf(k, m, 0.5)
    return k, w / w.sum()


@pytest.mark.parametrize("width", WIDTHS)
def test_linear_log_cumulants_are_digamma_trigamma(width):
    mean, var = moments.log_cumulants(activation_lib.ActivationSpec("linear").law, width)
    assert mean == pytest.approx(special.digamma(width / 2) + math.log(2), abs=1e-13)
    assert var == pytest.approx(special.polygamma(1, width / 2), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("width", WIDTHS)
def test_relu_log_cumulants_are_binomial_digamma_mixtures(width):
    k, w = _binomial_weights(width)
    digamma = special.digamma(k / 2)
    expected_mean = np.dot(w, digamma) + math.log(2)
    expected_var = np.dot(w, special.polygamma(1, k / 2)) + np.dot(w, (digamma - np.dot(w, digamma)) ** 2)
    mean, var = moments.log_cumulants(activation_lib.ActivationSpec("relu").law, width)
    assert mean == pytest.approx(expected_mean, abs=1e-12)
    assert var == pytest.approx(expected_var, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("width", [1, 3, 16])
@pytest.mark.parametrize("slope", [0.01, 0.3])
def test_leaky_log_cumulants_match_beta_mixture_quadrature(width, slope):
    # log X = log chi^2_m + log(1 - (1 - a^2) G), G ~ Beta((m-k)/2, k/2)
    # given k positive units; the two terms are independent.
    mp.mp.dps = 30
    c = 1 - mp.mpf(slope) ** 2

    def beta_log_moments(k):
        if k == width:
            return mp.mpf(0), mp.mpf(0)
        if k == 0:
            value = mp.log(1 - c)
            return value, value**2
        a, b = mp.mpf(width - k) / 2, mp.mpf(k) / 2
        density = lambda g: g ** (a - 1) * (1 - g) ** (b - 1) / mp.beta(a, b)  # noqa: E731
        first = mp.quad(lambda g: mp.log(1 - c * g) * density(g), [0, 0.5, 1])
        second = mp.quad(lambda g: mp.log(1 - c * g) ** 2 * density(g), [0, 0.5, 1])
        return first, second

    moments_by_k = [beta_log_moments(k) for k in range(width + 1)]
    weights = [mp.binomial(width, k) / mp.mpf(2) ** width for k in range(width + 1)]
    first = mp.fsum(w * m1 for w, (m1, _) in zip(weights, moments_by_k))
    second = mp.fsum(w * m2 for w, (_, m2) in zip(weights, moments_by_k))
    expected_mean = special.digamma(width / 2) + math.log(2) + float(first)
    expected_var = special.polygamma(1, width / 2) + float(second - first**2)
    law = activation_lib.ActivationSpec("leaky_relu", negative_slope=slope).law
    mean, var = moments.log_cumulants(law, width)
    assert mean == pytest.approx(expected_mean, abs=1e-12)
    assert var == pytest.approx(expected_var, rel=1e-10)


@pytest.mark.parametrize("s", [0.5, 1.0, 2.0])
def test_log_norm_limit_is_depth_times_per_layer_law(s):
    width, depth = 64, 100
    law = activation_lib.ActivationSpec("relu").law
    mean_log, var_log = moments.log_cumulants(law, width)
    limit = log_norm_limit(s, "relu", width=width, depth=depth)
    drift = 0.5 * (math.log(moment_gain(s, width=width) / width) + mean_log)
    assert limit.mean == pytest.approx(depth * drift, rel=1e-14)
    assert limit.variance == pytest.approx(depth * var_log / 4, rel=1e-14)
    assert limit.std == pytest.approx(math.sqrt(limit.variance))


def test_theory_example_relu_64_100():
    # docs/theory.md, the log-normal limit: about +1.0 higher for s = 1 than He, sd ~ 1.4.
    he = log_norm_limit(2.0, "relu", width=64, depth=100)
    frac = log_norm_limit(1.0, "relu", width=64, depth=100)
    # The mean differs only by the log of the variance: L/2 log(g_1(64) / g_2(64)).
    assert frac.mean - he.mean == pytest.approx(50 * math.log(moment_gain(1.0, width=64) / 2.0), rel=1e-12)
    assert frac.mean - he.mean == pytest.approx(1.0, abs=0.05)  # the figure docs/theory.md quotes
    # sd = sqrt(L Var log X / 4), Var log X from the binomial mixture of trigammas and digammas.
    k, w = _binomial_weights(64)
    var_log = (
        w @ special.polygamma(1, k / 2) + w @ special.digamma(k / 2) ** 2 - (w @ special.digamma(k / 2)) ** 2
    )
    assert he.std == pytest.approx(math.sqrt(100 * var_log / 4), rel=1e-9) and frac.std == he.std
    assert he.std == pytest.approx(1.44, abs=0.01)  # the figure docs/theory.md quotes


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "rrelu", "linear"])
@pytest.mark.parametrize("width", [2, 8, 64])
def test_drift_is_negative_and_rises_as_s_falls(activation, width):
    drifts = [log_norm_limit(s, activation, width=width, depth=1).drift for s in (2.0, 1.5, 1.0, 0.5)]
    assert drifts[0] < 0
    assert np.all(np.diff(drifts) > 0)
    if activation != "relu" or width > 2:
        assert all(d < 0 for d in drifts)


def test_tiny_relu_layers_grow_surviving_signals():
    # Jensen gives mu <= 0 only without dead mass: at width 2 the exact gain
    # compensates the 1/4 chance of a dead layer, so survivors grow.
    limit = log_norm_limit(0.5, "relu", width=2, depth=1)
    assert limit.drift > 0 and limit.survival == 0.75


def test_relu_survival_counts_dead_layers():
    limit = log_norm_limit(1.0, "relu", width=3, depth=10)
    assert limit.survival == pytest.approx((1 - 2.0**-3) ** 10)
    assert log_norm_limit(1.0, "leaky_relu", width=3, depth=10).survival == 1.0


def test_small_output_probability_formula_and_paper_claim():
    eps, width, depth = 0.1, 8, 50
    for s in (0.5, 1.0, 2.0):
        limit = log_norm_limit(s, width=width, depth=depth)
        expected = (1 - limit.survival) + limit.survival * stats.norm.cdf(
            math.log(eps), limit.mean, limit.std
        )
        assert small_output_probability(s, eps=eps, width=width, depth=depth) == pytest.approx(
            expected, rel=1e-12
        )
    probabilities = [small_output_probability(s, eps=eps, width=64, depth=100) for s in (2.0, 1.5, 1.0, 0.5)]
    assert np.all(np.diff(probabilities) < 0)


@pytest.mark.parametrize("eps", [0, -1.0, math.nan, "0.1"])
def test_small_output_probability_rejects_bad_eps(eps):
    with pytest.raises(ValueError, match="Argument `eps`"):
        small_output_probability(1.0, eps=eps, width=8, depth=3)


@pytest.mark.parametrize("depth", [0, 2.5])
def test_depth_must_be_positive_integer(depth):
    with pytest.raises(ValueError, match="Argument `depth`"):
        log_norm_limit(1.0, width=8, depth=depth)


@pytest.mark.parametrize(
    "activation, kwargs",
    [("relu", {}), ("leaky_relu", {"negative_slope": 0.1}), ("rrelu", {}), ("linear", {})],
)
@pytest.mark.parametrize("s", [0.5, 1.0, 1.7])
def test_norm_factor_has_unit_s_moment_and_tail_index_s(activation, kwargs, s):
    spec = activation_lib.ActivationSpec(activation, **kwargs)
    for width in (2, 16, 256):
        assert norm_factor_moment(s, s, spec, width=width) == pytest.approx(1.0, rel=1e-12)
        assert norm_factor_moment(2.0, s, spec, width=width) > 1.0
        gain = moment_gain(s, spec, width=width)
        assert kesten_tail_index(gain, spec, width=width) == pytest.approx(s, abs=1e-9)


def test_he_factor_has_unit_second_moment():
    assert kesten_tail_index(2.0, width=8) == 2.0  # He's gain
    assert kesten_tail_index(1.5, width=8) == 2.0  # below He: finite variance
    assert norm_factor_moment(2.0, 2.0, width=8) == pytest.approx(1.0, rel=1e-15)


def test_tail_index_falls_as_the_gain_grows_and_vanishes_without_a_limit():
    gains = [moment_gain(s, width=8) for s in (1.8, 1.0, 0.3)]
    indices = [kesten_tail_index(g, width=8) for g in gains]
    assert indices == pytest.approx([1.8, 1.0, 0.3], abs=1e-9)
    # ReLU's dead-layer mass (2^-8 per layer) resets the recursion: some tail
    # index exists for any gain. Linear layers never die: a large gain diverges.
    assert 0.0 < kesten_tail_index(100.0, width=8) < 0.3
    with pytest.raises(ValueError, match="No depth limit for gain=100"):
        kesten_tail_index(100.0, "linear", width=8)
    with pytest.raises(ValueError, match="Argument `gain` must be a positive finite number"):
        kesten_tail_index(-1.0, width=8)
