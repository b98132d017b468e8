"""`initialize(..., calibrate_with=x)`: the layers outside the paper's class."""

import keras
import numpy as np
import pytest

import keras_fracinit
from fracinit_experiments.small_models import transformer_block


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _ratio(model, x, start, end, s):
    """s-moment ratio from `start`'s input to `end`'s output, by a sub-model
    (independent of the calibration's own measurement)."""
    probe = keras.Model(
        model.input, [start.input if not isinstance(start.input, list) else start.input[0], end.output]
    )
    inputs, outputs = (_numpy(t).reshape(len(x), -1) for t in probe(x))
    # per-unit norms ||.|| / sqrt(n)
    return np.mean(np.sqrt(np.mean(outputs**2, axis=1)) ** s) / np.mean(
        np.sqrt(np.mean(inputs**2, axis=1)) ** s
    )


def resnet_block(channels=8):
    inputs = keras.Input((12, 12, channels))
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="elu", name="conv_1")(inputs)
    x = keras.layers.Conv2D(channels, 3, padding="same", name="conv_2")(x)
    x = keras.layers.Add(name="add")([inputs, x])
    x = keras.layers.Activation("swish", name="swish")(x)
    x = keras.layers.Conv2D(channels, 1, activation="gelu", name="conv_3")(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("s", [1.0, 0.5])
def test_transformer_block_calibrates_the_gelu_layer_and_keeps_exact_gains(s):
    model = transformer_block()
    x = np.random.default_rng(0).normal(size=(64, 10, 32)).astype("float32")
    report = keras_fracinit.initialize(model, s, seed=0, calibrate_with=x)
    entries = {r.layer: r for r in report}
    assert entries["mlp_in"].status == "calibrated" and entries["mlp_in"].activation == "gelu"
    assert abs(entries["mlp_in"].ratio - 1) <= 0.02
    assert abs(_ratio(model, x, model.get_layer("mlp_in"), model.get_layer("mlp_in"), s) - 1) <= 0.02
    exact = [r for r in report if r.layer != "mlp_in"]
    assert {r.status for r in exact} == {"initialized"} and all(r.ratio is None for r in exact)
    # the exact layers keep their exact stddev: calibration leaves them alone
    expected = keras_fracinit.FractionalMomentNormal(s, "linear").stddev((128, 32))
    assert entries["mlp_out"].stddev == pytest.approx(expected, rel=1e-12) and entries["mlp_out"].scale == 1.0
    kernel = _numpy(model.get_layer("mlp_out").kernel)
    assert kernel.std() == pytest.approx(expected, rel=4 / np.sqrt(2 * kernel.size))
    assert "calibrated (ratio" in str(report)


def test_resnet_block_calibrates_elu_swish_and_gelu_in_forward_order():
    model = resnet_block()
    x = np.random.default_rng(1).normal(size=(32, 12, 12, 8)).astype("float32")
    report = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)
    entries = {r.layer: r for r in report}
    assert [r.layer for r in report if r.status == "calibrated"] == ["conv_1", "conv_2", "conv_3"]
    assert entries["conv_2"].found_in == "add > swish"
    for name, end in (("conv_1", "conv_1"), ("conv_2", "swish"), ("conv_3", "conv_3")):
        assert abs(entries[name].ratio - 1) <= 0.02, name
        measured = _ratio(model, x, model.get_layer(name), model.get_layer(end), 1.0)
        assert abs(measured - 1) <= 0.02, name
        assert 0 <= entries[name].iterations <= 10


def test_a_ratio_the_kernel_cannot_move_warns_and_says_so():
    inputs = keras.Input((16,))
    x = keras.layers.Dense(16, activation="tanh", name="tanh")(inputs)
    model = keras.Model(inputs, x)
    # tanh saturates: its output norm can never reach a large input norm
    x = 50.0 * np.random.default_rng(0).normal(size=(64, 16)).astype("float32")
    with pytest.warns(UserWarning, match="1 calibration\\(s\\) stopped short.*'tanh'"):
        (entry,) = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x, max_iterations=3)
    assert "stopped at ratio" in entry.reason and entry.ratio < 0.98
    assert np.all(np.isfinite(_numpy(model.get_layer("tanh").kernel)))


