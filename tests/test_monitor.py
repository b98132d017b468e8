"""`FractionalMomentMonitor`: the values it logs, checked against independent recomputations."""

import csv
import math
import warnings

import keras
import numpy as np
import pytest
from helpers import batches_py_dataset
from monitor_models import conv_nested
from monitor_models import data
from monitor_models import dense_stack
from monitor_models import eager_kernel_signals
from monitor_models import numpy_of
from monitor_models import s_moment

from keras_fracinit import FractionalMomentMonitor
from keras_fracinit import FractionalMomentNormal
from keras_fracinit.tails import estimators
from keras_fracinit.theory import moments


@pytest.mark.parametrize("build, inputs", [(dense_stack, (6,)), (conv_nested, (5, 5, 2))])
def test_logged_values_equal_an_independent_recomputation(build, inputs, tmp_path):
    model = build()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    x, y = data(inputs=inputs)
    s = 0.8
    monitor = FractionalMomentMonitor(s, probe=x[:40])
    csv_path = tmp_path / "log.csv"
    history = model.fit(
        x,
        y,
        batch_size=16,
        epochs=3,
        verbose=0,
        callbacks=[monitor, keras.callbacks.CSVLogger(str(csv_path))],
    )
    signals, _ = eager_kernel_signals(model.layers, x[:40])
    assert list(signals) == monitor.layer_paths
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    for path, (layer, layer_in, layer_out) in signals.items():
        expected = {
            f"s_moment/{path}": s_moment(layer_out, s),
            f"s_moment_ratio/{path}": s_moment(layer_out, s) / s_moment(layer_in, s),
            f"kernel_s_moment/{path}": float(np.mean(np.abs(numpy_of(layer.kernel)) ** s)),
        }
        for key, value in expected.items():
            assert history.history[key][-1] == pytest.approx(value, rel=1e-4), key
            assert monitor.history[key][-1] == history.history[key][-1]
            assert float(rows[-1][key]) == pytest.approx(value, rel=1e-4), key
            assert len(history.history[key]) == 3
    assert monitor.epochs == [0, 1, 2]


@pytest.mark.parametrize("head", ["softmax", "sigmoid"])
def test_a_classifier_head_is_measured_on_its_logits(head):
    rng = np.random.default_rng(0)
    model = keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(5, activation=head),
        ]
    )
    x = rng.standard_normal((64, 12)).astype("float32")
    s = 1.0
    monitor = FractionalMomentMonitor(s, probe=x)
    monitor.set_model(model)
    values = monitor.measure()
    hidden, out = model.layers
    h = numpy_of(hidden(x))
    logits = h @ numpy_of(out.kernel) + numpy_of(out.bias)
    path = out.name
    assert values[f"s_moment/{path}"] == pytest.approx(s_moment(logits, s), rel=1e-4)
    assert values[f"s_moment_ratio/{path}"] == pytest.approx(s_moment(logits, s) / s_moment(h, s), rel=1e-4)
    # a second monitor (the first one's tap model now also calls the head) sees the same
    again = FractionalMomentMonitor(s, probe=x)
    again.set_model(model)
    assert again.measure()[f"s_moment/{path}"] == pytest.approx(values[f"s_moment/{path}"], rel=1e-6)
    # the model itself still ends in the head's activation
    probabilities = numpy_of(model(x))
    assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_functional_model_with_a_nested_functional_block():
    block_in = keras.Input((12,))
    block = keras.Model(
        block_in, keras.layers.Dense(10, activation="relu", name="inside")(block_in), name="block"
    )
    x_in = keras.Input((6,))
    h = keras.layers.Dense(12, activation="relu", name="before")(x_in)
    model = keras.Model(x_in, keras.layers.Dense(3, name="after")(block(h)))
    model.compile("sgd", "mse")
    x, y = data()
    monitor = FractionalMomentMonitor(1.0, probe=x[:24])
    history = model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.layer_paths == ["before", "block/inside", "after"]
    h1 = model.get_layer("before")(x[:24])
    h2 = block.get_layer("inside")(h1)
    h3 = model.get_layer("after")(h2)
    for path, (layer_in, layer_out) in {
        "before": (x[:24], h1),
        "block/inside": (h1, h2),
        "after": (h2, h3),
    }.items():
        assert history.history[f"s_moment/{path}"][-1] == pytest.approx(s_moment(layer_out, 1.0), rel=1e-4)
        expected_ratio = s_moment(layer_out, 1.0) / s_moment(layer_in, 1.0)
        assert history.history[f"s_moment_ratio/{path}"][-1] == pytest.approx(expected_ratio, rel=1e-4)


