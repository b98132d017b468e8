"""What the monitor computes: per-sample s-moments, kernel moments, their table."""

import math

import keras
import numpy as np

from keras_fracinit.tails import _gradient_noise
from keras_fracinit.tails import assessment

# The logged statistics, in the order of tables and plots.
STATISTICS = (
    "s_moment",
    "s_moment_ratio",
    "kernel_s_moment",
    "kernel_tail_index",
    "kernel_tail_index_low",
    "kernel_tail_index_high",
    "tail_index",
)
# A kernel's tail index is estimated on at most this many of its entries, the same ones every time.
KERNEL_TAIL_ENTRIES = 65_536


def kernel_moment(kernel, s):
    """`mean_j |w_j|^s` over a kernel's entries."""
    # One host copy and numpy beat three eager backend ops per kernel
    # (measured 2-8x on TF, JAX and torch for the paper's stack).
    magnitude = np.abs(np.asarray(keras.ops.convert_to_numpy(kernel), dtype=np.float32))
    return float(np.mean(np.power(magnitude, np.float32(s)), dtype=np.float64))


def kernel_tail(kernel, path):
    """`kernel_tail_index/<path>` and its 95% interval's ends, from the kernel's entries."""
    values = np.asarray(keras.ops.convert_to_numpy(kernel), dtype=np.float64).ravel()
    if values.size > KERNEL_TAIL_ENTRIES:
        values = values[np.random.default_rng(0).choice(values.size, KERNEL_TAIL_ENTRIES, replace=False)]
    alpha, (low, high) = assessment.sample_tail_index(values)
    return {
        "kernel_tail_index/" + path: alpha,
        "kernel_tail_index_low/" + path: low,
        "kernel_tail_index_high/" + path: high,
    }


def tail_indices(paths, draws):
    """`{"tail_index/<path>": index}` of each layer's per-batch gradients
    (nan where they are not finite or carry no noise)."""
    return {
        "tail_index/" + path: _gradient_noise.noise_tail_index(layer_draws)
        for path, layer_draws in zip(paths, draws)
    }


def signal_values(measured):
    """`{"s_moment/<path>", "s_moment_ratio/<path>"}` from `SpanMoments`' `{path: (inputs, outputs)}`."""
    values = {}
    for path, (inputs, outputs) in measured.items():
        output = mean_or_nan(outputs)
        values["s_moment/" + path] = output
        values["s_moment_ratio/" + path] = ratio(output, mean_or_nan(inputs))
    return values


def nan_for_nonfinite(values):
    """`(values with nan for every non-finite one, sorted paths that had one)`."""
    nonfinite = sorted({key.split("/", 1)[1] for key, value in values.items() if not math.isfinite(value)})
    return {k: (v if math.isfinite(v) else math.nan) for k, v in values.items()}, nonfinite


def ratio(numerator, denominator):
    """`numerator / denominator`, with 0/0 = nan and x/0 = inf."""
    if denominator == 0:
        return math.nan if numerator == 0 else math.inf
    return numerator / denominator


def mean_or_nan(values):
    """The mean in float64, or nan if any value is not finite."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if np.all(np.isfinite(values)) else math.nan


def append_row(table, values, rows):
    """Appends one measurement to `{key: [values]}`, which then has `rows` rows."""
    for key, value in values.items():
        # A key first seen late (a layer added between fits) is padded with nan.
        column = table.setdefault(key, [])
        column.extend([math.nan] * (rows - 1 - len(column)))
        column.append(value)


def ordered(values, paths):
    """`values` as floats, statistic by statistic, layers in the order of `paths`
    (model order: dense_2 before dense_10)."""
    order = {path: index for index, path in enumerate(paths)}
    return {
        key: float(values[key])
        for key in sorted(
            values, key=lambda key: (STATISTICS.index(key.split("/", 1)[0]), order[key.split("/", 1)[1]])
        )
    }
