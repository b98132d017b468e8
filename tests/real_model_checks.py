"""Checks shared by the real-model tests: calibration with an independent re-measurement of its ratios."""

import warnings

import keras
import numpy as np
import pytest

import keras_fracinit
from keras_fracinit import _keras_private


def _moments(tensor, s):
    values = np.asarray(keras.ops.convert_to_numpy(tensor), dtype=np.float64).reshape(len(tensor), -1)
    return np.mean(np.mean(values**2, axis=1) ** (s / 2))


def _sublayer(layer, parts):
    for part in parts:
        found = {sub.name: sub for sub in _keras_private.sublayers(layer)}
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
    """`{kernel path: ratio}` of every calibrated entry, measured again in a separate pass.

    From the input of the layer that applies the kernel to the output of
    `entry.measured_to`: one multi-output sub-model for layers of the graph,
    one recorded eager pass for layers inside composite layers.
    """
    calibrated = [entry for entry in report if entry.status == "calibrated"]
    graph_layers = {layer.name for layer in model.layers}
    starts = {entry.layer: _start_layer(model, entry) for entry in calibrated}
    visible = [e for e in calibrated if starts[e.layer].name in graph_layers]
    hidden = [e for e in calibrated if starts[e.layer].name not in graph_layers]
    found = {}
    if visible:
        outputs = {e.layer: [starts[e.layer].input, model.get_layer(e.measured_to).output] for e in visible}
        values = keras.Model(model.inputs, outputs).predict_on_batch(data)
        found.update({name: _moments(y, s) / _moments(x, s) for name, (x, y) in values.items()})
    if hidden:
        with _keras_private.recording_calls([starts[e.layer] for e in hidden]) as calls:
            model(data, training=False)
        for entry in hidden:
            x, y = calls[id(starts[entry.layer])]
            found[entry.layer] = _moments(y, s) / _moments(x, s)
    return found


def calibrate_checked(model, data, s=1.0, gates=()):
    """Calibrates `model`; every weight and output finite, every non-gate ratio within tolerance."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = keras_fracinit.initialize(model, s, seed=0, calibrate_with=data)
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
