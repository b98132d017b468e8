"""`FractionalMomentMonitor` as a Keras callback: saving, frequencies, TensorBoard, plots, errors."""

import csv
import gc
import math
import tracemalloc
import warnings

import keras
import numpy as np
import pytest
from helpers import last_json_line
from helpers import run_fresh_python
from monitor_models import data
from monitor_models import dense_stack

from keras_fracinit import FractionalMomentMonitor


def test_saving_with_the_monitor_attached(tmp_path):
    x, y = data()
    model = dense_stack()
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
    x, y = data()
    model = dense_stack()
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
    x, y = data(n=64)
    model = dense_stack()
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

    x, y = data()
    model = dense_stack()
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
    x, y = data()
    model = dense_stack()
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
    x, y = data()
    model = dense_stack(depth=11)
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
    x, y = data(n=128)
    # 12 hidden layers: hidden10 sorts before hidden2 by name, not in the model.
    model = dense_stack(depth=12)
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
        ({"tail_index": True, "gradient_batches": 3}, r"must be an integer >= 4 \(with tail_index=True\)"),
        ({"probe": 3}, "Argument `probe` must be an array"),
        ({"loss": {"a": "mse"}}, "Argument `loss` must be"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FractionalMomentMonitor(**kwargs)


def test_bad_layers_and_missing_loss_fail_when_training_starts():
    x, y = data()
    model = dense_stack()
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
    uncompiled = dense_stack()
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
    x, y = data(n=32)
    model = dense_stack()
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


def test_keras_own_model_state_test_passes_with_the_monitor_measuring_every_batch():
    # Keras' callback_test.test_model_state_is_current_on_epoch_end, with a
    # Dense added so that there is a kernel to measure: the model's call()
    # counts its calls, and the monitor's measurements must not add to them.
    class TestModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.iterations = self.add_variable(shape=(), initializer="zeros", trainable=False)
            self.dense = keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(0))

        def call(self, inputs):
            self.iterations.assign(self.iterations + 1)
            return self.dense(inputs)

    counted = []

    class CBK(keras.callbacks.Callback):
        def on_batch_end(self, batch, logs):
            counted.append(int(keras.ops.convert_to_numpy(self.model.iterations)))
            assert counted[-1] == batch + 1

    model = TestModel()
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 1)), rng.random((8, 1))
    monitor = FractionalMomentMonitor(probe=x, batch_freq=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the subclassed model's hidden graph
        model.fit(x, y, callbacks=[monitor, CBK()], batch_size=2, verbose=0)
    assert counted == [1, 2, 3, 4] and len(monitor.batches) == 4
    assert int(keras.ops.convert_to_numpy(model.iterations)) == 4


def test_recurrent_kernels_are_tapped_in_the_compiled_pass_and_stay_out_of_the_progress_range():
    import model_zoo

    model, x = model_zoo.lstm_attention()
    monitor = FractionalMomentMonitor(probe=x, kernels=False)
    monitor.set_model(model)
    with warnings.catch_warnings():
        # no "extra eager pass" warning: the LSTM and the attention are graph layers
        warnings.filterwarnings("error", message="FractionalMomentMonitor")
        values = monitor.measure()
    assert monitor._moments.recorded == []
    assert math.isfinite(values["s_moment_ratio/lstm/lstm_cell/kernel"])
    logs = dict(values, loss=1.0)
    logs["s_moment_ratio/lstm/lstm_cell/kernel"] = 1e-6  # would be the minimum if it counted
    compact = monitor._progress.compact(logs)
    drawn = [v for k, v in values.items() if k.startswith("s_moment_ratio/") and "lstm" not in k]
    assert compact["s_ratio_min"] == min(drawn) and compact["loss"] == 1.0


def test_a_lora_model_is_monitored_on_its_base_kernel_without_a_crash():
    import model_zoo

    model, x = model_zoo.lora()
    layer = model.get_layer("hidden")
    monitor = FractionalMomentMonitor(probe=x)
    monitor.set_model(model)
    values = monitor.measure()
    base = np.abs(keras.ops.convert_to_numpy(layer._kernel))
    assert values["kernel_s_moment/hidden"] == pytest.approx(float(np.mean(base)), rel=1e-5)
    assert math.isfinite(values["s_moment_ratio/hidden"])
