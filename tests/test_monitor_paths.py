"""The monitor's ratio measures the path `initialize` preserves: right after it, 1 within sampling error."""

import math

import keras
import numpy as np
import pytest

import keras_fracinit


def _conv_bn_relu():
    x = keras.Input((12, 12, 16))
    y = x
    for i in range(3):
        y = keras.layers.Conv2D(16, 3, use_bias=False, name=f"conv{i}")(y)
        y = keras.layers.BatchNormalization(name=f"bn{i}")(y)
        y = keras.layers.ReLU(name=f"relu{i}")(y)
    return keras.Model(x, y)


def _paper_stack():
    layers = [keras.layers.Dense(64, activation="relu", name=f"dense{i}") for i in range(5)]
    return keras.Sequential([keras.Input((64,)), *layers])


def _ratios_over_draws(model, x, s, draws):
    """Per kernel: mean output over mean input s-moment across draws, and its standard error."""
    monitor = keras_fracinit.FractionalMomentMonitor(s, probe=x)
    monitor.set_model(model)
    outputs, inputs = [], []
    for seed in range(draws):
        keras_fracinit.initialize(model, s, seed=seed)
        values = monitor.measure()
        names = [k.split("/", 1)[1] for k in values if k.startswith("s_moment_ratio/")]
        outputs.append([values["s_moment/" + n] for n in names])
        inputs.append([values["s_moment/" + n] / values["s_moment_ratio/" + n] for n in names])
    outputs, inputs = np.asarray(outputs), np.asarray(inputs)
    ratio = outputs.mean(axis=0) / inputs.mean(axis=0)
    # delta method for a ratio of means over independent draws
    deviations = (outputs - ratio * inputs) / inputs.mean(axis=0)
    return names, ratio, deviations.std(axis=0, ddof=1) / math.sqrt(draws)


@pytest.mark.parametrize(
    "build, shape, s",
    [
        # on feature maps the gain is exact per location; over a whole map the
        # s-moment is additive in the locations at s = 2 only
        (_conv_bn_relu, (64, 12, 12, 16), 2.0),
        (_paper_stack, (64, 64), 1.0),
    ],
    ids=["conv_bn_relu", "paper_stack"],
)
def test_right_after_initialize_every_ratio_reads_one(build, shape, s):
    model = build()
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    names, ratio, error = _ratios_over_draws(model, x, s, draws=40)
    assert names == [r.layer for r in keras_fracinit.initialize(model, s, seed=0)]
    for name, value, se in zip(names, ratio, error):
        assert abs(value - 1) < 4 * se + 2e-3, (name, value, se)  # 2e-3: BatchNormalization's epsilon


def test_a_conv_bn_relu_ratio_ends_after_the_relu():
    model = _conv_bn_relu()
    x = np.random.default_rng(1).normal(size=(8, 12, 12, 16)).astype("float32")
    report = keras_fracinit.initialize(model, 1.0, seed=0)
    assert [r.found_in for r in report] == [f"bn{i} > relu{i}" for i in range(3)]
    monitor = keras_fracinit.FractionalMomentMonitor(1.0, probe=x)
    monitor.set_model(model)
    measured = monitor.measure()["s_moment_ratio/conv1"]
    probe = keras.Model(model.input, [model.get_layer("conv1").input, model.get_layer("relu1").output])
    inputs, outputs = (np.asarray(t).reshape(len(x), -1) for t in probe.predict_on_batch(x))
    expected = np.mean(np.sqrt(np.mean(outputs**2, axis=1))) / np.mean(np.sqrt(np.mean(inputs**2, axis=1)))
    assert measured == pytest.approx(expected, rel=1e-4)
