"""`keras_fracinit.initialize(model, s)` on real Keras models."""

import math
import re
import warnings

import keras
import numpy as np
import pytest

import keras_fracinit
from keras_fracinit import FractionalMomentNormal


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _sequential():
    return keras.Sequential(
        [
            keras.Input((32,)),
            keras.layers.Dense(64, activation="relu", name="own_relu"),
            keras.layers.Dense(64, name="then_leaky"),
            keras.layers.LeakyReLU(negative_slope=0.1),
            keras.layers.Dense(48, activation="leaky_relu", name="own_leaky"),
            keras.layers.Dense(
                44, activation=keras.layers.LeakyReLU(negative_slope=0.01), name="layer_as_activation"
            ),
            keras.layers.Dense(40, name="then_relu_layer"),
            keras.layers.ReLU(),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(30, name="then_activation"),
            keras.layers.Activation("relu"),
            keras.layers.Dense(10, name="logits"),
        ]
    )


def test_reads_each_layers_activation_and_draws_the_exact_stddev():
    model = _sequential()
    biases = {layer.name: _numpy(layer.bias).copy() for layer in model.layers if hasattr(layer, "bias")}
    report = keras_fracinit.initialize(model, s=0.8, seed=0)
    found = {r.layer: (r.activation, r.negative_slope, r.dropout, r.found_in) for r in report}
    assert found == {
        "own_relu": ("relu", None, 0.0, "layer"),
        "then_leaky": ("leaky_relu", 0.1, 0.0, model.layers[2].name),
        "own_leaky": ("leaky_relu", 0.2, 0.0, "layer"),
        "layer_as_activation": ("leaky_relu", 0.01, 0.0, "layer"),
        "then_relu_layer": ("relu", None, 0.25, model.layers[6].name),
        "then_activation": ("relu", None, 0.0, model.layers[9].name),
        "logits": ("linear", None, 0.0, "model output"),
    }
    for entry in report:
        layer = model.get_layer(entry.layer)
        shape = tuple(layer.kernel.shape)
        expected = FractionalMomentNormal(
            0.8, entry.activation, negative_slope=entry.negative_slope, dropout=entry.dropout
        ).stddev(shape)
        assert entry.stddev == pytest.approx(expected, rel=1e-15)
        kernel = _numpy(layer.kernel)
        # sample sd within 5 standard errors of the exact one
        assert abs(kernel.std() / expected - 1) < 5 / math.sqrt(2 * kernel.size)
        assert entry.status == "initialized"
        np.testing.assert_array_equal(_numpy(layer.bias), biases[entry.layer])
    text = str(report)
    assert "then_leaky" in text and "leaky_relu(0.1)" in text and "dropout(0.25)" in text


def test_seed_is_reproducible_and_layers_differ():
    a, b = _sequential(), _sequential()
    keras_fracinit.initialize(a, s=1.0, seed=3)
    keras_fracinit.initialize(b, s=1.0, seed=3)
    for la, lb in zip(a.layers, b.layers):
        if hasattr(la, "kernel"):
            np.testing.assert_array_equal(_numpy(la.kernel), _numpy(lb.kernel))
    k1 = _numpy(a.get_layer("then_leaky").kernel)
    k2 = _numpy(a.get_layer("own_relu").kernel)
    assert not np.array_equal(k1, k2[: k1.shape[0], : k1.shape[1]])


def test_functional_nested_and_conv_models():
    inner = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(16, activation="relu", name="inner_dense")],
        name="block",
    )
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, name="conv")(inputs)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="leaky_relu", name="dense")(x)
    x = inner(x)
    outputs = keras.layers.Dense(2, name="head")(x)
    model = keras.Model(inputs, outputs)
    report = keras_fracinit.initialize(model, s=1.0, mode="fan_out", seed=1)
    found = {r.layer: r.activation for r in report}
    assert found == {"conv": "relu", "dense": "leaky_relu", "block/inner_dense": "relu", "head": "linear"}
    conv = next(r for r in report if r.layer == "conv")
    assert (conv.fan_in, conv.fan_out) == (27, 54)
    assert conv.stddev == pytest.approx(FractionalMomentNormal(1.0, mode="fan_out").stddev((3, 3, 3, 6)))


