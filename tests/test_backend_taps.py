"""`keras_fracinit._backend.taps`: one pass reduces chosen layers' signals."""

import keras
import numpy as np
import pytest

from keras_fracinit._backend import keras_private
from keras_fracinit._backend import taps
from keras_fracinit._graph import model_layers


def _mean_square(tensor):
    tensor = keras.ops.cast(tensor, "float32")
    return keras.ops.mean(keras.ops.square(tensor), axis=tuple(range(1, len(tensor.shape))))


def _numpy_mean_square(array):
    array = np.asarray(array, dtype=np.float64)
    return np.mean(array.reshape(len(array), -1) ** 2, axis=1)


def _nested_model():
    inner = keras.Sequential(
        [keras.layers.Dense(8, activation="relu", name="i1"), keras.layers.Dense(6, name="i2")],
        name="inner",
    )
    block_in = keras.Input((6,))
    block = keras.Model(block_in, keras.layers.Dense(5, name="fd")(block_in), name="block")
    x = keras.Input((4, 4, 2), name="image")
    h = keras.layers.Conv2D(3, 2, activation="relu", name="conv")(x)
    h = keras.layers.Flatten(name="flat")(h)
    h = keras.layers.Dense(16, activation="relu", name="a")(h)
    h = inner(h)
    return keras.Model(x, block(h), name="outer")


def test_reductions_equal_per_layer_submodels_in_nested_models():
    model = _nested_model()
    kernels = {path: layer for path, layer in model_layers.named_layers(model) if hasattr(layer, "kernel")}
    assert list(kernels) == ["conv", "a", "inner/i1", "inner/i2", "block/fd"]
    result = taps.tap_model(model, kernels, _mean_square)
    assert result.tapped == list(kernels) and result.untapped == []
    x = np.random.default_rng(0).standard_normal((7, 4, 4, 2)).astype("float32")
    reductions = result.model.predict_on_batch(x)

    # Independent: chain the layers by hand in numpy-visible steps.
    conv_out = model.get_layer("conv")(x)
    a_in = model.get_layer("flat")(conv_out)
    a_out = model.get_layer("a")(a_in)
    inner = model.get_layer("inner")
    i1_out = inner.get_layer("i1")(a_out)
    i2_out = inner.get_layer("i2")(i1_out)
    fd_out = model.get_layer("block").get_layer("fd")(i2_out)
    expected = {
        "conv": (x, conv_out),
        "a": (a_in, a_out),
        "inner/i1": (a_out, i1_out),
        "inner/i2": (i1_out, i2_out),
        "block/fd": (i2_out, fd_out),
    }
    for path, (layer_in, layer_out) in expected.items():
        np.testing.assert_allclose(
            reductions[path + "/input"], _numpy_mean_square(keras.ops.convert_to_numpy(layer_in)), rtol=1e-5
        )
        np.testing.assert_allclose(
            reductions[path + "/output"], _numpy_mean_square(keras.ops.convert_to_numpy(layer_out)), rtol=1e-5
        )
    np.testing.assert_allclose(
        reductions["block/fd/output"], _numpy_mean_square(model.predict_on_batch(x)), rtol=1e-5
    )


def test_shares_weights_and_creates_none():
    model = _nested_model()
    kernels = {path: layer for path, layer in model_layers.named_layers(model) if hasattr(layer, "kernel")}
    result = taps.tap_model(model, kernels, _mean_square)
    assert len(result.model.weights) == len(model.weights)
    assert {id(w) for w in result.model.weights} == {id(w) for w in model.weights}
    x = np.ones((2, 4, 4, 2), "float32")
    before = result.model.predict_on_batch(x)["block/fd/output"]
    layer = model.get_layer("block").get_layer("fd")
    layer.kernel.assign(2.0 * layer.kernel)
    after = result.model.predict_on_batch(x)["block/fd/output"]
    np.testing.assert_allclose(after, 4.0 * before, rtol=1e-5)


def test_dict_inputs_and_a_subset_of_layers():
    left, right = keras.Input((3,), name="left"), keras.Input((2,), name="right")
    h = keras.layers.Concatenate()([keras.layers.Dense(4, name="l")(left), right])
    model = keras.Model({"left": left, "right": right}, keras.layers.Dense(1, name="out")(h))
    result = taps.tap_model(model, {"out": model.get_layer("out")}, _mean_square)
    x = {"left": np.ones((3, 3), "float32"), "right": np.full((3, 2), 2.0, "float32")}
    reductions = result.model.predict_on_batch(x)
    assert sorted(reductions) == ["out/input", "out/output"]
    concatenated = np.concatenate(
        [keras.ops.convert_to_numpy(model.get_layer("l")(x["left"])), x["right"]], 1
    )
    np.testing.assert_allclose(reductions["out/input"], _numpy_mean_square(concatenated), rtol=1e-5)


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3, name="hidden")

    def call(self, x):
        return self.dense(x)


def test_subclassed_models_are_reported_not_tapped():
    sub = _Subclassed()
    sub(np.ones((1, 3), "float32"))
    with pytest.raises(ValueError, match="Argument `model` must be a Sequential or functional"):
        taps.tap_model(sub, {"hidden": sub.dense}, _mean_square)
    assert not taps.is_tappable(sub)

    x = keras.Input((3,))
    outer = keras.Model(x, keras.layers.Dense(2, name="after")(sub(x)))
    layers = {path: layer for path, layer in model_layers.named_layers(outer) if hasattr(layer, "kernel")}
    result = taps.tap_model(outer, layers, _mean_square)
    assert result.tapped == ["after"]
    assert result.untapped == [path for path in layers if path != "after"]


