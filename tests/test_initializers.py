"""FractionalMomentNormal / FractionalMomentUniform on the active backend."""

import json
import math
import warnings

import keras
import numpy as np
import pytest
from helpers import ks_critical_value
from scipy import stats

from keras_fracinit import FractionalMomentNormal
from keras_fracinit import FractionalMomentUniform
from keras_fracinit.initializers import kernel_fans
from keras_fracinit.theory import moment_gain

INITIALIZERS = [FractionalMomentNormal, FractionalMomentUniform]
CLASSICAL = [
    ("relu", {}, 2.0),
    ("linear", {}, 1.0),
    ("leaky_relu", {}, 2.0 / 1.04),
    ("leaky_relu", {"negative_slope": 0.01}, 2.0 / 1.0001),
    ("rrelu", {}, 2.0 / (1.0 + (1 / 64 + 1 / 24 + 1 / 9) / 3)),
    ("relu", {"dropout": 0.5}, 1.0),
]
SHAPES = [(64, 32), (7, 300), (3, 3, 16, 32), (5, 8, 4), (2, 2, 2, 3, 5)]


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


# --- standard deviation --------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("s", [0.3, 1.0, 1.8])
def test_stddev_is_exact_gain_over_fan(shape, mode, s):
    init = FractionalMomentNormal(s, "leaky_relu", mode=mode)
    fan_in, fan_out = kernel_fans(shape)
    fan, width = (fan_in, shape[-1]) if mode == "fan_in" else (fan_out, shape[-2])
    expected = math.sqrt(moment_gain(s, "leaky_relu", width=width) / fan)
    assert init.stddev(shape) == pytest.approx(expected, rel=1e-15)


def test_kernel_fans_follow_keras():
    assert kernel_fans(()) == (1, 1)
    assert kernel_fans((7,)) == (7, 7)
    assert kernel_fans((64, 32)) == (64, 32)
    assert kernel_fans((3, 3, 16, 32)) == (144, 288)


@pytest.mark.parametrize("shape", [(), (5,)])
def test_low_rank_shapes_use_keras_fans(shape):
    init = FractionalMomentNormal(1.0)
    fan = kernel_fans(shape)[0]
    expected = math.sqrt(moment_gain(1.0, width=fan) / fan)
    assert init.stddev(shape) == pytest.approx(expected, rel=1e-15)
    values = _numpy(init(shape))
    assert values.shape == shape


@pytest.mark.parametrize("activation, kwargs, gain", CLASSICAL)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("shape", [(64, 32), (3, 3, 16, 32)])
def test_s2_draws_exactly_what_variance_scaling_draws(activation, kwargs, gain, mode, shape):
    ours = FractionalMomentNormal(2.0, activation, mode=mode, seed=7, **kwargs)
    keras_own = keras.initializers.VarianceScaling(
        scale=gain, mode=mode, distribution="untruncated_normal", seed=7
    )
    np.testing.assert_array_equal(_numpy(ours(shape)), _numpy(keras_own(shape)))
    uniform = FractionalMomentUniform(2.0, activation, mode=mode, seed=7, **kwargs)
    keras_uniform = keras.initializers.VarianceScaling(scale=gain, mode=mode, distribution="uniform", seed=7)
    np.testing.assert_allclose(_numpy(uniform(shape)), _numpy(keras_uniform(shape)), rtol=1e-6)


def test_s2_relu_is_he_normal_untruncated():
    init = FractionalMomentNormal(2.0, "relu")
    assert init.stddev((300, 100)) == math.sqrt(2.0 / 300)


def test_s_below_2_is_wider_than_he():
    he = FractionalMomentNormal(2.0).stddev((64, 64))
    assert FractionalMomentNormal(1.5).stddev((64, 64)) > he
    assert FractionalMomentNormal(0.8).stddev((64, 64)) > FractionalMomentNormal(1.5).stddev((64, 64))


# --- the drawn values ------------------------------------------------------