def test_paths_that_disagree_are_outside_the_class_never_linear():
    inputs = keras.Input((4,))
    h = keras.layers.Dense(8, name="shared")(inputs)
    a = keras.layers.ReLU(name="to_relu")(h)
    b = keras.layers.Activation("tanh", name="to_tanh")(h)
    model = keras.Model(inputs, keras.layers.Concatenate()([a, b]))
    with pytest.raises(
        keras_fracinit.UnsupportedActivationError, match="paths disagree: relu via to_relu; tanh"
    ):
        keras_fracinit.initialize(model, s=1.0)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    (entry,) = keras_fracinit.initialize(model, s=1.0, calibrate_with=x)
    assert (entry.activation, entry.status) == ("mixed", "calibrated")


@pytest.mark.parametrize(
    "layers",
    [
        [keras.layers.Dense(8, activation="tanh", name="bad")],
        [keras.layers.Dense(8, name="bad"), keras.layers.Activation("gelu")],
        [keras.layers.Dense(8, name="bad"), keras.layers.ReLU(max_value=6.0)],
    ],
)
def test_unsupported_activation_raises_before_changing_anything(layers):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="good")] + layers
    )
    before = _numpy(model.get_layer("good").kernel).copy()
    with pytest.raises(keras_fracinit.UnsupportedActivationError, match="'bad' \\(Dense: "):
        keras_fracinit.initialize(model, s=1.0)
    np.testing.assert_array_equal(_numpy(model.get_layer("good").kernel), before)


def test_unsupported_activation_can_be_skipped_with_one_warning():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="tanh", name="bad"),
            keras.layers.Dense(8, activation="relu", name="good"),
        ]
    )
    before = _numpy(model.get_layer("bad").kernel).copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = keras_fracinit.initialize(model, s=1.0, on_unsupported="warn")
    assert (
        len([w for w in caught if "skipped 1 kernel(s)" in str(w.message) and "'bad'" in str(w.message)]) == 1
    )
    assert [r.status for r in report] == ["skipped", "initialized"]
    assert report[0].stddev is None
    np.testing.assert_array_equal(_numpy(model.get_layer("bad").kernel), before)


def test_bad_arguments():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Argument `on_unsupported`"):
        keras_fracinit.initialize(model, s=1.0, on_unsupported="ignore")
    with pytest.raises(ValueError, match=r"Argument `s` must be in \(0, 2\]"):
        keras_fracinit.initialize(model, s=3.0)
    with pytest.raises(ValueError, match="Argument `mode`"):
        keras_fracinit.initialize(model, s=1.0, mode="fan_avg")
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="must be built"):
        keras_fracinit.initialize(unbuilt, s=1.0)
    with pytest.raises(
        ValueError, match="Argument `model` must be a keras.Model .* Received: model='model' of type str"
    ):
        keras_fracinit.initialize("model", s=1.0)


def test_looks_through_normalization_and_dropout_to_the_activation():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(16, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(32, name="dense")(x)
    x = keras.layers.LayerNormalization(name="ln")(x)
    x = keras.layers.Dropout(0.1, name="drop")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.3, name="leaky")(x)
    x = keras.layers.Dense(16, name="to_prelu")(x)
    x = keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), name="prelu")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs)
    found = {
        r.layer: (r.activation, r.negative_slope, r.found_in) for r in keras_fracinit.initialize(model, 1.0)
    }
    assert found["conv"] == ("relu", None, "bn > relu")
    assert found["dense"] == ("leaky_relu", pytest.approx(0.3), "ln > drop > leaky")
    assert found["to_prelu"] == ("leaky_relu", pytest.approx(0.25), "prelu")
    assert found["head"] == ("linear", None, "layer (softmax head: logits)")


def test_sigmoid_head_through_an_activation_layer_is_logits():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(1, name="head"),
            keras.layers.Activation("sigmoid", name="sig"),
        ]
    )
    (entry,) = keras_fracinit.initialize(model, 1.0)
    assert (entry.activation, entry.found_in) == ("linear", "sig (sigmoid head: logits)")
    assert entry.stddev == pytest.approx(FractionalMomentNormal(1.0, "linear").stddev((4, 1)))


