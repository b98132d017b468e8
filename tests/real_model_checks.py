"""Checks shared by the real-model tests: calibration with an independent re-measurement of its ratios."""

import warnings

import keras
import numpy as np
import pytest

import keras_fracinit
from keras_fracinit._backend import keras_private

# a fixed batch of small images for the keras.applications models
IMAGES = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype("float32")


def application(name):
    """A keras.applications model at 32 x 32 x 3 inputs and 10 classes, weights=None."""
    return getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=10)


def _moments(tensor, s):
    values = np.asarray(keras.ops.convert_to_numpy(tensor), dtype=np.float64).reshape(len(tensor), -1)
    return np.mean(np.mean(values**2, axis=1) ** (s / 2))


def _sublayer(layer, parts):
    for part in parts:
        found = {sub.name: sub for sub in keras_private.sublayers(layer)}
        if part not in found:
            return layer
        layer = found[part]
    return layer


def _start_layer(model, entry):
    """The layer whose call applies the entry's kernel, from the report's path name."""
    names = {layer.name: layer for layer in model.layers}
    first, *rest = entry.layer.split("/")
    layer = names[first]
    return _sublayer(layer, rest) if rest else layer


def remeasured_ratios(model, report, data, s):
    """`{kernel path: ratio}` of every calibrated entry, measured again in a separate eager pass.

    From the input of the layer that applies the kernel to the output of
    `entry.measured_to`, recorded as the model runs on `data` (the
    calibration's own measurements are not reused).
    """
    calibrated = [entry for entry in report if entry.status == "calibrated"]
    graph_layers = {layer.name for layer in model.layers}
    starts = {entry.layer: _start_layer(model, entry) for entry in calibrated}
    ends = {
        entry.layer: model.get_layer(entry.measured_to)
        if starts[entry.layer].name in graph_layers
        else starts[entry.layer]
        for entry in calibrated
    }
    with keras_private.recording_calls([*starts.values(), *ends.values()]) as calls:
        model(data, training=False)
    return {
        name: _moments(calls[id(ends[name])][1], s) / _moments(calls[id(start)][0], s)
        for name, start in starts.items()
    }


def weight_values(model):
    """`{id(weight): its values}`, copied, to compare after `initialize`."""
    return {id(w): np.array(keras.ops.convert_to_numpy(w)) for w in model.weights}


def assert_accounted(model, report, before, fresh=True):
    """The accounting invariant: every weight once, parameters summing to
    `count_params()`, nothing changed that the report says was left, and (on
    a model no earlier call drew with the same seed) everything it says was
    drawn or calibrated changed."""
    paths = [w.path for w in report.weights]
    assert sorted(paths) == sorted(w.path for w in model.weights) and len(set(paths)) == len(paths)
    assert sum(w.parameters for w in report.weights) == model.count_params()
    changed = {
        w.path for w in model.weights if not np.array_equal(before[id(w)], keras.ops.convert_to_numpy(w))
    }
    said = {w.path for w in report.weights if w.outcome.value != "left"}
    assert changed <= said, sorted(changed - said)
    assert changed == said or not fresh, sorted(said - changed)


def calibrate_checked(model, data, s=1.0, gates=()):
    """Calibrates `model`; every weight and output finite, every non-gate ratio within tolerance,
    and every weight accounted for."""
    before = weight_values(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = keras_fracinit.initialize(model, s, seed=0, calibrate_with=data)
    assert_accounted(model, report, before, fresh=False)  # the test may have drawn it before
    ours = [str(w.message) for w in caught if "keras_fracinit.initialize" in str(w.message)]
    assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(model(data, training=False))))
    stopped = [r for r in report if r.status == "calibrated" and abs(r.ratio - 1) > 0.02]
    assert all(any(g in r.layer for g in gates) for r in stopped), [r.layer for r in stopped]
    # one summarized warning for the gates, none per kernel
    assert len(ours) == (1 if stopped else 0), ours
    remeasured = remeasured_ratios(model, report, data, s)
    for entry in report:
        if entry.status == "calibrated" and entry not in stopped:
            assert remeasured[entry.layer] == pytest.approx(entry.ratio, rel=1e-3), entry.layer
            assert abs(remeasured[entry.layer] - 1) <= 0.021, entry.layer
    return report