@pytest.mark.parametrize("shape", [(256, 512), (3, 3, 64, 128)])
def test_normal_draws_pass_ks_test(shape):
    init = FractionalMomentNormal(0.8, seed=2024)
    values = _numpy(init(shape, dtype="float32")).ravel().astype(np.float64)
    result = stats.kstest(values, stats.norm(scale=init.stddev(shape)).cdf)
    assert result.statistic < ks_critical_value(values.size)
    # A 5% error in the standard deviation would be detected at this size.
    wrong = stats.kstest(values, stats.norm(scale=1.05 * init.stddev(shape)).cdf)
    assert wrong.statistic > ks_critical_value(values.size)


def test_uniform_draws_pass_ks_test():
    shape = (256, 512)
    init = FractionalMomentUniform(0.8, seed=5)
    values = _numpy(init(shape, dtype="float32")).ravel().astype(np.float64)
    limit = math.sqrt(3.0) * init.stddev(shape)
    assert np.abs(values).max() <= limit
    result = stats.kstest(values, stats.uniform(loc=-limit, scale=2 * limit).cdf)
    assert result.statistic < ks_critical_value(values.size)


@pytest.mark.parametrize("cls", INITIALIZERS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_float_dtypes(cls, dtype):
    init = cls(1.0, seed=3)
    shape = (128, 256)
    values = init(shape, dtype=dtype)
    assert keras.backend.standardize_dtype(values.dtype) == dtype
    array = _numpy(keras.ops.cast(values, "float32")).astype(np.float64)
    assert np.all(np.isfinite(array))
    # sample sd within 4 standard errors; bfloat16 rounding adds < 0.4%
    se = init.stddev(shape) / math.sqrt(2 * array.size)
    tolerance = 4 * se + 0.004 * init.stddev(shape)
    assert abs(array.std() - init.stddev(shape)) < tolerance


def test_default_dtype_is_floatx(float64_backend):
    values = FractionalMomentNormal(1.0)((4, 4))
    assert keras.backend.standardize_dtype(values.dtype) == "float64"


@pytest.mark.parametrize("cls", INITIALIZERS)
@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_integer_dtype_is_rejected(cls, dtype):
    with pytest.raises(ValueError, match=f"Argument `dtype`.*Received: dtype={dtype}"):
        cls(1.0)((4, 4), dtype=dtype)


@pytest.mark.parametrize("cls", INITIALIZERS)
@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (3, 3, 0, 4), (0,)])
def test_zero_dimension_gives_empty_tensor(cls, shape):
    values = cls(1.0)(shape)
    assert tuple(values.shape) == shape
    assert _numpy(values).size == 0


# --- seeds -----------------------------------------------------------------


