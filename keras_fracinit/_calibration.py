"""Data-driven calibration of the kernels the paper's class does not cover.

After LSUV (Mishkin and Matas, ICLR 2016), for the s-th moment instead of the
variance: each kernel is rescaled until the empirical s-moment of the
per-sample output norm equals that of the input norm on a batch,
`mean ||y||^s / mean ||x||^s = 1` within a tolerance, norms per unit
(`||y|| / sqrt(n)` for `n` units, as the monitor measures them). One
rescaling by `ratio^(-1/s)` is exact for a positively homogeneous activation
without bias; GELU, swish, tanh or a bias need a few.

Cost: the kernels are calibrated during one eager pass of the model, each
when its layer runs. Its input is then final (the kernels before it are
settled), so a step re-runs only the layer and the few layers up to the end
of its path, not the model. A path through a merge (whose other inputs are
not there yet) is calibrated afterwards with whole compiled passes, and
then every calibrated kernel is measured again in one more pass.

Safety: a step never leaves a kernel non-finite, the scale stays within
`MAX_SCALE` of the linear draw, and when the ratio stops following the
scale (a sigmoid gate, saturation) the best scale seen is kept and the
kernel is named in one summarized warning.
"""

import dataclasses
import math
import re
from typing import Any

import keras
import numpy as np

from keras_fracinit._backend import keras_private
from keras_fracinit._backend import taps
from keras_fracinit._backend import watched_pass

# Largest factor a calibration moves a kernel from its linear draw, either way.
MAX_SCALE = 1e3
# A step whose log-ratio moves by less than this fraction of what a
# homogeneous response would give means the ratio no longer follows the scale.
MIN_RESPONSE = 0.2


@dataclasses.dataclass(frozen=True)
class Target:
    """One kernel to calibrate: `start`'s input to `end`'s output."""

    key: Any
    name: str
    variable: Any
    start: Any
    end: Any
    visible: bool

    @property
    def span(self):
        return taps.Span(self.start, self.end, self.visible)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How one calibration ended."""

    ratio: float
    steps: int
    scale: float
    stopped: str = ""  # why it stopped short of the tolerance, or empty


class _Search:
    """The rescaling of one kernel, step by step, with its safeguards."""

    def __init__(self, target, moment, tolerance, max_iterations, applied):
        self.target, self.s, self.applied = target, moment.s, applied
        self.tolerance, self.max_iterations = tolerance, max_iterations
        self.scale, self.steps, self.ratio = 1.0, 0, math.nan
        self.best = (math.inf, 1.0, math.nan)
        self.stopped = ""

    def set_scale(self, scale):
        variable, factor = self.target.variable, scale / self.scale
        variable.assign(variable * keras.ops.cast(factor, variable.dtype))
        self.scale = scale
        key = self.target.key
        self.applied[key] = self.applied.get(key, 1.0) * factor

    def next_scale(self, ratio):
        """Records a measured ratio; returns the next scale to try, or None when done."""
        previous, self.ratio = self.ratio, ratio
        if math.isfinite(ratio) and abs(ratio - 1) < self.best[0]:
            self.best = (abs(ratio - 1), self.scale, ratio)
        if math.isfinite(ratio) and abs(ratio - 1) <= self.tolerance:
            return None
        if not math.isfinite(ratio) or ratio <= 0:
            self.stopped = "a non-finite or zero output"
        elif self.steps and math.isfinite(previous) and previous > 0:
            moved = abs(math.log(ratio) - math.log(previous))
            expected = abs(math.log(previous))
            if moved < MIN_RESPONSE * expected:
                self.stopped = "the ratio stopped following the kernel's scale (a gate or saturation)"
        if not self.stopped and self.steps >= self.max_iterations:
            self.stopped = f"{self.steps} steps"
        if self.stopped:
            return None
        scale = self.scale * ratio ** (-1.0 / self.s)
        if not 1 / MAX_SCALE <= scale <= MAX_SCALE:
            self.stopped = f"the scale would leave [1e-3, 1e3] of the linear draw ({scale:.3g})"
            return None
        self.steps += 1
        return scale

    def finish(self):
        """Restores the best finite scale seen when the last one is worse; returns the `Outcome`."""
        if self.best[1] != self.scale or not math.isfinite(self.ratio):
            self.set_scale(self.best[1])
            self.ratio = self.best[2]
        if not self.stopped and not abs(self.ratio - 1) <= self.tolerance:
            self.stopped = f"{self.steps} steps"
        return Outcome(self.ratio, self.steps, self.scale, self.stopped)


def _moment(tensor, moment):
    """`mean_i size_i^s` of a concrete batch (`moment`: a `taps.SizeMoment`)."""
    # One host copy and numpy beat a few eager backend ops (each dispatched
    # on its own on JAX).
    values = moment.concrete(tensor)
    return float(np.mean(values)) if np.all(np.isfinite(values)) else math.nan


def _chain(target, graph):
    """`[(node, its input tensor)]` from `start`'s output to `end`, one tensor input each.

    `[]` when `end` is `start`; None when the path branches or merges.
    """
    if target.end is target.start:
        return []
    if graph.node_keys is None:
        return None
    calls = keras_private.layer_calls(target.start, graph.node_keys)
    if len(calls) != 1 or len(calls[0].outputs) != 1:
        return None
    tensor, chain = calls[0].outputs[0], []
    while True:
        consumers = graph.consumers(tensor)
        if len(consumers) != 1 or len(consumers[0].input_tensors) != 1 or len(consumers[0].outputs) != 1:
            return None
        node = consumers[0]
        if keras_private.is_graph_model(node.operation):
            return None
        chain.append((node, tensor))
        if node.operation is target.end:
            return chain
        tensor = node.outputs[0]


def _shapes(shapes):
    """`(4, 8)`, or `[(4, 8), (4, 3)]` for several inputs: shapes as text, without tensor names."""
    shapes = [tuple(shape) for shape in shapes]
    return str(shapes[0]) if len(shapes) == 1 else str(shapes)


def _first_line(error):
    """The line of a Keras error that says what went wrong (no ANSI codes, no call dump)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()]
    useful = [line for line in lines if line and not line.startswith(("Exception encountered", "Arguments"))]
    # Keras names symbolic tensors `keras_tensor_26`: meaningless to the caller.
    return re.sub(r" with name '[^']*'", "", useful[0]) if useful else type(error).__name__