def test_bad_calibration_arguments_change_nothing():
    model = resnet_block()
    before = [_numpy(w).copy() for w in model.weights]
    with pytest.raises(ValueError, match="Argument `tolerance` must be in"):
        keras_fracinit.initialize(model, 1.0, calibrate_with=np.zeros((2, 12, 12, 8)), tolerance=0)
    with pytest.raises(ValueError, match="Argument `max_iterations` must be a positive integer"):
        keras_fracinit.initialize(model, 1.0, calibrate_with=np.zeros((2, 12, 12, 8)), max_iterations=0)
    for weight, old in zip(model.weights, before):
        np.testing.assert_array_equal(_numpy(weight), old)


def test_subclassed_linear_layers_are_calibrated_on_their_own_output():
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.hidden = keras.layers.Dense(32, name="hidden")
            self.out = keras.layers.Dense(4, activation="relu", name="out")

        def call(self, x):
            # a branch on a value: the call() runs eagerly only, so it cannot be traced
            if float(keras.ops.convert_to_numpy(keras.ops.max(x))) > -1e9:
                return self.out(keras.ops.relu(self.hidden(x)))
            return self.out(self.hidden(x))

    model = Net()
    x = np.random.default_rng(2).normal(size=(128, 16)).astype("float32")
    model(x)
    with pytest.warns(UserWarning, match="subclassed"):
        report = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)
    hidden, out = report
    assert hidden.status == "calibrated" and "subclassed" in hidden.reason and abs(hidden.ratio - 1) <= 0.02
    assert not hidden.end_seen and hidden.measured_to == "hidden"
    assert out.status == "initialized"  # its own ReLU is seen
    h = _numpy(model.hidden(x))
    ratio = np.mean(np.linalg.norm(h, axis=1) / np.sqrt(32)) / np.mean(
        np.linalg.norm(x, axis=1) / np.sqrt(16)
    )
    assert abs(ratio - 1) <= 0.02


def test_nothing_to_calibrate_leaves_the_exact_draws():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu")])
    report = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=np.ones((4, 6), "float32"))
    assert report.counts() == {"initialized": 1, "calibrated": 0, "skipped": 0}


def test_a_batch_the_model_cannot_take_leaves_every_kernel_as_it_was():
    model = resnet_block()
    before = [_numpy(w).copy() for w in model.weights]
    with pytest.raises(
        ValueError, match="`calibrate_with` must be a batch .* before any kernel was drawn"
    ) as info:
        keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=np.ones((2, 5, 5, 3), "float32"))
    for weight, old in zip(model.weights, before):
        np.testing.assert_array_equal(_numpy(weight), old)
    # It says what the model takes and what it got, without Keras' tensor names or ANSI codes.
    message = str(info.value)
    assert "(inputs of shape (None, 12, 12, 8)). Received: a batch of shape (2, 5, 5, 3)" in message
    assert "keras_tensor" not in message and "\x1b" not in message and "Arguments received" not in message


def test_an_all_zero_batch_is_refused_before_any_draw():
    model = resnet_block()
    before = [_numpy(w).copy() for w in model.weights]
    with pytest.raises(
        ValueError, match=r"`calibrate_with` must carry a signal.*shape \(4, 12, 12, 8\) that is all zeros"
    ):
        keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=np.zeros((4, 12, 12, 8), "float32"))
    for weight, old in zip(model.weights, before):
        np.testing.assert_array_equal(_numpy(weight), old)


def test_an_error_after_the_draws_says_the_kernels_keep_their_new_values(monkeypatch):
    model = resnet_block()
    x = np.random.default_rng(3).normal(size=(4, 12, 12, 8)).astype("float32")

    def failing(*args, **kwargs):
        raise MemoryError("out of memory in the middle of a calibration")

    monkeypatch.setattr(keras_fracinit.model_init._calibration, "calibrate", failing)
    with pytest.raises(MemoryError) as caught:
        keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)
    assert any("keep their new values" in note for note in caught.value.__notes__)