@pytest.mark.parametrize("cls", INITIALIZERS)
def test_integer_seed_is_reproducible(cls):
    a = _numpy(cls(1.0, seed=11)((8, 8)))
    b = _numpy(cls(1.0, seed=11)((8, 8)))
    c = _numpy(cls(1.0, seed=12)((8, 8)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("cls", INITIALIZERS)
def test_unseeded_instances_differ_but_repeat_themselves(cls):
    # Keras' rule: an unseeded initializer draws one seed at construction.
    first, second = cls(1.0), cls(1.0)
    a1 = _numpy(first((8, 8)))
    with pytest.warns(UserWarning, match="fixed seed and is called again"):
        a2 = _numpy(first((8, 8)))
    b = _numpy(second((8, 8)))
    np.testing.assert_array_equal(a1, a2)
    assert not np.array_equal(a1, b)


def test_unseeded_follows_keras_set_random_seed():
    keras.utils.set_random_seed(123)
    a = _numpy(FractionalMomentNormal(1.0)((8, 8)))
    keras.utils.set_random_seed(123)
    b = _numpy(FractionalMomentNormal(1.0)((8, 8)))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", INITIALIZERS)
def test_seed_generator_gives_new_values_each_call(cls):
    init = cls(1.0, seed=keras.random.SeedGenerator(5))
    a, b = _numpy(init((8, 8))), _numpy(init((8, 8)))
    assert not np.array_equal(a, b)
    again = cls(1.0, seed=keras.random.SeedGenerator(5))
    np.testing.assert_array_equal(a, _numpy(again((8, 8))))


def test_serialized_seed_generator_deserializes_back():
    init = FractionalMomentNormal(1.0, seed=keras.random.SeedGenerator(9))
    config = init.get_config()
    assert isinstance(config["seed"], dict)
    json.dumps(config)
    restored = FractionalMomentNormal.from_config(config)
    assert isinstance(restored.seed, keras.random.SeedGenerator)


@pytest.mark.parametrize("seed", [1.5, "3", [1], True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="Argument `seed`"):
        FractionalMomentNormal(1.0, seed=seed)


# --- configuration ---------------------------------------------------------


@pytest.mark.parametrize("cls", INITIALIZERS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"s": 0.8, "activation": "leaky_relu", "negative_slope": 0.01},
        {"s": 1.5, "activation": "rrelu", "lower": 0.0, "upper": 0.5},
        {"s": 2, "activation": "linear", "dropout": 0.1, "mode": "fan_out"},
    ],
)
def test_config_round_trip_is_json(cls, kwargs):
    init = cls(seed=4, **kwargs)
    config = init.get_config()
    restored = cls.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config
    assert restored.stddev((10, 20)) == init.stddev((10, 20))
    np.testing.assert_array_equal(_numpy(restored((6, 6))), _numpy(init((6, 6))))


def test_config_holds_resolved_defaults():
    config = FractionalMomentNormal(1.0, "leaky_relu").get_config()
    assert config["negative_slope"] == 0.2
    assert config["activation"] == "leaky_relu" and config["seed"] is None
    assert FractionalMomentNormal(1.0, "LeakyReLU").activation == "leaky_relu"


def test_clone_keeps_the_arguments():
    init = FractionalMomentNormal(0.5, "rrelu", lower=0.1, upper=0.2, seed=1)
    assert init.clone().get_config() == init.get_config()


def test_repr_names_the_arguments():
    text = repr(FractionalMomentNormal(0.8, "leaky_relu"))
    assert text.startswith("FractionalMomentNormal(s=0.8, activation='leaky_relu'")


# --- bad input at construction -------------------------------------------------


@pytest.mark.parametrize("cls", INITIALIZERS)
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"s": 2.5}, r"Argument `s` must be in \(0, 2\]. Received: s=2.5"),
        ({"s": 0}, r"Received: s=0.0"),
        ({"s": math.nan}, r"Received: s=nan"),
        ({"s": math.inf}, r"Received: s=inf"),
        ({"s": "one"}, r"Argument `s` must be a real number.*Received: s='one'"),
        ({"activation": "gelu"}, r"Argument `activation` must be one of 'relu'.*'gelu'"),
        ({"activation": "swish"}, r"Received: activation='swish'.*initialize\(model, s, calibrate_with=x\)"),
        ({"negative_slope": 0.1}, r"`negative_slope` only applies"),
        ({"activation": "leaky_relu", "negative_slope": -0.2}, r"negative_slope=-0.2"),
        ({"activation": "rrelu", "lower": 0.4, "upper": 0.1}, r"`lower` must be at most `upper` \(0.1\)"),
        ({"lower": 0.1}, r"`lower` only applies to activation='rrelu'"),
        ({"dropout": 1.0}, r"Argument `dropout` must be in \[0, 1\). Received: dropout=1.0"),
        ({"dropout": -0.5}, r"Received: dropout=-0.5"),
        (
            {"mode": "fan_avg"},
            r"Argument `mode` must be one of 'fan_in', 'fan_out'. Received: mode='fan_avg'",
        ),
    ],
)
def test_bad_input_raises_at_construction(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def _seed_warnings(record):
    # Only ours: torch's convert_to_numpy adds DeprecationWarnings of its own.
    return [str(w.message) for w in record if "fixed seed and is called again" in str(w.message)]


@pytest.mark.parametrize("seed", [0, None], ids=["int", "none"])
def test_calling_a_fixed_seed_instance_again_warns_once(seed):
    init = FractionalMomentNormal(0.8, seed=seed)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        first = keras.ops.convert_to_numpy(init((8, 8)))
        assert not _seed_warnings(record)
        repeats = [keras.ops.convert_to_numpy(init((8, 8))) for _ in range(3)]
    messages = _seed_warnings(record)
    assert len(messages) == 1
    assert "SeedGenerator" in messages[0] and "initialize(model, s, seed=...)" in messages[0]
    # The warning tells the truth: Keras 3 repeats the draw.
    assert all(np.array_equal(first, again) for again in repeats)


def test_seed_generator_and_separate_instances_do_not_warn():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        shared = FractionalMomentUniform(1.0, seed=keras.random.SeedGenerator(3))
        a, b = shared((8, 8)), shared((8, 8))
        assert not np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
        for seed in range(3):
            FractionalMomentNormal(1.0, seed=seed)((4, 4))
    assert not _seed_warnings(record)


# --- kernels with several output axes (EinsumDense, MultiHeadAttention) ----


def _einsum_kernel(initializer):
    layer = keras.layers.EinsumDense(
        "abc,cde->abde", output_shape=(None, 8, 64), kernel_initializer=initializer
    )
    layer.build((None, 10, 256))
    return keras.ops.convert_to_numpy(layer.kernel)


def test_einsum_dense_hands_its_axes_to_the_initializer():
    # s = 2: bit for bit Keras' VarianceScaling with the same axes.
    ours = _einsum_kernel(FractionalMomentNormal(2.0, seed=1))
    keras_own = _einsum_kernel(
        keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=1)
    )
    np.testing.assert_array_equal(ours, keras_own)
    # s < 2: fan_in = 256 over the input axis, width m = 8 * 64 output units.
    init = FractionalMomentNormal(0.8, seed=2)
    kernel = _einsum_kernel(init)
    expected = math.sqrt(moment_gain(0.8, width=512) / 256)
    assert init.stddev((256, 8, 64)) != pytest.approx(expected)  # without axes: m = 64, fan = 2048
    assert abs(kernel.std() / expected - 1) < 4 / math.sqrt(2 * kernel.size)


