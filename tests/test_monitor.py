"""`FractionalMomentMonitor`: logged values, Keras integration and robustness."""

import csv
import gc
import math
import tracemalloc
import warnings

import keras
import numpy as np
import pytest
from helpers import batches_py_dataset
from helpers import last_json_line
from helpers import run_fresh_python

from keras_fracinit import FractionalMomentMonitor
from keras_fracinit import FractionalMomentNormal
from keras_fracinit import tail_index as tail_index_lib
from keras_fracinit.theory import moments


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def _s_moment(array, s):
    array = _numpy(array)
    return float(np.mean(np.mean(array.reshape(len(array), -1) ** 2, axis=1) ** (s / 2)))


def _data(n=96, inputs=(6,), outputs=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *inputs)).astype("float32")
    y = rng.standard_normal((n, outputs)).astype("float32")
    return x, y


def _dense_stack(inputs=6, width=16, depth=3, outputs=3, s=1.0):
    init = FractionalMomentNormal(s, seed=keras.random.SeedGenerator(1))
    return keras.Sequential(
        [keras.Input((inputs,))]
        + [
            keras.layers.Dense(width, "relu", kernel_initializer=init, name=f"hidden{i}")
            for i in range(depth)
        ]
        + [keras.layers.Dense(outputs, name="head")]
    )


