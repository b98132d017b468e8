"""FractionalMomentStable on the active backend: scale, law, seeds, dtypes, errors, config."""

import json
import math

import keras
import numpy as np
import pytest
from scipy import stats

from keras_fracinit import FractionalMomentNormal
from keras_fracinit import FractionalMomentStable
from keras_fracinit._backend import kernel_draws
from keras_fracinit.initializers import kernel_fans
from keras_fracinit.theory import stable_moment_gain

# Two-sample Kolmogorov-Smirnov at level 1e-3: c(a) sqrt((n + m) / (n m)), c = sqrt(-log(a/2) / 2).
KS_LEVEL = 1e-3


def _two_sample_critical(n, m, level=KS_LEVEL):
    return math.sqrt(-math.log(level / 2) / 2) * math.sqrt((n + m) / (n * m))


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("shape", [(64, 32), (3, 3, 16, 32)])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_scale_is_the_exact_gain_over_the_fan(shape, mode):
    init = FractionalMomentStable(0.8, 1.5, "leaky_relu", mode=mode)
    fan_in, fan_out = kernel_fans(shape)
    width, fan = (shape[-1], fan_in) if mode == "fan_in" else (shape[-2], fan_out)
    gain = stable_moment_gain(0.8, 1.5, "leaky_relu", width=width)
    assert init.scale(shape) == pytest.approx((gain / fan) ** (1 / 1.5), rel=1e-15)
    assert init.gain(shape) == gain
    with pytest.raises(ValueError, match="infinite variance"):
        init.stddev(shape)


@pytest.mark.parametrize("activation", ["relu", "linear", "rrelu"])
def test_alpha_two_draws_what_the_gaussian_scheme_draws(activation):
    shape = (48, 40)
    stable = FractionalMomentStable(0.7, 2.0, activation, seed=5)
    normal = FractionalMomentNormal(0.7, activation, seed=5)
    assert stable.stddev(shape) == normal.stddev(shape)
    np.testing.assert_array_equal(_numpy(stable(shape)), _numpy(normal(shape)))


@pytest.mark.parametrize("alpha", [0.7, 1.0, 1.5, 1.9])
def test_law_against_an_independent_sampler(alpha):
    init = FractionalMomentStable(0.5 * alpha, alpha, seed=2026)
    shape = (160, 125)  # 20,000 draws
    values = _numpy(init(shape, dtype="float32")).ravel().astype(np.float64)
    reference = stats.levy_stable.rvs(
        alpha, 0.0, scale=init.scale(shape), size=20_000, random_state=np.random.default_rng(1)
    )
    critical = _two_sample_critical(values.size, reference.size)
    assert stats.ks_2samp(values, reference).statistic < critical
    # a 30% error in the scale is seen at this size
    assert stats.ks_2samp(values, 1.3 * reference).statistic > critical


def test_s_moment_of_the_l_alpha_size_is_preserved_by_keras_draws():
    # 20,000 independent ReLU layers 16 -> 16, drawn by the backend's sampler with the
    # initializer's scale; s = 0.5 < alpha / 2, so f^s has a finite variance (4.5 sigma bound).
    alpha, s, width, networks = 1.5, 0.5, 16, 20_000
    init = FractionalMomentStable(s, alpha)
    kernels = _numpy(
        kernel_draws.law_values(
            kernel_draws.WeightLaw(alpha), (networks, width, width), "float32", init.scale((width, width)), 7
        )
    ).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((networks, width))
    y = np.maximum(np.einsum("ni,nio->no", x, kernels), 0.0)

    def size(v):
        return (np.abs(v) ** alpha).mean(axis=1) ** (1 / alpha)

    ratio = (size(y) / size(x)) ** s
    assert abs(ratio.mean() - 1.0) < 4.5 * ratio.std() / math.sqrt(networks)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_float_dtypes_stay_finite(dtype):
    for alpha, s in ((1.5, 0.8), (0.2, 0.1)):
        values = FractionalMomentStable(s, alpha, seed=3)((128, 64), dtype=dtype)
        assert keras.backend.standardize_dtype(values.dtype) == dtype
        assert np.all(np.isfinite(_numpy(keras.ops.cast(values, "float32"))))


def test_seeds_follow_keras():
    a = _numpy(FractionalMomentStable(0.8, 1.5, seed=11)((8, 8)))
    np.testing.assert_array_equal(a, _numpy(FractionalMomentStable(0.8, 1.5, seed=11)((8, 8))))
    assert not np.array_equal(a, _numpy(FractionalMomentStable(0.8, 1.5, seed=12)((8, 8))))
    init = FractionalMomentStable(0.8, 1.5, seed=keras.random.SeedGenerator(5))
    assert not np.array_equal(_numpy(init((8, 8))), _numpy(init((8, 8))))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"s": 1.5, "alpha": 1.5}, r"Argument `s` must be below `alpha`.*Received: s=1.5 and alpha=1.5"),
        ({"s": 0.5, "alpha": 2.1}, r"Argument `alpha` must be in \(0, 2\]. Received: alpha=2.1"),
        ({"s": 0.5, "alpha": "1.5"}, r"Argument `alpha` must be a real number"),
        ({"s": 0.5, "alpha": 1.5, "activation": "gelu"}, r"Argument `activation` must be one of"),
        ({"s": 0.5, "alpha": 1.5, "mode": "fan_avg"}, r"Argument `mode`"),
    ],
)
def test_bad_input_raises_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FractionalMomentStable(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"s": 0.5, "alpha": 1.2, "activation": "leaky_relu", "negative_slope": 0.01, "mode": "fan_out"}],
)
def test_config_round_trip_is_json(kwargs):
    init = FractionalMomentStable(seed=4, **kwargs)
    config = init.get_config()
    assert list(config)[:2] == ["s", "alpha"]
    restored = FractionalMomentStable.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config
    np.testing.assert_array_equal(_numpy(restored((6, 6))), _numpy(init((6, 6))))
    assert "alpha=" in repr(init)


def test_einsum_dense_hands_its_axes_to_the_initializer():
    # fan_in 32 over the input axis, width m = 4 * 8 output units
    layer = keras.layers.EinsumDense(
        "abc,cde->abde",
        output_shape=(None, 4, 8),
        kernel_initializer=FractionalMomentStable(0.8, 1.5, seed=1),
    )
    layer.build((None, 3, 32))
    with_axes = FractionalMomentStable(0.8, 1.5, seed=1, input_axes=[0], output_axes=[1, 2])
    assert with_axes.scale((32, 4, 8)) == pytest.approx(
        (stable_moment_gain(0.8, 1.5, width=32) / 32) ** (1 / 1.5)
    )
    np.testing.assert_array_equal(_numpy(layer.kernel), _numpy(with_axes((32, 4, 8))))