def test_multi_head_attention_projections_get_their_axes():
    attention = keras.layers.MultiHeadAttention(
        num_heads=8, key_dim=16, kernel_initializer=FractionalMomentNormal(1.0, "linear", seed=3)
    )
    x = np.zeros((2, 5, 32), dtype="float32")
    attention(x, x)
    query = keras.ops.convert_to_numpy(attention.query_dense.kernel)  # (32, 8, 16)
    output = keras.ops.convert_to_numpy(attention.output_dense.kernel)  # (8, 16, 32)
    for kernel, fan_in, width in ((query, 32, 128), (output, 128, 32)):
        expected = math.sqrt(moment_gain(1.0, "linear", width=width) / fan_in)
        assert abs(kernel.std() / expected - 1) < 4 / math.sqrt(2 * kernel.size)


def test_axes_round_trip_and_are_checked():
    init = FractionalMomentUniform(0.5, seed=4, input_axes=[0], output_axes=[1, 2])
    again = FractionalMomentUniform.from_config(init.get_config())
    assert (again.input_axes, again.output_axes) == ([0], [1, 2])
    assert (
        again.stddev((16, 4, 8))
        == init.stddev((16, 4, 8))
        == pytest.approx(math.sqrt(moment_gain(0.5, width=32) / 16))
    )
    assert isinstance(init, keras.initializers.VarianceScaling)
    with pytest.raises(ValueError, match="Argument `input_axes` must be a list of integers"):
        FractionalMomentNormal(1.0, input_axes="0", output_axes=[1])