def dry_run(model, targets, data):
    """Runs `model` on `data` once, unchanged; raises what a calibration on it would fail with.

    A `ValueError` names the argument when the batch does not match the
    model's inputs, when the model cannot take it, when the signal stops
    being finite (naming the first layer and sample where it does), or when
    a target's layer does not run on it.
    """
    arrays = keras.tree.flatten(data)
    if arrays and not any(np.any(keras.ops.convert_to_numpy(array)) for array in arrays):
        raise ValueError(
            "Argument `calibrate_with` must carry a signal: calibration compares the s-moments of a "
            "layer's input and output, which an all-zero batch does not have. Received: a batch of "
            f"shape {_shapes(np.shape(array) for array in arrays)} that is all zeros; pass real "
            "inputs (a few dozen samples)."
        )
    _check_batch(model, arrays)
    try:
        watched = watched_pass.run(model, data)
    except Exception as error:
        raise ValueError(
            f"Argument `calibrate_with` must be a batch that model {model.name!r} can take"
            f"{_expected(model)}. "
            f"Received: a batch of shape {_shapes(np.shape(array) for array in arrays)}; running the "
            "model on it failed, before "
            f"any kernel was drawn, with {type(error).__name__}: {_first_line(error)}"
        ) from error
    if watched.nonfinite is not None:
        path, sample = watched.nonfinite
        where = f"the output of layer '{path}'"
        raise ValueError(
            "Argument `calibrate_with` must give finite signals: the s-moments of non-finite values mean "
            f"nothing. Received: a batch whose signal stops being finite at {where}, sample {sample} "
            "(check the batch for NaN or inf, and token ids for values beyond the vocabulary); nothing "
            "was drawn."
        )
    missing = [target.name for target in targets if id(target.start) not in watched.ran]
    if missing:
        raise ValueError(
            f"Argument `calibrate_with` must run every kernel to calibrate, but model {model.name!r} ran "
            f"on it without calling the layers of {missing}; nothing was drawn."
        )


def _expected(model):
    inputs = getattr(model, "inputs", None) or []
    return f" (inputs of shape {_shapes(x.shape for x in inputs)})" if inputs else ""


def _check_batch(model, arrays):
    """Each array is finite, with its input's rank and known sizes (a functional model's inputs are known)."""
    for array in arrays:
        sample = watched_pass.first_nonfinite_sample(array) if np.ndim(array) else None
        if sample is not None:
            raise ValueError(
                "Argument `calibrate_with` must give finite signals. Received: a batch with a non-finite "
                f"value in sample {sample} of an input of shape {np.shape(array)}; nothing was drawn."
            )
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != len(arrays):
        return  # a structure Keras itself matches (dict keys, nested inputs)
    for array, expected in zip(arrays, inputs):
        shape, wanted = tuple(np.shape(array)), tuple(expected.shape)
        if len(shape) != len(wanted) or any(w is not None and w != d for d, w in zip(shape, wanted)):
            raise ValueError(
                f"Argument `calibrate_with` must be a batch that model {model.name!r} can take"
                f"{_expected(model)}. Received: a batch of shape {_shapes(np.shape(a) for a in arrays)}, "
                "which does not match them; this was found before any kernel was drawn."
            )


def calibrate(model, targets, data, moment, tolerance, max_iterations, graph):
    """Calibrates every `Target`; returns `{key: Outcome}`.

    If it fails part way, every kernel it rescaled is put back at the scale
    it was drawn with before the error is raised.
    """
    applied: dict = {}  # {key: the factor by which a kernel was rescaled}
    try:
        return _calibrate(model, targets, data, moment, tolerance, max_iterations, graph, applied)
    except BaseException:
        for target in targets:
            if target.key in applied:
                variable = target.variable
                variable.assign(variable / keras.ops.cast(applied[target.key], variable.dtype))
        raise


