"""Monte-Carlo checks of the theory through `keras_fracinit.simulate`."""

import math

import keras
import numpy as np
import pytest
from helpers import ks_critical_value
from scipy import stats

from keras_fracinit import FractionalMomentNormal
from keras_fracinit import FractionalMomentStable
from keras_fracinit import FractionalMomentUniform
from keras_fracinit import simulate
from keras_fracinit.theory import log_norm_limit
from keras_fracinit.theory import small_output_probability

pytestmark = pytest.mark.backend_independent

ACTIVATIONS = [
    ("relu", {}),
    ("leaky_relu", {}),
    ("rrelu", {}),
    ("linear", {}),
    ("relu", {"dropout": 0.2}),
]


def _within(mean, samples, z=4.0):
    """|sample mean - mean| <= z standard errors (z = 4: two-sided 6e-5)."""
    se = samples.std(ddof=1) / math.sqrt(samples.size)
    return abs(samples.mean() - mean) <= z * se


@pytest.mark.parametrize("activation, kwargs", ACTIVATIONS)
@pytest.mark.parametrize("width", [2, 8, 64, 512])
def test_every_layer_preserves_the_s_moment_over_100_layers(activation, kwargs, width):
    # E[(r_k / r_{k-1})^s] = 1 for every layer, and the 100 factors are
    # independent, so all 100 * networks factors enter one mean.
    s = 0.8
    sim = simulate.propagate(
        FractionalMomentNormal(s, activation, **kwargs),
        {"width": width, "depth": 100},
        networks=max(200, 100_000 // width),
        seed=width,
    )
    rms = sim.rms
    alive = rms[:, :-1] > 0  # a dead signal stays dead: its factors are moot
    factors = (rms[:, 1:][alive] / rms[:, :-1][alive]) ** s
    assert _within(1.0, factors)


@pytest.mark.parametrize("activation, kwargs", ACTIVATIONS)
def test_non_square_stack_preserves_the_s_moment(activation, kwargs):
    s = 1.2
    widths = [32, 4, 64, 2, 16, 128, 8] * 3
    sim = simulate.propagate(
        FractionalMomentNormal(s, activation, **kwargs),
        widths,
        networks=20_000,
        seed=1,
    )
    rms = sim.rms
    alive = rms[:, :-1] > 0
    factors = (rms[:, 1:][alive] / rms[:, :-1][alive]) ** s
    assert _within(1.0, factors)
    # cumulative over the first six layers, where the variance is moderate
    assert _within(1.0, (rms[:, 6] / rms[:, 0]) ** s)


@pytest.mark.parametrize("width", [64, 512])
@pytest.mark.parametrize("s", [0.5, 1.0, 1.5])
def test_cumulative_s_moment_after_100_layers(width, s):
    # the spread of r_L^s shrinks like 1/width: fewer networks suffice
    networks = 20_000 * 64 // width
    sim = simulate.propagate(
        FractionalMomentNormal(s), {"width": width, "depth": 100}, networks=networks, seed=3
    )
    assert _within(1.0, (sim.rms[:, -1] / sim.rms[:, 0]) ** s)
    # He loses it: the same statistic falls clearly below 1.
    he = simulate.propagate(
        FractionalMomentNormal(2.0), {"width": width, "depth": 100}, networks=networks, seed=3
    )
    he_moment = (he.rms[:, -1] / he.rms[:, 0]) ** s
    se = he_moment.std(ddof=1) / math.sqrt(he_moment.size)
    assert he_moment.mean() < 1.0 - 4 * se


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "linear"])
@pytest.mark.parametrize("s", [1.0, 2.0])
def test_log_norm_at_depth_50_is_the_predicted_gaussian(activation, s):
    width, depth, networks = 64, 50, 5000
    sim = simulate.propagate(
        FractionalMomentNormal(s, activation),
        {"width": width, "depth": depth},
        activation=activation,
        networks=networks,
        seed=11,
    )
    limit = log_norm_limit(s, activation, width=width, depth=depth)
    samples = sim.log_norm_ratio()
    statistic = stats.kstest(samples, stats.norm(limit.mean, limit.std).cdf).statistic
    assert statistic < ks_critical_value(networks)
    # power: He's prediction is rejected for s = 1 samples, and vice versa
    other = log_norm_limit(3.0 - s, activation, width=width, depth=depth)
    wrong = stats.kstest(samples, stats.norm(other.mean, other.std).cdf).statistic
    assert wrong > ks_critical_value(networks)


