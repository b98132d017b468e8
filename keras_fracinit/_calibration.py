"""Data-driven calibration of the kernels the paper's class does not cover.

After LSUV (Mishkin and Matas, ICLR 2016), for the s-th moment instead of the
variance: in forward order, each kernel is rescaled until the empirical
s-moment of the per-sample output norm equals that of the input norm on a
batch, `mean ||y||^s / mean ||x||^s = 1` within a tolerance. One rescaling by
`ratio^(-1/s)` is exact for a positively homogeneous activation without bias;
GELU, swish, tanh or a bias need a few.
"""

import dataclasses
import warnings

import keras
import numpy as np

from keras_fracinit import _keras_private


def per_sample_norms(tensor):
    """Euclidean norm of each sample of a `(batch, ...)` tensor, as float64."""
    values = np.asarray(keras.ops.convert_to_numpy(tensor), dtype=np.float64)
    return np.linalg.norm(values.reshape(len(values), -1), axis=1)


def moment_ratio(model, data, layer, end, s):
    """`mean ||end's output||^s / mean ||layer's input||^s` on `data`."""
    with _keras_private.recording_calls([layer, end]) as calls:
        model(data, training=False)
    inputs, _ = calls[id(layer)]
    _, outputs = calls[id(end)]
    denominator = np.mean(per_sample_norms(inputs) ** s)
    return float(np.mean(per_sample_norms(outputs) ** s) / denominator) if denominator > 0 else float("nan")


def calibrate(model, report, plans, data, s, tolerance, max_iterations):
    """Rescales every planned kernel with a calibration target; returns the updated report."""
    updated = list(report)
    for index, (entry, kernel, _, target) in enumerate(plans):
        if target is None:
            continue
        layer, end = target
        scale, steps = 1.0, 0
        ratio = moment_ratio(model, data, layer, end, s)
        while abs(ratio - 1.0) > tolerance and steps < max_iterations and np.isfinite(ratio) and ratio > 0:
            factor = ratio ** (-1.0 / s)
            kernel.variable.assign(kernel.variable * keras.ops.cast(factor, kernel.variable.dtype))
            scale, steps = scale * factor, steps + 1
            ratio = moment_ratio(model, data, layer, end, s)
        reason = entry.reason
        if not abs(ratio - 1.0) <= tolerance:
            reason += f"; did not reach |ratio - 1| <= {tolerance:g} in {steps} steps"
            warnings.warn(
                f"keras_fracinit.initialize: calibrating '{entry.layer}' stopped at an s-moment ratio "
                f"of {ratio:.4g} after {steps} steps (the output's s-moment does not follow the "
                "kernel's scale there).",
                stacklevel=3,
            )
        updated[index] = dataclasses.replace(entry, ratio=ratio, iterations=steps, scale=scale, reason=reason)
    report[:] = updated
    return report