def _calibrate(model, targets, data, moment, tolerance, max_iterations, graph, applied):
    chains = {target.key: _chain(target, graph) for target in targets}
    local = [target for target in targets if chains[target.key] is not None]
    whole = [target for target in targets if chains[target.key] is None]
    outcomes = {}
    if local:
        outcomes.update(
            _calibrate_on_call(model, local, chains, data, moment, tolerance, max_iterations, applied)
        )
    if not whole:
        return outcomes
    for target in whole:
        outcomes[target.key] = _calibrate_by_passes(
            model, target, data, moment, tolerance, max_iterations, applied
        )
    # A kernel calibrated on call may sit after one calibrated by whole passes,
    # whose new scale moved its input: those are calibrated again, once, on
    # their now final inputs; then every kernel is measured again.
    measured = _measure(model, local, data, moment)
    moved = [t for t in local if not _within(measured[t.key], tolerance)]
    if moved:
        again = _calibrate_on_call(model, moved, chains, data, moment, tolerance, max_iterations, applied)
        for key, outcome in again.items():
            first = outcomes[key]
            outcomes[key] = dataclasses.replace(
                outcome, steps=first.steps + outcome.steps, scale=first.scale * outcome.scale
            )
    for key, ratio in _measure(model, targets, data, moment).items():
        outcome = outcomes[key]
        stopped = outcome.stopped or (
            "" if _within(ratio, tolerance) else "kernels calibrated later moved it"
        )
        outcomes[key] = dataclasses.replace(outcome, ratio=ratio, stopped=stopped)
    return outcomes


def _within(ratio, tolerance):
    return math.isfinite(ratio) and abs(ratio - 1) <= tolerance


def _measure(model, targets, data, moment):
    """`{key: ratio}` of targets, measured in one pass."""
    return _ratios(taps.SpanMoments(model, {t.key: t.span for t in targets}, moment), data)


def _ratios(path_moments, data):
    moments = path_moments(data)
    return {
        key: float(np.mean(outputs) / np.mean(inputs)) if np.mean(inputs) > 0 else math.nan
        for key, (inputs, outputs) in moments.items()
    }


def _calibrate_on_call(model, targets, chains, data, moment, tolerance, max_iterations, applied):
    """One eager pass; each kernel is calibrated when its layer runs, on its final input."""
    by_start: dict[int, list] = {}
    factors: dict = {}  # the factors applied inside the scope, committed with the values
    for target in targets:
        by_start.setdefault(id(target.start), []).append(target)
    outcomes = {}

    def calibrating(layer, original):
        def call(*args, **kwargs):
            outputs = original(*args, **kwargs)
            pending = [t for t in by_start[id(layer)] if t.key not in outcomes]
            inputs = args[0] if args else next(iter(kwargs.values()))
            denominator = _moment(inputs, moment) if pending else math.nan
            for target in pending:
                search = _Search(target, moment, tolerance, max_iterations, factors)
                while True:
                    end_output = outputs
                    for node, tensor in chains[target.key]:
                        end_output = keras_private.call_node_on(node, tensor, end_output)
                    ratio = _moment(end_output, moment) / denominator if denominator > 0 else math.nan
                    scale = search.next_scale(ratio)
                    if scale is None:
                        break
                    search.set_scale(scale)
                    outputs = original(*args, **kwargs)
                measured_at = search.scale
                outcome = search.finish()
                if outcome.scale != measured_at:  # the best scale was an earlier one
                    outputs = original(*args, **kwargs)
                outcomes[target.key] = outcome
            return outputs

        return call

    layers = {id(t.start): t.start for t in targets}
    # Stateless: a layer whose call() updates a variable is not moved by the
    # pass; the kernels' new scales, kept in the scope, are then assigned.
    with keras.StatelessScope() as scope, keras_private.replaced_calls(layers.values(), calibrating):
        model(data, training=False)
        scaled = [(t.variable, scope.get_current_value(t.variable)) for t in targets]
    for variable, value in scaled:
        if value is not None:
            variable.assign(value)
    applied.update({key: applied.get(key, 1.0) * factor for key, factor in factors.items()})
    missing = [t.name for t in targets if t.key not in outcomes]
    if missing:
        raise RuntimeError(f"keras_fracinit: kernels {missing} were not run on the calibration batch")
    return outcomes


def _calibrate_by_passes(model, target, data, moment, tolerance, max_iterations, applied):
    """Whole passes of the model for a path through a merge (its other inputs come from elsewhere)."""
    measure = taps.SpanMoments(model, {target.key: target.span}, moment)
    search = _Search(target, moment, tolerance, max_iterations, applied)
    while True:
        scale = search.next_scale(_ratios(measure, data)[target.key])
        if scale is None:
            return search.finish()
        search.set_scale(scale)
