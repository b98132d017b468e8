"""FractionalMomentMonitor with alpha-stable weights: the l_alpha size and each kernel's own tail index."""

import keras
import numpy as np
import pytest

import keras_fracinit


def _model():
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(256, activation="relu", name="hidden"),
            keras.layers.Dense(256, activation="relu", name="wide"),
            keras.layers.Dense(4, name="head"),
        ]
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((128, 64)).astype("float32"), rng.integers(0, 4, 128)


def test_signal_sizes_are_l_alpha_sizes():
    alpha, s = 1.5, 0.8
    model = _model()
    keras_fracinit.initialize(model, s, alpha=alpha, seed=0)
    x, y = _data()
    monitor = keras_fracinit.FractionalMomentMonitor(s, alpha=alpha, probe=(x, y))
    monitor.set_model(model)
    values = monitor.measure()
    inputs = np.asarray(x, np.float64)
    outputs = keras.ops.convert_to_numpy(model.get_layer("hidden")(x)).astype(np.float64)

    def moment(v):
        return np.mean(np.mean(np.abs(v) ** alpha, axis=1) ** (s / alpha))

    assert values["s_moment/hidden"] == pytest.approx(moment(outputs), rel=1e-5)
    assert values["s_moment_ratio/hidden"] == pytest.approx(moment(outputs) / moment(inputs), rel=1e-5)


def test_each_kernel_logs_its_own_tail_index_with_an_interval():
    # another model first, with kernels of other shapes, drawn the same way: each draw must land in
    # its own model's kernels
    other = keras.Sequential([keras.Input((96,)), keras.layers.Dense(160, activation="relu")])
    keras_fracinit.initialize(other, 0.8, alpha=1.5, seed=1)
    model = _model()
    keras_fracinit.initialize(model, 0.8, alpha=1.5, seed=1)
    x, y = _data()
    monitor = keras_fracinit.FractionalMomentMonitor(0.8, alpha=1.5)
    history = model.fit(x, y, epochs=1, batch_size=32, callbacks=[monitor], verbose=0).history
    for path in ("hidden", "wide"):
        alpha, low, high = (history[f"kernel_tail_index{end}/{path}"][0] for end in ("", "_low", "_high"))
        assert low < alpha < high
        # 16,384 or 65,536 stable entries: 1.5 within twice the 95% half-width
        assert abs(alpha - 1.5) < 2 * (high - low) / 2
    assert "kernel_tail_index/hidden" in monitor.history


def test_gaussian_monitor_leaves_kernel_tails_out_unless_asked():
    model = _model()
    keras_fracinit.initialize(model, 0.8, seed=2)
    x, y = _data()
    plain = keras_fracinit.FractionalMomentMonitor(0.8, probe=(x, y))
    plain.set_model(model)
    assert not any(key.startswith("kernel_tail_index") for key in plain.measure())
    asked = keras_fracinit.FractionalMomentMonitor(0.8, probe=(x, y), kernel_tail_index=True)
    asked.set_model(model)
    values = asked.measure()
    alpha, low, high = (values[f"kernel_tail_index{end}/wide"] for end in ("", "_low", "_high"))
    assert abs(alpha - 2.0) < 2 * (high - low) / 2  # Gaussian entries: 2


def test_order_above_alpha_is_refused():
    with pytest.raises(ValueError, match="Argument `s` must be below `alpha`"):
        keras_fracinit.FractionalMomentMonitor(1.6, alpha=1.5)