def test_a_gain_overflow_changes_no_kernel():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="relu"),
        ]
    )
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.weights]
    with pytest.raises(ValueError, match="exceeds the float64 range"):
        keras_fracinit.initialize(model, s=0.001)
    for weight, old in zip(model.weights, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), old)


@pytest.mark.parametrize(
    "after, name",
    [
        (lambda: keras.layers.ELU(), "elu"),
        (lambda: keras.layers.Softmax(), "softmax"),
        (lambda: keras.layers.Lambda(keras.ops.tanh), "lambda (tanh)"),
    ],
)
def test_an_activation_layer_outside_the_class_is_never_read_as_linear(after, name):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8), after(), keras.layers.Dense(3, activation="relu")]
    )
    with pytest.raises(keras_fracinit.UnsupportedActivationError, match=re.escape(f"'{name}'")):
        keras_fracinit.initialize(model, 1.0, seed=0)


def test_keras_ops_activations_in_a_functional_graph_are_read():
    inputs = keras.Input((6,))
    shortcut = keras.layers.Dense(6, name="shortcut")(inputs)
    h = keras.ops.relu(keras.layers.Dense(6, name="to_relu")(inputs))
    h = keras.ops.leaky_relu(keras.layers.Dense(6, name="to_leaky")(h), negative_slope=0.1)
    h = keras.ops.relu(keras.layers.Dense(6, name="residual")(h) + shortcut)
    outputs = keras.layers.Dense(2, name="out")(h)
    model = keras.Model(inputs, outputs)

    # Keras names an op after its function, numbered when the process already holds one
    # ("relu_1"): which names these got depends on the tests that ran before in this worker.
    def names(kind):
        return [op.name for op in model.operations if type(op).__name__ == kind]

    (relu, relu_after_add), (leaky,), (add,) = names("Relu"), names("LeakyRelu"), names("Add")
    report = keras_fracinit.initialize(model, 1.0, seed=0)
    found = {r.layer: (r.activation, r.negative_slope, r.found_in) for r in report}
    assert found["to_relu"] == ("relu", None, relu)
    assert found["to_leaky"] == ("leaky_relu", pytest.approx(0.1), leaky)
    assert found["residual"] == ("relu", None, f"{add} > {relu_after_add}")
    assert found["shortcut"][:2] == ("relu", None)
    stddev = {r.layer: r.stddev for r in report}["to_relu"]
    assert stddev == pytest.approx(FractionalMomentNormal(1.0, "relu").stddev((6, 6)))


@pytest.mark.parametrize(
    "apply, name",
    [
        (keras.ops.tanh, "keras.ops.tanh"),
        (lambda x: 2.0 * x, "keras.ops.multiply"),
        (keras.ops.relu6, "keras.ops.relu6"),
    ],
)
def test_any_other_keras_ops_call_after_a_kernel_is_never_read_as_linear(apply, name):
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(apply(keras.layers.Dense(8, name="hidden")(inputs)))
    with pytest.raises(keras_fracinit.UnsupportedActivationError, match=re.escape(f"'{name}'")):
        keras_fracinit.initialize(keras.Model(inputs, outputs), 1.0, seed=0)


def test_a_relu_after_a_nested_models_last_layer_is_read():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="last")], name="inner")
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, name="out")(keras.layers.ReLU(name="relu")(inner(inputs)))
    report = keras_fracinit.initialize(keras.Model(inputs, outputs), 1.0, seed=0)
    assert [(r.layer, r.activation, r.found_in) for r in report] == [
        ("inner/last", "relu", "relu"),
        ("out", "linear", "model output"),
    ]


def test_warnings_point_at_the_caller():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="gelu"), keras.layers.Dense(2)]
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        keras_fracinit.initialize(model, s=1.0, seed=0, on_unsupported="warn")
    (skipped,) = [w for w in record if "outside the paper's class" in str(w.message)]
    assert skipped.filename == __file__