def test_a_calibration_failing_part_way_puts_its_kernels_back_at_their_linear_draw(monkeypatch):
    model = resnet_block()
    x = np.random.default_rng(3).normal(size=(4, 12, 12, 8)).astype("float32")
    calibration = keras_fracinit.model_init._calibration

    def fails_at_once(*args):
        raise MemoryError("before the first step")

    # the draws alone: a calibration that fails before its first step
    with monkeypatch.context() as patch:
        patch.setattr(calibration, "_calibrate", fails_at_once)
        with pytest.raises(MemoryError):
            keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)
    drawn = [_numpy(w).copy() for w in model.weights]
    # then one that fails after some rescaling steps
    steps, moment = [], calibration._moment

    def failing_moment(tensor, s):
        if len(steps) == 3:
            raise MemoryError("out of memory in the middle of a calibration")
        steps.append(s)
        return moment(tensor, s)

    monkeypatch.setattr(calibration, "_moment", failing_moment)
    rescaled = []
    set_scale = calibration._Search.set_scale
    monkeypatch.setattr(
        calibration._Search, "set_scale", lambda self, scale: rescaled.append(scale) or set_scale(self, scale)
    )
    with pytest.raises(MemoryError, match="middle of a calibration") as caught:
        keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)
    assert rescaled, "the failure must come after a rescaling step"
    assert any("put back at their linear draw" in note for note in caught.value.__notes__)
    for weight, before in zip(model.weights, drawn):
        # rescaled and divided back: float32 rounding apart
        np.testing.assert_allclose(_numpy(weight), before, rtol=1e-6, atol=0)


def test_paths_read_the_same_after_a_tap_model_called_the_layers_again():
    """Tap models (calibration, the monitor) call the model's layers on new inputs,
    which adds consumers to them; initialize reads the model's own graph only."""
    model = resnet_block()
    x = np.random.default_rng(3).normal(size=(16, 12, 12, 8)).astype("float32")
    first = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)
    monitor = keras_fracinit.FractionalMomentMonitor(1.0, probe=x)
    monitor.set_model(model)
    monitor.measure()
    again = keras_fracinit.initialize(model, 0.5, seed=0, calibrate_with=x)
    assert [(r.layer, r.found_in, r.status) for r in again] == [
        (r.layer, r.found_in, r.status) for r in first
    ]


def test_a_batch_of_the_wrong_shape_is_refused_even_when_nothing_needs_calibrating():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu")])
    before = _numpy(model.weights[0]).copy()
    with pytest.raises(
        ValueError, match=r"\(inputs of shape \(None, 6\)\). Received: a batch of shape \(4, 7\)"
    ):
        keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=np.ones((4, 7), "float32"))
    np.testing.assert_array_equal(_numpy(model.weights[0]), before)


def test_a_nonfinite_batch_names_the_sample_and_changes_nothing():
    model = resnet_block()
    batch = np.random.default_rng(0).normal(size=(4, 12, 12, 8)).astype("float32")
    batch[2, 0, 0, 0] = np.nan
    before = [_numpy(w).copy() for w in model.weights]
    with pytest.raises(
        ValueError, match="`calibrate_with` must give finite signals.*non-finite value in sample 2"
    ):
        keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=batch)
    for weight, old in zip(model.weights, before):
        np.testing.assert_array_equal(_numpy(weight), old)


def test_a_signal_that_stops_being_finite_inside_the_model_names_the_layer_and_sample():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(8, kernel_initializer="ones", name="dense")(inputs)
    x = keras.layers.Lambda(keras.ops.sqrt, name="sqrt")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    batch = np.full((6, 4), 0.5, "float32")
    batch[4] = -1.0  # the square root of a negative sum: nan from layer 'sqrt' on, in sample 4 only
    before = [_numpy(w).copy() for w in model.weights]
    with pytest.raises(ValueError, match=r"stops being finite at the output of layer 'sqrt', sample 4"):
        keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=batch)
    for weight, old in zip(model.weights, before):
        np.testing.assert_array_equal(_numpy(weight), old)