def test_a_keras_without_the_graph_runner_leaves_models_untapped(monkeypatch):
    model = _nested_model()
    assert taps.is_tappable(model)
    owner = next(cls for cls in keras_private.Functional.__mro__ if "_run_through_graph" in vars(cls))
    monkeypatch.delattr(owner, "_run_through_graph")
    monkeypatch.setattr(keras_private, "_warned", set())
    with pytest.warns(UserWarning, match="no `Functional._run_through_graph`"):
        assert not taps.is_tappable(model)


def test_span_moments_from_the_tap_model_and_from_recorded_calls_agree_with_numpy():
    # The same two spans, once visible (one compiled tap model) and once
    # marked hidden (one eager pass recording the layers' calls).
    layers = [keras.layers.Dense(7, activation="relu", name="a"), keras.layers.Dense(3, name="b")]
    model = keras.Sequential([keras.Input((5,)), *layers])
    a, b = layers
    x = np.random.default_rng(1).normal(size=(9, 5)).astype("float32")
    s = 0.8

    def moment(values):  # the per-unit RMS of each sample, to the power s
        values = np.asarray(keras.ops.convert_to_numpy(values), np.float64)
        return np.sqrt(np.mean(values**2, axis=1)) ** s

    expected = {"a": (moment(x), moment(a(x))), "ab": (moment(x), moment(model(x)))}
    for visible in (True, False):
        spans = {"a": taps.Span(a, a, visible), "ab": taps.Span(a, b, visible)}
        measured = taps.SpanMoments(model, spans, taps.SizeMoment(s))
        assert (measured.tap is not None) is visible
        for key, (inputs, outputs) in measured(x).items():
            np.testing.assert_allclose(inputs, expected[key][0], rtol=1e-5)
            np.testing.assert_allclose(outputs, expected[key][1], rtol=1e-5)


def test_attention_projections_are_tapped_in_the_compiled_pass_as_the_eager_pass_records_them():
    query, value = keras.Input((5, 4)), keras.Input((7, 6))
    mha = keras.layers.MultiHeadAttention(2, 3, name="mha")
    model = keras.Model([query, value], mha(query, value))
    rng = np.random.default_rng(0)
    data = [rng.normal(size=(9, 5, 4)).astype("float32"), rng.normal(size=(9, 7, 6)).astype("float32")]
    denses = {"q": mha.query_dense, "k": mha.key_dense, "v": mha.value_dense}
    tapped = taps.SpanMoments(
        model, {n: taps.Span(d, d, True) for n, d in denses.items()}, taps.SizeMoment(1.0)
    )
    recorded = taps.SpanMoments(
        model, {n: taps.Span(d, d, False) for n, d in denses.items()}, taps.SizeMoment(1.0)
    )
    assert tapped.tap is not None and tapped.recorded == []
    ours, eager = tapped(data), recorded(data)
    for name in denses:
        for a, b in zip(ours[name], eager[name]):
            np.testing.assert_allclose(a, b, rtol=1e-5)
    # the key and value projections read the value input, the query the query input
    np.testing.assert_allclose(ours["k"][0], ours["v"][0])
    assert not np.allclose(ours["q"][0][:1], ours["k"][0][:1])


def test_stateless_function_reads_current_weights_and_changes_no_variable():
    class Counting(keras.layers.Layer):
        def build(self, input_shape):
            self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

        def call(self, inputs):
            self.calls.assign(self.calls + 1)
            return inputs * self.w

    inputs = keras.Input((3,))
    layer = Counting()
    model = keras.Model(inputs, layer(inputs))
    run = taps.stateless_function(model)
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(run(x)), x)
    layer.w.assign(2 * np.ones(3, "float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(run(x)), 2 * x)
    assert float(keras.ops.convert_to_numpy(layer.calls)) == 0


def test_compiled_recording_pass_equals_the_eager_one_and_changes_nothing():
    import model_zoo

    for build in (model_zoo.hidden_relu, model_zoo.counting):
        model, batch = build()
        layer = model.layers[0]
        spans = {"k": taps.Span(layer, layer, False)}
        compiled = taps.SpanMoments(model, spans, taps.SizeMoment(0.7), compiled=True)
        eager = taps.SpanMoments(model, spans, taps.SizeMoment(0.7))
        for _ in range(2):  # the second call reuses the compiled function
            ours, theirs = compiled(batch)["k"], eager(batch)["k"]
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a, b, rtol=1e-5)
        assert compiled._run_recorded is not None
        if build is model_zoo.counting:
            assert int(keras.ops.convert_to_numpy(model.calls)) == 0


@pytest.mark.backends("jax")
@pytest.mark.parametrize("refuse", [False, True])
def test_measuring_passes_compile_fast_on_cpu_and_fall_back_to_the_default_compile(monkeypatch, refuse):
    import jax

    asked, real_jit = [], jax.jit

    def spy_jit(function, compiler_options=None):
        jitted = real_jit(function)

        def run(*arguments):
            asked.append(compiler_options)
            if compiler_options and refuse:
                raise ValueError("No such compile option")
            return jitted(*arguments)

        return run

    monkeypatch.setattr(jax, "jit", spy_jit)
    double = taps._jit_for_measuring(lambda x: 2 * x)
    np.testing.assert_array_equal(np.asarray(double(np.ones(3, "float32"))), 2 * np.ones(3))
    expected = [taps._FAST_CPU_COMPILE] if jax.default_backend() == "cpu" else [None]
    assert asked == (expected + [None] if refuse and expected[0] else expected)
    double(np.ones(3, "float32"))  # a refused option is not asked for again
    assert asked[-1] == (None if refuse else expected[0])
