"""`initialize` draws every kind of kernel with the fans its layer uses."""

import math

import keras
import numpy as np
import pytest

import keras_fracinit
from keras_fracinit import FractionalMomentNormal
from keras_fracinit import theory
from keras_fracinit._graph.fans import einsum_axes


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
            # a branch on a value: only eager calls run it, so no trace reads it
            if float(keras.ops.convert_to_numpy(keras.ops.max(x))) > -1e9:
                return self.second(keras.ops.relu(self.first(x)))
            return self.second(self.first(x))

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


def _one_location_inputs(channels, samples, rng):
    """3 x 3 x channels inputs whose channels' patches all have the same norm.

    With one output location, each output unit of a depthwise kernel is then
    Gaussian with the same variance given the input, so the exact gain makes
    the expected s-moment ratio exactly 1.
    """
    patches = rng.normal(size=(samples, 9, channels))
    patches /= np.linalg.norm(patches, axis=1, keepdims=True)
    return patches.reshape(samples, 3, 3, channels).astype("float32")


def _one_location_outputs(layer, x, kernels):
    """The layer's output units at its one location, computed in numpy from `kernels`."""
    relu = lambda z: np.maximum(z, 0.0)  # noqa: E731
    if isinstance(layer, keras.layers.SeparableConv2D):
        depthwise, pointwise = kernels
        inner = np.einsum("bijc,ijcm->bcm", x, depthwise).reshape(len(x), -1)
        return relu(inner @ pointwise[0, 0])
    (kernel,) = kernels
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return relu(np.einsum("bijc,ijcm->bcm", x, kernel).reshape(len(x), -1))
    # Conv2D(groups=C): output channel o reads input channel o // (filters / C)
    per_group = kernel.shape[-1] // x.shape[-1]
    return relu(np.einsum("bijo,ijo->bo", np.repeat(x, per_group, axis=-1), kernel[:, :, 0, :]))


def _moment_ratio_draws(model, x, s, draws, rng):
    """Per-draw s-moment ratios out/in (per unit) over `draws` kernels drawn with `initialize`'s stddevs."""
    layer = model.layers[-1]
    report = keras_fracinit.initialize(model, s, seed=0)
    drawn = [_numpy(w) for w in layer.weights if w.name.endswith("kernel")]
    # the numpy twin computes what the layer computes
    np.testing.assert_allclose(
        _one_location_outputs(layer, x, drawn), _numpy(model(x)).reshape(len(x), -1), rtol=1e-4, atol=1e-5
    )
    per_unit_in = np.mean(np.mean(x.reshape(len(x), -1) ** 2, axis=1) ** (s / 2))
    ratios = []
    for _ in range(draws):
        kernels = [rng.normal(size=k.shape) * entry.stddev for k, entry in zip(drawn, report)]
        y = _one_location_outputs(layer, x, kernels)
        ratios.append(np.mean(np.mean(y**2, axis=1) ** (s / 2)) / per_unit_in)
    return np.asarray(ratios)


@pytest.mark.parametrize(
    "layer",
    [
        keras.layers.DepthwiseConv2D(3, activation="relu", name="k"),
        keras.layers.DepthwiseConv2D(3, depth_multiplier=4, activation="relu", name="k"),
        keras.layers.SeparableConv2D(8, 3, depth_multiplier=2, activation="relu", name="k"),
        keras.layers.Conv2D(8, 3, groups=8, activation="relu", name="k"),
    ],
    ids=["depthwise", "depthwise_x4", "separable", "grouped"],
)
def test_depthwise_and_separable_kernels_preserve_the_s_moment_at_one_location(layer):
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((3, 3, 8)), layer])
    ratios = _moment_ratio_draws(model, _one_location_inputs(8, 16, rng), 0.8, draws=4000, rng=rng)
    # within four standard errors of the mean over independent draws
    assert abs(ratios.mean() - 1) < 4 * ratios.std(ddof=1) / math.sqrt(len(ratios))


def test_a_depthwise_conv_and_its_grouped_conv2d_twin_get_the_same_stddev():
    depthwise = keras.Sequential(
        [keras.Input((5, 5, 32)), keras.layers.DepthwiseConv2D(3, activation="relu")]
    )
    grouped = keras.Sequential(
        [keras.Input((5, 5, 32)), keras.layers.Conv2D(32, 3, groups=32, activation="relu")]
    )
    (a,) = keras_fracinit.initialize(depthwise, 0.8, seed=0)
    (b,) = keras_fracinit.initialize(grouped, 0.8, seed=0)
    assert a.stddev == pytest.approx(b.stddev, rel=1e-12)
    # the gain of a 32-unit output, not of one unit (10.0 for ReLU at s = 0.8)
    assert a.stddev == pytest.approx(_expected(0.8, "relu", 9, 32), rel=1e-12)