def test_small_outputs_match_prediction_and_are_rarer_than_he():
    width, depth, eps, networks = 64, 100, 0.1, 20_000
    observed = {}
    for s in (2.0, 1.0, 0.5):
        sim = simulate.propagate(
            FractionalMomentNormal(s),
            {"width": width, "depth": depth},
            networks=networks,
            seed=5,
        )
        hits = sim.norms[:, -1] <= eps * sim.norms[:, 0]
        predicted = small_output_probability(s, eps=eps, width=width, depth=depth)
        se = math.sqrt(predicted * (1 - predicted) / networks)
        assert abs(hits.mean() - predicted) <= 4 * se, (s, hits.mean(), predicted)
        observed[s] = hits.mean()
    # the paper's claim, on numbers (roughly 0.42 for He, 0.19, 0.12): each
    # smaller s is rarer, by more than 4 standard errors of the difference.
    for larger, smaller in ((2.0, 1.0), (1.0, 0.5)):
        p, q = observed[larger], observed[smaller]
        se_difference = math.sqrt((p * (1 - p) + q * (1 - q)) / networks)
        assert p - q > 4 * se_difference, (larger, smaller)


@pytest.mark.parametrize("activation, s, width", [("relu", 1.0, 4), ("leaky_relu", 1.5, 8)])
def test_depth_limit_with_biases_has_tail_index_s(activation, s, width):
    # Kesten-Goldie: P(||x_inf|| > t) ~ C t^-s. Hill estimator on the top k
    # of 50,000 draws of x_200 (sd of the estimate ~ s / sqrt(k)).
    k = 1000
    sim = simulate.propagate(
        FractionalMomentNormal(s, activation),
        {"width": width, "depth": 200},
        activation=activation,
        networks=50_000,
        bias_stddev=1.0,
        inputs=np.zeros(width),
        seed=2,
    )
    tail = np.sort(sim.norms[:, -1])[::-1]
    hill = 1.0 / np.mean(np.log(tail[:k] / tail[k]))
    assert abs(hill - s) < 5 * s / math.sqrt(k)


def test_keras_initializers_are_simulated_with_their_own_law():
    shape = (64, 64)
    for name, kind in [
        ("he_normal", "truncated_normal"),
        ("glorot_uniform", "uniform"),
        ("lecun_normal", "truncated_normal"),
    ]:
        init = keras.initializers.get(name)
        law, scale = simulate._weight_law(init, shape)
        assert law == kind
        drawn = simulate._draw_matrices(law, scale, (200,) + shape, np.random.default_rng(0))
        # the variance Keras targets: scale / fan
        expected_var = {"he_normal": 2 / 64, "glorot_uniform": 1 / 64, "lecun_normal": 1 / 64}[name]
        assert drawn.var() == pytest.approx(expected_var, rel=0.01)
        assert np.abs(drawn).max() <= (2 * scale if law == "truncated_normal" else scale) * (1 + 1e-6)
    assert simulate._weight_law(FractionalMomentUniform(1.0), shape)[0] == "uniform"
    assert simulate._weight_law(keras.initializers.RandomNormal(stddev=0.1), shape) == ("normal", 0.1)