def _conv_nested():
    inner = keras.Sequential(
        [keras.layers.Dense(12, activation="relu", name="inner_a"), keras.layers.Dense(8, name="inner_b")],
        name="inner",
    )
    return keras.Sequential(
        [
            keras.Input((5, 5, 2)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.Flatten(),
            inner,
            keras.layers.Activation("relu"),
            keras.layers.Dense(3, name="head"),
        ]
    )


def _flat_layers(layers, prefix=""):
    for layer in layers:
        if isinstance(layer, keras.Sequential):
            yield from _flat_layers(layer.layers, prefix + layer.name + "/")
        else:
            yield prefix + layer.name, layer


def _eager_kernel_signals(layers, h):
    """`{path: (layer, input, output)}` of kernel layers, calling each layer eagerly in turn.

    The output is the end of the kernel's path: a linear layer's output after
    the activation layer that follows it.
    """
    signals, flat = {}, list(_flat_layers(layers))
    for index, (path, layer) in enumerate(flat):
        out = layer(h)
        if hasattr(layer, "kernel"):
            end = out
            following = flat[index + 1][1] if index + 1 < len(flat) else None
            if layer.activation is keras.activations.linear and isinstance(
                following, keras.layers.Activation
            ):
                end = following(out)
            signals[path] = (layer, h, end)
        h = out
    return signals, h


@pytest.mark.parametrize("build, inputs", [(_dense_stack, (6,)), (_conv_nested, (5, 5, 2))])
def test_logged_values_equal_an_independent_recomputation(build, inputs, tmp_path):
    model = build()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    x, y = _data(inputs=inputs)
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
    signals, _ = _eager_kernel_signals(model.layers, x[:40])
    assert list(signals) == monitor.layer_paths
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    for path, (layer, layer_in, layer_out) in signals.items():
        expected = {
            f"s_moment/{path}": _s_moment(layer_out, s),
            f"s_moment_ratio/{path}": _s_moment(layer_out, s) / _s_moment(layer_in, s),
            f"kernel_s_moment/{path}": float(np.mean(np.abs(_numpy(layer.kernel)) ** s)),
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
    h = _numpy(hidden(x))
    logits = h @ _numpy(out.kernel) + _numpy(out.bias)
    path = out.name
    assert values[f"s_moment/{path}"] == pytest.approx(_s_moment(logits, s), rel=1e-4)
    assert values[f"s_moment_ratio/{path}"] == pytest.approx(_s_moment(logits, s) / _s_moment(h, s), rel=1e-4)
    # a second monitor (the first one's tap model now also calls the head) sees the same
    again = FractionalMomentMonitor(s, probe=x)
    again.set_model(model)
    assert again.measure()[f"s_moment/{path}"] == pytest.approx(values[f"s_moment/{path}"], rel=1e-6)
    # the model itself still ends in the head's activation
    probabilities = _numpy(model(x))
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
    x, y = _data()
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
        assert history.history[f"s_moment/{path}"][-1] == pytest.approx(_s_moment(layer_out, 1.0), rel=1e-4)
        expected_ratio = _s_moment(layer_out, 1.0) / _s_moment(layer_in, 1.0)
        assert history.history[f"s_moment_ratio/{path}"][-1] == pytest.approx(expected_ratio, rel=1e-4)


def test_a_monitor_moved_to_another_model_starts_afresh():
    x, y = _data()
    monitor = FractionalMomentMonitor()
    first, second = _dense_stack(), _dense_stack(depth=2)
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
    w = _numpy(model.get_layer("linear").kernel)
    gradients = []
    for i in range(8):
        bx, by = x[8 * i : 8 * i + 8].astype(np.float64), y[8 * i : 8 * i + 8]
        gradients.append(2.0 / (8 * 3) * bx.T @ (bx @ w - by))
    gradients = np.stack(gradients)
    expected = tail_index_lib.per_entry_tail_index(gradients)
    assert logged == pytest.approx(expected, rel=1e-3)


def test_an_infinite_tail_index_warns_once(monkeypatch):
    from keras_fracinit.monitor import callback

    # The estimate is inf where block sums grow no faster than single draws
    # (light-tailed noise of a small layer); forced here.
    monkeypatch.setattr(callback.gradient_noise, "noise_tail_index", lambda noise: math.inf)
    x, y = _data(n=64)
    model = _dense_stack()
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
    x, y = _data(n=64)
    model = _dense_stack()
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
    x, y = _data()
    model = _dense_stack()
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
    x, y = _data()
    model = SubclassedModel()
    model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(probe=x[:16])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    messages = _monitor_warnings(record)
    assert len(messages) == 1 and "subclassed" in str(messages[0].message)
    expected = float(np.mean(np.abs(_numpy(model.hidden.kernel))))
    assert history.history["kernel_s_moment/hidden"][-1] == pytest.approx(expected, rel=1e-5)
    # measured in an eager pass, each layer from its own input to its own output
    hidden = _numpy(model.hidden(x[:16]))
    head = _numpy(model.head(hidden))
    assert history.history["s_moment_ratio/head"][-1] == pytest.approx(
        _s_moment(head, 1.0) / _s_moment(hidden, 1.0), rel=1e-4
    )


@pytest.mark.backends("tensorflow", "jax")
def test_mixed_precision_values_are_computed_in_float32():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        x, y = _data()
        model = _dense_stack()
        model.compile("sgd", "mse")
        monitor = FractionalMomentMonitor(0.5, probe=x[:32])
        history = model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
        signals, _ = _eager_kernel_signals(model.layers, x[:32])
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.get_layer("hidden0").compute_dtype == "float16"
    for path, (_, _, layer_out) in signals.items():
        assert keras.backend.standardize_dtype(layer_out.dtype) == "float16"
        assert history.history[f"s_moment/{path}"][-1] == pytest.approx(_s_moment(layer_out, 0.5), rel=1e-3)


def test_saving_with_the_monitor_attached(tmp_path):
    x, y = _data()
    model = _dense_stack()
    model.compile("sgd", "mse")
    config = model.get_config()
    checkpoint = tmp_path / "model.keras"
    model.fit(
        x,
        y,
        epochs=2,
        verbose=0,
        callbacks=[FractionalMomentMonitor(), keras.callbacks.ModelCheckpoint(str(checkpoint))],
    )
    assert model.get_config() == config
    restored = keras.saving.load_model(checkpoint)
    np.testing.assert_allclose(restored.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-6)


def test_repeated_measurements_do_not_grow_memory():
    x, y = _data()
    model = _dense_stack()
    model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(probe=x[:32])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    probe_model = monitor.probe_model
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.probe_model is probe_model  # built once per model
    for _ in range(400):
        monitor.measure()
    tracemalloc.start()
    gc.collect()  # reference cycles (closures in pytree helpers) are garbage, not growth
    start, _ = tracemalloc.get_traced_memory()
    with warnings.catch_warnings():
        # pytest would keep every warning (torch's DeprecationWarning in Keras'
        # convert_to_numpy fires on each call) and that memory is not ours.
        warnings.simplefilter("ignore")
        for _ in range(1600):
            monitor.measure()
    gc.collect()
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # The backends' bounded caches still fill here (measured: 50-80 KB in
    # all, most of it in the first 400 calls, then a few bytes per call);
    # keeping even one small object per logged value (12 per call) would
    # cost over 600 bytes per call, 1 MB in all.
    assert end - start < 1600 * 100


def test_measure_freq_and_batch_freq_measure_the_current_weights(tmp_path):
    x, y = _data(n=64)
    model = _dense_stack()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    monitor = FractionalMomentMonitor(probe=x[:16], measure_freq=2, batch_freq=4)
    logger = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[monitor, logger])
    with open(tmp_path / "log.csv") as handle:
        column = [row["s_moment/head"] for row in csv.DictReader(handle)]
    assert column[1] == column[3] == "NA"
    assert [float(column[0]), float(column[2])] == monitor.history["s_moment/head"]
    assert monitor.epochs == [0, 2]
    assert monitor.batches == [4, 8, 12, 16]
    assert len(monitor.history["s_moment/head"]) == 2
    assert len(history.history["s_moment/head"]) == 2
    # After the last batch of an epoch the weights are those of the epoch
    # end (on JAX this needs the state sync the monitor triggers).
    for key in monitor.history:
        assert monitor.batch_history[key][0] == monitor.history[key][0], key
        assert monitor.batch_history[key][2] == monitor.history[key][1], key
    assert (
        monitor.batch_history["kernel_s_moment/head"][0] != monitor.batch_history["kernel_s_moment/head"][1]
    )


def test_tensorboard_scalars_from_the_monitor_and_from_keras(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    x, y = _data()
    model = _dense_stack()
    model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(probe=x[:16], log_dir=str(tmp_path / "monitor"))
    keras_board = keras.callbacks.TensorBoard(str(tmp_path / "keras"))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor, keras_board])

    def tags(directory):
        accumulator = event_accumulator.EventAccumulator(str(directory))
        accumulator.Reload()
        return accumulator, set(accumulator.Tags()["tensors"]) | set(accumulator.Tags()["scalars"])

    accumulator, own = tags(tmp_path / "monitor")
    assert {"s_moment/head", "s_moment_ratio/hidden0", "kernel_s_moment/hidden2"} <= own
    events = accumulator.Tensors("s_moment/head")
    assert [e.step for e in events] == [0, 1]
    import tensorflow as tf

    assert float(tf.make_ndarray(events[-1].tensor_proto)) == pytest.approx(
        monitor.history["s_moment/head"][-1], rel=1e-6
    )
    _, from_keras = tags(tmp_path / "keras" / "train")
    assert "epoch_s_moment/head" in from_keras and "epoch_kernel_s_moment/hidden0" in from_keras