def test_a_monitor_moved_to_another_model_starts_afresh():
    x, y = data()
    monitor = FractionalMomentMonitor()
    first, second = dense_stack(), dense_stack(depth=2)
    for model in (first, second):
        model.compile("sgd", "mse")
    first.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    first.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.epochs == [0, 1, 0] and len(monitor.history["s_moment/hidden2"]) == 3
    second.fit(x[32:], y[32:], batch_size=16, epochs=1, verbose=0, callbacks=[monitor], shuffle=False)
    assert monitor.epochs == [0]
    assert "s_moment/hidden2" not in monitor.history and "s_moment/hidden1" in monitor.history
    np.testing.assert_array_equal(monitor.probe[0], x[32:48])


def test_tail_index_equals_the_per_entry_estimate_of_closed_form_gradients():
    rng = np.random.default_rng(5)
    x = rng.standard_t(1.5, size=(64, 40)).astype("float32")
    y = rng.standard_normal((64, 3)).astype("float32")
    model = keras.Sequential([keras.Input((40,)), keras.layers.Dense(3, use_bias=False, name="linear")])
    model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(1.0, probe=(x, y), tail_index=True, gradient_batches=8)
    monitor.set_model(model)
    logged = monitor.measure()["tail_index/linear"]
    w = numpy_of(model.get_layer("linear").kernel)
    gradients = []
    for i in range(8):
        bx, by = x[8 * i : 8 * i + 8].astype(np.float64), y[8 * i : 8 * i + 8]
        gradients.append(2.0 / (8 * 3) * bx.T @ (bx @ w - by))
    gradients = np.stack(gradients)
    expected = estimators.per_entry_tail_index(gradients)
    assert logged == pytest.approx(expected, rel=1e-3)


def test_an_infinite_tail_index_warns_once(monkeypatch):
    from keras_fracinit.monitor import callback

    # The estimate is inf where block sums grow no faster than single draws
    # (light-tailed noise of a small layer); forced here.
    monkeypatch.setattr(callback._gradient_noise, "noise_tail_index", lambda noise: math.inf)
    x, y = data(n=64)
    model = dense_stack()
    model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(probe=(x, y), tail_index=True)
    monitor.set_model(model)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        first = monitor.measure()
        monitor.measure()
    assert first["tail_index/head"] == math.inf
    assert len([w for w in record if "no finite tail index" in str(w.message)]) == 1


def _probe_source(kind, x, y, batch_size):
    if kind == "arrays":
        return {"x": x, "y": y, "batch_size": batch_size, "shuffle": False}
    if kind == "tf.data":
        import tensorflow as tf

        return {"x": tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size), "shuffle": False}
    if kind == "generator":

        def batches():
            for i in range(0, len(x), batch_size):
                yield x[i : i + batch_size], y[i : i + batch_size]

        return {"x": batches(), "steps_per_epoch": len(x) // batch_size, "shuffle": False}

    return {"x": batches_py_dataset(x, y, batch_size), "shuffle": False}


@pytest.mark.parametrize("kind", ["arrays", "tf.data", "generator", "PyDataset"])
def test_default_probe_is_the_first_training_batch_and_training_sees_every_batch(kind):
    x, y = data(n=64)
    model = dense_stack()
    model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(tail_index=True, gradient_batches=4)
    seen = []

    class CountBatches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    model.fit(**_probe_source(kind, x, y, 16), epochs=1, verbose=0, callbacks=[monitor, CountBatches()])
    np.testing.assert_array_equal(monitor.probe[0], x[:16])
    np.testing.assert_array_equal(monitor.probe[1], y[:16])
    assert seen == [0, 1, 2, 3]
    assert math.isfinite(monitor.history["tail_index/hidden0"][0])


def test_ratios_at_initialization_are_one_for_the_scheme_and_below_one_for_he():
    # Given a layer's input, E_W[s-moment of the output] equals the input's
    # for FractionalMomentNormal(s), and (2/g_s)^(s/2) times it for He: each
    # logged ratio is an unbiased draw around that value, and ratios of
    # successive layers or fresh networks are uncorrelated (martingale
    # differences), so their mean has standard error sd/sqrt(count).
    width, depth, s, networks = 8, 8, 0.5, 48
    probe = np.random.default_rng(6).standard_normal((256, width)).astype("float32")
    model = keras.Sequential(
        [keras.Input((width,))]
        + [keras.layers.Dense(width, "relu", use_bias=False, name=f"d{i}") for i in range(depth)]
    )
    monitor = FractionalMomentMonitor(s, probe=probe, kernels=False)
    monitor.set_model(model)

    def ratios(make_initializer):
        values = []
        for network in range(networks):
            for i, layer in enumerate(model.layers):
                layer.kernel.assign(make_initializer(1000 * network + i)((width, width)))
            measured = monitor.measure()
            values += [measured[f"s_moment_ratio/d{i}"] for i in range(depth)]
        values = np.array(values)
        return values.mean(), values.std(ddof=1) / math.sqrt(len(values))

    ours, ours_se = ratios(lambda seed: FractionalMomentNormal(s, seed=seed))
    he, he_se = ratios(
        lambda seed: keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=seed)
    )
    he_expected = (2.0 / moments.moment_gain(s, "relu", width=width)) ** (s / 2)
    assert abs(ours - 1.0) < 4 * ours_se
    assert abs(he - he_expected) < 4 * he_se
    assert he < 1.0 - 4 * he_se