def test_he_normal_truncated_keeps_the_second_moment_exactly():
    # Keras' HeNormal is truncated but variance-matched, and symmetric: then
    # E[relu(z)^2] = Var(z) / 2 whatever the law of z, so every layer's
    # squared RMS factor has mean exactly 1 (the truncated-matrix path).
    truncated = simulate.propagate("he_normal", {"width": 16, "depth": 10}, networks=2000, seed=0)
    rms = truncated.rms
    alive = rms[:, :-1] > 0
    factors = (rms[:, 1:][alive] / rms[:, :-1][alive]) ** 2
    assert _within(1.0, factors)


def test_simulation_shapes_and_errors():
    sim = simulate.propagate("fractional_moment", [5, 7, 3], networks=10, seed=0)
    assert sim.norms.shape == (10, 3) and sim.widths == (5, 7, 3)
    assert sim.s_moments(1.0).shape == (3,) and sim.s_moments(1.0)[0] == 1.0
    with pytest.raises(ValueError, match="Argument `widths`"):
        simulate.propagate("fractional_moment", [5], networks=10)
    with pytest.raises(ValueError, match=r"keys 'width' and 'depth'.*Received: widths=\{'width': 4\}"):
        simulate.propagate("fractional_moment", {"width": 4}, networks=10)
    with pytest.raises(ValueError, match="Argument `depth` must be a positive integer"):
        simulate.propagate("fractional_moment", {"width": 4, "depth": 0}, networks=10)
    with pytest.raises(ValueError, match="Argument `networks` must be a positive integer"):
        simulate.propagate("fractional_moment", [5, 3], networks=2.5)
    with pytest.raises(ValueError, match="Argument `inputs`"):
        simulate.propagate("fractional_moment", [5, 3], networks=10, inputs=np.ones(4))
    with pytest.raises(ValueError, match="one per layer"):
        simulate.propagate(["he_normal"], [5, 3, 3], networks=10)
    with pytest.raises(ValueError, match="Argument `kernel_initializer` must draw"):
        simulate.propagate("orthogonal", [5, 3], networks=10)
    with pytest.raises(ValueError, match="Argument `activation`"):
        simulate.propagate("he_normal", [5, 3], activation="tanh", networks=10)


@pytest.mark.parametrize(
    "activation, kwargs",
    [("relu", {"dropout": 0.3}), ("leaky_relu", {"negative_slope": 0.3}), ("linear", {})],
)
def test_norm_only_draws_match_the_unit_by_unit_path(activation, kwargs):
    # Without biases only the norms are drawn (X_m from its exact law); a
    # negligible bias forces the unit-by-unit path. Same law: a two-sample KS
    # test at level 1e-3 must not reject.
    networks, widths = 4000, {"width": 6, "depth": 12}
    init = FractionalMomentNormal(0.7, activation, **kwargs)
    common = {"networks": networks, "inputs": np.ones(6)}
    fast = simulate.propagate(init, widths, seed=1, **common)
    slow = simulate.propagate(init, widths, seed=2, bias_stddev=1e-300, **common)
    for layer in (1, 12):
        a, b = fast.norms[:, layer], slow.norms[:, layer]
        statistic = stats.ks_2samp(a, b).statistic
        assert statistic < ks_critical_value(networks / 2)
    # and the draws really differ in kind: dead ReLU signals appear in both
    if activation == "relu":
        assert (fast.norms[:, -1] == 0).mean() == pytest.approx((slow.norms[:, -1] == 0).mean(), abs=0.03)


def test_stable_weights_are_measured_in_their_l_alpha_norm():
    init = FractionalMomentStable(0.8, 1.5, seed=0)
    sim = simulate.propagate(init, [16, 32, 8], networks=50, seed=0)
    assert sim.norm_order == 1.5
    np.testing.assert_allclose(sim.sizes, sim.norms / np.array([16, 32, 8]) ** (1 / 1.5))
    with pytest.raises(ValueError, match="l_1.5 norms"):
        sim.rms  # noqa: B018
    with pytest.raises(ValueError, match="must not mix alpha-stable weights"):
        simulate.propagate([init, FractionalMomentNormal(0.8)], [4, 4, 4], networks=5)
