"""`keras_fracinit._graph.routes`: every route from a kernel is read, with no default."""

import keras
import numpy as np
import pytest

import keras_fracinit
from keras_fracinit import FractionalMomentNormal
from keras_fracinit._graph import routes


def _route(model, name):
    return routes.read(model.get_layer(name), routes.Graph.of(model))


def _model(*steps, inputs=(6, 6, 4), kernel=None):
    x = keras.Input(inputs)
    y = (kernel or keras.layers.Conv2D(4, 3, padding="same", name="k"))(x)
    for step in steps:
        y = step(y)
    return keras.Model(x, y)


@pytest.mark.parametrize(
    "steps, found_in",
    [
        ([keras.layers.MaxPooling2D(name="pool"), keras.layers.ReLU(name="relu")], "pool > relu"),
        ([keras.layers.Reshape((-1,), name="flat"), keras.layers.ReLU(name="relu")], "flat > relu"),
        (
            [
                keras.layers.BatchNormalization(name="bn"),
                keras.layers.ZeroPadding2D(name="pad"),
                keras.layers.ReLU(name="relu"),
            ],
            "bn > pad > relu",
        ),
        ([keras.layers.AveragePooling2D(2, name="avg"), keras.layers.ReLU(name="relu")], "avg > relu"),
        (
            [keras.layers.Permute((3, 1, 2), name="perm"), keras.layers.Activation("relu", name="relu")],
            "perm > relu",
        ),
    ],
)
def test_ordinary_layers_between_a_kernel_and_its_relu_are_read_through(steps, found_in):
    route = _route(_model(*steps), "k")
    assert (route.activation, route.found_in, route.exact) == ("relu", found_in, True)


def test_every_consumer_is_followed_and_agreeing_paths_keep_the_activation():
    # a DenseNet-style growth conv: its output is concatenated, and every
    # later layer reads it through BatchNormalization > ReLU
    x = keras.Input((6, 6, 4))
    grown = keras.layers.Conv2D(4, 3, padding="same", name="k")(x)
    first = keras.layers.Concatenate(name="cat1")([x, grown])
    a = keras.layers.ReLU(name="relu_a")(keras.layers.BatchNormalization(name="bn_a")(first))
    second = keras.layers.Concatenate(name="cat2")([first, keras.layers.Conv2D(4, 1, name="next")(a)])
    out = keras.layers.ReLU(name="relu_b")(keras.layers.BatchNormalization(name="bn_b")(second))
    model = keras.Model(x, out)
    route = _route(model, "k")
    assert (route.activation, route.exact) == ("relu", True)
    assert route.found_in.startswith("cat1 > ") and "more paths" in route.found_in


def test_a_shared_layer_is_read_at_every_call():
    shared = keras.layers.Dense(6, name="k")
    x = keras.Input((6,))
    y = keras.layers.ReLU(name="r1")(shared(x))
    z = keras.layers.Activation("tanh", name="t2")(shared(y))
    route = _route(keras.Model(x, z), "k")
    assert route.activation == "mixed" and "relu via r1" in route.reason and "tanh via t2" in route.reason


@pytest.mark.parametrize(
    "steps, problem",
    [
        (
            [keras.layers.MaxPooling2D(name="pool"), keras.layers.Flatten(), keras.layers.Dense(2)],
            "max pooling before a linear map",
        ),
        (
            [keras.layers.MaxPooling2D(name="pool"), keras.layers.Activation("tanh")],
            "max pooling before 'tanh'",
        ),
        (
            [keras.layers.GaussianNoise(0.1, name="noise"), keras.layers.ReLU()],
            "GaussianNoise 'noise' (law not known)",
        ),
        ([lambda t: keras.ops.relu(t + 1.0)], "with a constant (a shift)"),
    ],
)
def test_a_step_of_unknown_law_puts_the_kernel_outside_the_class(steps, problem):
    model = _model(*steps)
    route = _route(model, "k")
    assert not route.exact and problem in route.reason
    with pytest.raises(keras_fracinit.UnsupportedActivationError, match="'k' \\(Conv2D: the path"):
        keras_fracinit.initialize(model, 1.0, seed=0)


