"""`initialize` draws every kind of kernel with the fans its layer uses."""

import math

import keras
import numpy as np
import pytest

import keras_fracinit
from keras_fracinit import FractionalMomentNormal
from keras_fracinit import theory
from keras_fracinit._kernel_rules import einsum_axes


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _std_bound(n):
    """Four standard errors of a sample standard deviation's relative error, n draws."""
    return 4.0 / math.sqrt(2.0 * n)


def _expected(s, activation, fan, width):
    return math.sqrt(theory.moment_gain(s, activation, width=width) / fan)


def _model():
    inputs = keras.Input((12, 12, 6))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, activation="relu", name="depthwise")(inputs)
    x = keras.layers.SeparableConv2D(16, 3, depth_multiplier=3, activation="relu", name="separable")(x)
    x = keras.layers.Conv2DTranspose(8, 4, strides=2, name="transpose")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Reshape((-1, 8))(x)
    x = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 4, 16), name="einsum")(x)
    x = keras.layers.Reshape((-1, 64))(x)
    x = keras.layers.MultiHeadAttention(4, 16, name="attention")(x, x)
    x = keras.layers.LSTM(5, name="lstm")(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("s", [2.0, 0.7])
def test_every_kernel_is_drawn_with_its_layers_fans(s):
    model = _model()
    lstm_before = [_numpy(w).copy() for w in model.get_layer("lstm").weights]
    with pytest.warns(UserWarning, match="LSTM"):
        report = keras_fracinit.initialize(model, s, seed=0)
    entries = {r.layer: r for r in report}
    expected = {
        # per channel: 9 inputs per output; every output unit at a location
        # counts (6 channels x multiplier 2), as for Conv2D(groups=6)
        "depthwise": ("relu", 9, 6 * 2, "per channel"),
        "separable/depthwise_kernel": ("linear", 9, 12 * 3, "per channel"),
        "separable/pointwise_kernel": ("relu", 12 * 3, 16, "keras fans"),
        # 16 channels x (4/2)^2 overlapping terms per output position
        "transpose": ("relu", 16 * 4, 8, "transposed"),
        "einsum": ("linear", 8, 64, "einsum axes"),
        "attention/query": ("linear", 64, 64, "einsum axes"),
        "attention/key": ("linear", 64, 64, "einsum axes"),
        "attention/value": ("linear", 64, 64, "einsum axes"),
        "attention/output": ("linear", 64, 64, "einsum axes"),
    }
    for name, (activation, fan_in, width, rule) in expected.items():
        entry = entries[name]
        assert (entry.activation, entry.fan_in, entry.rule, entry.status) == (
            activation,
            fan_in,
            rule,
            "initialized",
        ), name
        assert entry.stddev == pytest.approx(_expected(s, activation, fan_in, width), rel=1e-12), name
    for name in ("depthwise", "transpose", "einsum"):
        kernel = _numpy(model.get_layer(name).kernel)
        assert kernel.std() == pytest.approx(entries[name].stddev, rel=_std_bound(kernel.size))
    query = _numpy(model.get_layer("attention").query_dense.kernel)
    assert query.std() == pytest.approx(entries["attention/query"].stddev, rel=_std_bound(query.size))
    lstm = [r for r in report if r.layer.startswith("lstm")]
    assert {r.status for r in lstm} == {"skipped"} and "recurrent" in lstm[0].reason
    for weight, old in zip(model.get_layer("lstm").weights, lstm_before):
        np.testing.assert_array_equal(_numpy(weight), old)
    assert report.counts() == {"initialized": 9, "calibrated": 0, "skipped": len(lstm)}


def test_einsum_and_attention_match_variance_scaling_with_the_same_axes():
    """At s = 2 and linear, the scheme is VarianceScaling(1, fan_in): the
    stddev initialize draws for EinsumDense and MultiHeadAttention kernels
    equals the one Keras' VarianceScaling gets inside those layers."""
    inputs = keras.Input((10, 256))
    dense = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 8, 64), name="einsum")
    attention = keras.layers.MultiHeadAttention(8, 32, name="attention")
    outputs = attention(dense(inputs)[:, :, 0, :], dense(inputs)[:, :, 0, :])
    model = keras.Model(inputs, outputs)
    report = {r.layer: r for r in keras_fracinit.initialize(model, 2.0, seed=1)}
    reference = keras.layers.EinsumDense(
        "abc,cde->abde",
        output_shape=(None, 8, 64),
        kernel_initializer=keras.initializers.VarianceScaling(1.0, "fan_in", "untruncated_normal", seed=3),
    )
    reference.build((None, 10, 256))
    assert report["einsum"].stddev == pytest.approx(1 / 16, rel=1e-12)  # sqrt(1 / 256)
    assert _numpy(reference.kernel).std() == pytest.approx(1 / 16, rel=_std_bound(256 * 8 * 64))
    assert report["attention/query"].stddev == pytest.approx(math.sqrt(1 / 64), rel=1e-12)
    assert report["attention/output"].fan_in == 8 * 32  # heads x key_dim summed into each output


def test_einsum_axes_follow_the_equation():
    assert einsum_axes("abc,cde->abde") == ([0], [1, 2])
    assert einsum_axes("ab,bc->ac") == ([0], [1])
    assert einsum_axes("...b,bc->...c") == ([0], [1])
    assert einsum_axes("abcd,cde->abe") == ([0, 1], [2])


def test_residual_add_is_read_through_to_the_relu():
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(4, 3, padding="same", name="branch")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Add(name="add")([inputs, x])
    x = keras.layers.ReLU(name="relu")(x)
    model = keras.Model(inputs, x)
    (entry,) = keras_fracinit.initialize(model, 1.0, seed=0)
    assert (entry.activation, entry.found_in) == ("relu", "bn > add > relu")
    assert entry.stddev == pytest.approx(FractionalMomentNormal(1.0, "relu").stddev((3, 3, 4, 4)), rel=1e-12)


def test_subclassed_model_says_once_that_its_graph_is_hidden():
    class Block(keras.Model):
        def __init__(self):
            super().__init__(name="block")
            self.first = keras.layers.Dense(8, name="first")
            self.second = keras.layers.Dense(4, activation="relu", name="second")

        def call(self, x):
            return self.second(keras.ops.relu(self.first(x)))

    model = Block()
    model(np.zeros((2, 6), "float32"))
    with pytest.warns(UserWarning, match="subclassed model.*'block'.*call") as caught:
        report = keras_fracinit.initialize(model, 1.0, seed=0, on_unsupported="warn")
    assert len([w for w in caught if "graph of subclassed" in str(w.message)]) == 1
    # the linear layer's activation is applied in call(): never taken for linear
    assert [(r.layer, r.activation, r.status) for r in report] == [
        ("first", "linear", "skipped"),
        ("second", "relu", "initialized"),
    ]
    with pytest.raises(keras_fracinit.UnsupportedActivationError, match="'first'.*subclassed"):
        keras_fracinit.initialize(model, 1.0, seed=0)