def test_plot_draws_one_panel_per_statistic():
    pytest.importorskip("matplotlib")
    x, y = _data()
    model = _dense_stack()
    model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(probe=(x[:32], y[:32]), tail_index=True)
    with pytest.raises(ValueError, match="no epoch has been measured"):
        monitor.plot()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    figure = monitor.plot()
    axes = [a for a in figure.axes if a.get_title()]
    assert [a.get_title().split()[0] for a in axes] == [
        "s_moment",
        "s_moment_ratio",
        "kernel_s_moment",
        "tail_index",
    ]
    # 4 layers, initial point + 2 epochs
    assert all(len(line.get_xdata()) == 3 for line in axes[0].lines if line.get_label() != "_nolegend_")
    assert len(monitor.plot(["s_moment_ratio"]).axes) == 1
    with pytest.raises(ValueError, match="must be among the recorded"):
        monitor.plot(["nope"])


def test_plot_without_tail_index_has_no_empty_panel_and_integer_ticks():
    pytest.importorskip("matplotlib")
    x, y = _data()
    model = _dense_stack(depth=11)
    model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(probe=x[:32])
    model.fit(x, y, epochs=3, verbose=0, callbacks=[monitor])
    figure = monitor.plot()
    panels = [a for a in figure.axes if a.get_title()]
    assert len(panels) == 3 and all(a.get_visible() for a in panels)
    assert len({a.get_position().y0 for a in panels}) == 1  # one row
    colourbar = [a for a in figure.axes if not a.get_title()]
    assert len(colourbar) == 1  # 12 layers: a colour bar, not a legend
    for axis in panels + colourbar:
        ticks = axis.get_xticks() if axis in panels else axis.get_yticks()
        assert np.all(ticks == np.round(ticks))


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_line_stays_short_while_history_and_csv_get_every_value(verbose, tmp_path, capsys):
    x, y = _data(n=128)
    # 12 hidden layers: hidden10 sorts before hidden2 by name, not in the model.
    model = _dense_stack(depth=12)
    model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(probe=(x[:32], y[:32]), tail_index=True)
    csv_path = tmp_path / "log.csv"
    history = model.fit(
        x,
        y,
        epochs=2,
        batch_size=32,
        verbose=verbose,
        callbacks=[monitor, keras.callbacks.CSVLogger(str(csv_path))],
    ).history
    lines = capsys.readouterr().out.replace("\r", "\n").splitlines()
    assert max(len(line) for line in lines) <= 300
    assert "s_ratio_min" in lines[-1] and "s_moment/" not in lines[-1]
    paths = [f"hidden{i}" for i in range(12)] + ["head"]
    expected = [
        f"{name}/{path}"
        for name in ("s_moment", "s_moment_ratio", "kernel_s_moment", "tail_index")
        for path in paths
    ]
    assert [key for key in history if "/" in key] == expected
    assert list(monitor.history) == expected
    assert all(len(history[key]) == 2 for key in expected)
    with open(csv_path) as handle:
        assert set(expected) <= set(handle.readline().strip().split(","))
    # The progress bar is Keras' own again once training ends.
    model.fit(
        x,
        y,
        epochs=1,
        batch_size=32,
        verbose=2,
        callbacks=[
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: logs.update({"s_moment/extra": 1.0})
            )
        ],
    )
    assert "s_moment/extra" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"s": 2.5}, r"Argument `s` must be in \(0, 2\]. Received: s=2.5"),
        ({"measure_freq": 0}, "Argument `measure_freq` must be a positive integer. Received: measure_freq=0"),
        ({"batch_freq": 1.5}, "Argument `batch_freq` must be a positive integer"),
        ({"layers": "dense"}, "Argument `layers` must be a non-empty list"),
        (
            {"tail_index": True, "probe": np.ones((32, 2))},
            r"Argument `probe` must hold targets with tail_index=True: pass probe=\(x, y\)",
        ),
        (
            {"tail_index": True, "probe": (np.ones((8, 2)), np.ones((8, 1)))},
            "needs a probe of at least 16 samples. Received: a probe of 8 samples",
        ),
        ({"tail_index": True, "gradient_batches": 3}, "must be >= 4 with tail_index=True"),
        ({"probe": 3}, "Argument `probe` must be an array"),
        ({"loss": {"a": "mse"}}, "Argument `loss` must be"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FractionalMomentMonitor(**kwargs)


def test_bad_layers_and_missing_loss_fail_when_training_starts():
    x, y = _data()
    model = _dense_stack()
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="Available: .*'hidden0'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[FractionalMomentMonitor(layers=["nope"])])
    model.compile("sgd", loss=lambda t, p: keras.ops.mean((t - p) ** 2))
    monitor = FractionalMomentMonitor(tail_index=True, layers=[model.get_layer("head")])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    assert sorted(monitor.history) == [
        "kernel_s_moment/head",
        "s_moment/head",
        "s_moment_ratio/head",
        "tail_index/head",
    ]
    uncompiled = _dense_stack()
    monitor = FractionalMomentMonitor(probe=(x[:32], y[:32]), tail_index=True)
    monitor.set_model(uncompiled)
    with pytest.raises(ValueError, match="tail_index=True needs one loss"):
        monitor.measure()


MIRRORED = """
    import json
    import numpy as np
    import tensorflow as tf
    import keras
    from keras_fracinit import FractionalMomentMonitor, FractionalMomentNormal

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 6)).astype("float32")
    y = rng.standard_normal((128, 3)).astype("float32")
    with strategy.scope():
        model = keras.Sequential([
            keras.Input((6,)),
            keras.layers.Dense(16, "relu", kernel_initializer=FractionalMomentNormal(1.0), name="hidden"),
            keras.layers.Dense(3, name="head"),
        ])
        model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(tail_index=True, gradient_batches=4)
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False, callbacks=[monitor])
    out = model.get_layer("head")(model.get_layer("hidden")(x[:32]))
    hidden = model.get_layer("hidden")(x[:32])
    def moment(a):
        a = np.asarray(a, np.float64)
        return float(np.mean(np.mean(a ** 2, axis=1) ** 0.5))
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "logged": {k: v[-1] for k, v in history.history.items()},
        "expected_head": moment(out),
        "expected_ratio": moment(out) / moment(hidden),
    }))
"""


@pytest.mark.tensorflow_only
def test_under_mirrored_strategy():
    report = last_json_line(run_fresh_python(MIRRORED, backend="tensorflow", timeout=300))
    assert report["replicas"] == 2
    logged = report["logged"]
    assert logged["s_moment/head"] == pytest.approx(report["expected_head"], rel=1e-4)
    assert logged["s_moment_ratio/head"] == pytest.approx(report["expected_ratio"], rel=1e-4)
    assert math.isfinite(logged["tail_index/hidden"])


def test_an_unbuilt_model_is_named_as_such():
    monitor = FractionalMomentMonitor(probe=np.ones((4, 3), "float32"))
    monitor.set_model(keras.Sequential([keras.layers.Dense(4)]))
    with pytest.raises(ValueError, match="is not built, so it has no kernels yet: build it"):
        monitor.measure()


def test_a_custom_training_loop_gets_values_and_no_progress_bar_warning():
    # A CallbackList driven by hand has no progress bar to compact: nothing to warn about.
    x, y = _data(n=32)
    model = _dense_stack()
    model.compile("sgd", "mse")
    monitor = FractionalMomentMonitor(probe=x)
    callbacks = keras.callbacks.CallbackList([monitor], model=model)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        callbacks.on_train_begin()
        callbacks.on_epoch_begin(0)
        callbacks.on_epoch_end(0, {})
        callbacks.on_train_end()
    assert not [w for w in record if "progress bar" in str(w.message)]
    assert monitor.epochs == [0] and math.isfinite(monitor.history["s_moment_ratio/head"][0])
