"""Data-driven calibration of the kernels the paper's class does not cover.

After LSUV (Mishkin and Matas, ICLR 2016), for the s-th moment instead of the
variance: in forward order, each kernel is rescaled until the empirical
s-moment of the per-sample output norm equals that of the input norm on a
batch, `mean ||y||^s / mean ||x||^s = 1` within a tolerance, with norms per
unit (`||y|| / sqrt(n)` for `n` units, as the monitor measures them). One rescaling by
`ratio^(-1/s)` is exact for a positively homogeneous activation without bias;
GELU, swish, tanh or a bias need a few.
"""

import dataclasses
import functools
import warnings

import keras
import numpy as np

from keras_fracinit import _keras_private
from keras_fracinit import _taps as taps
from keras_fracinit.monitor import statistics


def per_sample_norms(tensor):
    """`||y_i|| / sqrt(n)` of each sample of a `(batch, ...)` tensor of `n` units, as float64."""
    values = np.asarray(keras.ops.convert_to_numpy(tensor), dtype=np.float64)
    values = values.reshape(len(values), -1)
    return np.linalg.norm(values, axis=1) / np.sqrt(values.shape[1])


class MomentRatio:
    """`mean ||y||^s / mean ||x||^s` on a batch, norms per unit (`||.|| / sqrt(n)`).

    `x` is `layer`'s input and `y` is `end`'s output. Per unit, so that a
    layer that changes the width is held to what the exact gains hold the
    layers of the class to (and to what the monitor's ratio shows).

    On a Sequential or functional model, one compiled pass of a tap model
    (`_taps`) measures every target; on a subclassed model the layers' calls
    are recorded during an eager pass.
    """

    def __init__(self, model, targets, data, s):
        self.model, self.data, self.s = model, data, s
        self.tap = None
        if taps.is_tappable(model):
            wanted = {str(id(layer)): layer for target in targets for layer in target}
            # the monitor's reduction: (||y|| / sqrt(n))^s per sample
            reduction = functools.partial(statistics.per_sample_moment, s=s)
            result = taps.tap_model(model, wanted, reduction)
            if not result.untapped:
                self.tap = result.model

    def __call__(self, layer, end):
        if self.tap is not None:
            reductions = self.tap.predict_on_batch(self.data)
            inputs = np.asarray(reductions[f"{id(layer)}/input"], dtype=np.float64)
            outputs = np.asarray(reductions[f"{id(end)}/output"], dtype=np.float64)
        else:
            with _keras_private.recording_calls([layer, end]) as calls:
                self.model(self.data, training=False)
            inputs = per_sample_norms(calls[id(layer)][0]) ** self.s
            outputs = per_sample_norms(calls[id(end)][1]) ** self.s
        denominator = np.mean(inputs)
        return float(np.mean(outputs) / denominator) if denominator > 0 else float("nan")


def calibrate(model, report, plans, data, s, tolerance, max_iterations):
    """Rescales every planned kernel with a calibration target; returns the updated report."""
    targets = [plan[3] for plan in plans if plan[3] is not None]
    if not targets:
        return report
    moment_ratio = MomentRatio(model, targets, data, s)
    for index, (entry, kernel, _, target) in enumerate(plans):
        if target is None:
            continue
        layer, end = target
        scale, steps = 1.0, 0
        ratio = moment_ratio(layer, end)
        best = (abs(ratio - 1.0), scale, ratio)
        while abs(ratio - 1.0) > tolerance and steps < max_iterations and np.isfinite(ratio) and ratio > 0:
            factor = ratio ** (-1.0 / s)
            kernel.variable.assign(kernel.variable * keras.ops.cast(factor, kernel.variable.dtype))
            scale, steps = scale * factor, steps + 1
            ratio = moment_ratio(layer, end)
            if abs(ratio - 1.0) < best[0]:
                best = (abs(ratio - 1.0), scale, ratio)
        if best[1] != scale:  # a saturating activation: keep the best scale seen
            back = best[1] / scale
            kernel.variable.assign(kernel.variable * keras.ops.cast(back, kernel.variable.dtype))
            scale, ratio = best[1], best[2]
        reason = entry.reason
        if not abs(ratio - 1.0) <= tolerance:
            reason += f"; did not reach |ratio - 1| <= {tolerance:g} in {steps} steps"
            warnings.warn(
                f"keras_fracinit.initialize: calibrating '{entry.layer}' stopped at an s-moment ratio "
                f"of {ratio:.4g} after {steps} steps (the output's s-moment does not follow the "
                "kernel's scale there).",
                stacklevel=3,
            )
        report[index] = dataclasses.replace(entry, ratio=ratio, iterations=steps, scale=scale, reason=reason)
    return report