def _monitor_warnings(record):
    return [w for w in record if "FractionalMomentMonitor" in str(w.message)]


def test_nonfinite_signal_is_logged_as_nan_with_one_warning_and_training_continues():
    x, y = data()
    model = dense_stack()
    # Once poisoned, every trainable weight turns nan at the next step; the
    # frozen first layer shows that the layers before it stay finite.
    model.get_layer("hidden0").trainable = False
    model.compile("sgd", "mse")

    class Poison(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                kernel = model.get_layer("head").kernel
                kernel.assign(keras.ops.full(kernel.shape, float("nan")))

    monitor = FractionalMomentMonitor(probe=x[:16])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[monitor, Poison()])
    assert len(_monitor_warnings(record)) == 1
    assert "'head'" in str(_monitor_warnings(record)[0].message)
    assert len(history.history["loss"]) == 3
    for key in ("s_moment/head", "s_moment_ratio/head", "kernel_s_moment/head"):
        assert math.isfinite(history.history[key][0]), key
        assert all(math.isnan(v) for v in history.history[key][1:]), key
    for key in ("s_moment/hidden0", "s_moment_ratio/hidden0", "kernel_s_moment/hidden0"):
        assert all(math.isfinite(v) for v in history.history[key]), key


class SubclassedModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(8, activation="relu", name="hidden")
        self.head = keras.layers.Dense(3, name="head")

    def call(self, x):
        return self.head(self.hidden(x))


def test_subclassed_model_gets_kernel_statistics_and_one_warning():
    x, y = data()
    model = SubclassedModel()
    model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(probe=x[:16])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    messages = _monitor_warnings(record)
    assert len(messages) == 1 and "subclassed" in str(messages[0].message)
    expected = float(np.mean(np.abs(numpy_of(model.hidden.kernel))))
    assert history.history["kernel_s_moment/hidden"][-1] == pytest.approx(expected, rel=1e-5)
    # measured in an eager pass, each layer from its own input to its own output
    hidden = numpy_of(model.hidden(x[:16]))
    head = numpy_of(model.head(hidden))
    assert history.history["s_moment_ratio/head"][-1] == pytest.approx(
        s_moment(head, 1.0) / s_moment(hidden, 1.0), rel=1e-4
    )


@pytest.mark.backends("tensorflow", "jax")
def test_mixed_precision_values_are_computed_in_float32():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        x, y = data()
        model = dense_stack()
        model.compile("sgd", "mse")
        monitor = FractionalMomentMonitor(0.5, probe=x[:32])
        history = model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
        signals, _ = eager_kernel_signals(model.layers, x[:32])
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.get_layer("hidden0").compute_dtype == "float16"
    for path, (_, _, layer_out) in signals.items():
        assert keras.backend.standardize_dtype(layer_out.dtype) == "float16"
        assert history.history[f"s_moment/{path}"][-1] == pytest.approx(s_moment(layer_out, 0.5), rel=1e-3)