def test_average_pooling_is_read_only_after_a_kernel_applied_per_location():
    einsum = keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 4), name="k")
    steps = [keras.layers.AveragePooling1D(2, name="avg"), keras.layers.ReLU(name="relu")]
    assert _route(_model(*steps, inputs=(6, 4), kernel=einsum), "k").reason.endswith(
        "averages over locations here"
    )
    steps = [keras.layers.AveragePooling1D(2, name="avg"), keras.layers.ReLU(name="relu")]
    dense = keras.layers.Dense(4, name="k")
    assert _route(_model(*steps, inputs=(6, 4), kernel=dense), "k").exact


def test_dropout_anywhere_on_the_path_compounds_into_the_gain():
    model = _model(
        keras.layers.Dropout(0.5, name="d1"),
        keras.layers.ReLU(name="relu"),
        keras.layers.Dropout(0.2, name="d2"),
    )
    route = _route(model, "k")
    assert (route.activation, route.dropout) == ("relu", pytest.approx(1 - 0.5 * 0.8))
    (entry,) = keras_fracinit.initialize(model, 0.8, seed=0)
    expected = FractionalMomentNormal(0.8, "relu", dropout=1 - 0.5 * 0.8).stddev((3, 3, 4, 4))
    assert entry.stddev == pytest.approx(expected, rel=1e-12)


def test_a_path_into_a_nested_model_is_followed():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.ReLU(name="inner_relu")], name="inner")
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(2, name="head")(inner(keras.layers.Dense(4, name="k")(x))))
    route = _route(model, "k")
    assert (route.activation, route.found_in) == ("relu", "inner > inner_relu")


def test_linear_means_a_linear_map_or_the_output_and_a_head_makes_logits():
    model = _model(
        keras.layers.Flatten(name="flat"), keras.layers.Dense(3, activation="softmax", name="head")
    )
    assert (_route(model, "k").activation, _route(model, "k").found_in) == (
        "linear",
        "flat > head (linear map)",
    )
    assert _route(model, "head").found_in == "layer (softmax head: logits)"
    model = _model(keras.layers.Flatten(name="flat"))
    assert _route(model, "k").found_in == "flat > model output"


def test_time_distributed_reads_its_inner_layer_and_bidirectional_names_both_directions():
    x = keras.Input((5, 8))
    y = keras.layers.TimeDistributed(keras.layers.Dense(6, activation="relu", name="dense"), name="td")(x)
    y = keras.layers.Bidirectional(keras.layers.LSTM(4), name="bi")(y)
    report = keras_fracinit.initialize(keras.Model(x, y), 1.0, seed=0, on_unsupported="warn")
    names = [r.layer for r in report]
    assert names[0] == "td/dense" and report[0].status == "initialized" and report[0].activation == "relu"
    assert any(n.startswith("bi/forward_lstm/") for n in names) and any(
        n.startswith("bi/backward_lstm/") for n in names
    )
    assert all(r.status == "skipped" for r in report[1:])


def test_frozen_kernels_are_left_alone_unless_asked():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu", name="base")])
    model.get_layer("base").trainable = False
    before = keras.ops.convert_to_numpy(model.get_layer("base").kernel).copy()
    (entry,) = keras_fracinit.initialize(model, 1.0, seed=0)
    assert entry.status == "skipped" and "frozen" in entry.reason
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("base").kernel), before)
    (entry,) = keras_fracinit.initialize(model, 1.0, seed=0, include_frozen=True)
    assert entry.status == "initialized"


class _OwnKernel(keras.layers.Layer):
    """A custom layer with its own kernel and an `activation` attribute: how call() uses it is unknown."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.activation = keras.activations.relu

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 4), name="kernel")

    def call(self, x):
        return self.activation(keras.ops.matmul(x, self.kernel) + 1.0)


def test_an_unknown_layers_own_kernel_is_never_drawn_from_its_activation_attribute():
    x = keras.Input((6,))
    model = keras.Model(x, _OwnKernel(name="custom")(x))
    with pytest.raises(
        keras_fracinit.UnsupportedActivationError, match="how _OwnKernel 'custom' uses this weight"
    ):
        keras_fracinit.initialize(model, 1.0, seed=0)
    data = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    (entry,) = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=data)
    assert entry.status == "calibrated" and entry.rule == "keras fans (unknown layer)"
