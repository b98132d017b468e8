"""`initialize(model, s)`: re-initialize every kernel of a built model.

An initializer cannot see its layer's activation; this function can. For
every kernel (Dense, convolutions of every kind, EinsumDense, attention) it
reads the activation the kernel feeds, counts the fans the way the layer
uses its kernel, and draws the kernel with the s-moment standard deviation
for that activation. With a batch of data it also calibrates the layers the
paper's class does not cover.
"""

import dataclasses
import math
import warnings
from typing import Any

import keras

from keras_fracinit import _activation_path
from keras_fracinit import _calibration
from keras_fracinit import _kernel_rules
from keras_fracinit import _layers
from keras_fracinit import initializers as fracinit

_ON_UNSUPPORTED = ("raise", "warn")
_STATUSES = ("initialized", "calibrated", "skipped")


class UnsupportedActivationError(ValueError):
    """A kernel feeds an activation outside the paper's class."""


@dataclasses.dataclass(frozen=True)
class LayerReport:
    """What `initialize` found and did for one kernel.

    Attributes:
        layer: The layer's name (`outer/inner` inside nested models), followed
            by `/<kernel>` for a layer with several kernels (`mha/query`).
        layer_type: The layer's class name.
        activation: The activation found (`relu`, `leaky_relu`, `linear`, or
            the unsupported name).
        negative_slope: The Leaky ReLU slope, if any.
        dropout: Rate of a `Dropout` layer right after the activation.
        found_in: Where the activation was read: `"layer"` or the path of
            layers read (`"bn > relu"`).
        fan_in: Inputs summed into one output unit, counted for the layer type.
        fan_out: Output units each input reaches.
        stddev: Standard deviation drawn with (`None` if skipped); after a
            calibration, the kernel's final scale relative to it is `scale`.
        status: `"initialized"`, `"calibrated"` or `"skipped"`.
        reason: Why a kernel was skipped or calibrated (empty otherwise).
        rule: How the fans were counted (`keras fans`, `per channel`,
            `transposed`, `einsum axes`).
        ratio: After a calibration, the s-moment ratio of the layer's output
            to its input on the batch.
        iterations: Calibration steps used.
        scale: Factor the calibration applied to the drawn kernel.
    """

    layer: str
    layer_type: str
    activation: str
    negative_slope: float | None
    dropout: float
    found_in: str
    fan_in: int
    fan_out: int
    stddev: float | None
    status: str
    reason: str = ""
    rule: str = ""
    ratio: float | None = None
    iterations: int = 0
    scale: float = 1.0


class InitializationReport(list):
    """The `LayerReport`s of one `initialize` call; prints as a table."""

    def counts(self) -> dict[str, int]:
        """How many kernels were `initialized`, `calibrated` and `skipped`."""
        return {status: sum(r.status == status for r in self) for status in _STATUSES}

    def __str__(self):
        header = ("layer", "type", "activation", "from", "fan_in", "fan_out", "stddev", "status")
        rows = [header] + [
            (
                r.layer,
                r.layer_type,
                r.activation
                + (f"({r.negative_slope:g})" if r.negative_slope is not None else "")
                + (f"+dropout({r.dropout:g})" if r.dropout else ""),
                r.found_in,
                str(r.fan_in),
                str(r.fan_out),
                "-" if r.stddev is None else f"{r.stddev * r.scale:.6f}",
                r.status
                + (f" (ratio {r.ratio:.3f}, {r.iterations} steps)" if r.ratio is not None else "")
                + (f": {r.reason}" if r.reason else ""),
            )
            for r in self
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def initialize(
    model: keras.Model,
    s: float,
    *,
    mode: str = "fan_in",
    seed: int | keras.random.SeedGenerator | None = None,
    on_unsupported: str = "raise",
    calibrate_with: Any = None,
    tolerance: float = 0.02,
    max_iterations: int = 10,
) -> InitializationReport:
    """Re-initializes every kernel of a model with the s-moment scheme.

    Each kernel is drawn from `N(0, sigma^2)`, `sigma^2 = g_s(m) / m`, with
    `g_s` the exact s-moment gain for the activation the kernel feeds and
    `m` the number of inputs summed into one output unit:

    - the activation is the layer's own, or, for a linear layer, the one
      reached through normalization, dropout and merge (residual `Add`,
      `Concatenate`) layers: `ReLU`, `LeakyReLU`, `PReLU` with equal slopes,
      `Activation`. A `Dropout` right after it is taken into account. A
      softmax or sigmoid output head makes logits: linear gain.
    - `m` follows the layer: Keras' fans for Dense and ConvND, per channel
      for depthwise kernels, both kernels of a separable convolution, the
      overlap count of a transposed convolution, the einsum axes of
      `EinsumDense` and `MultiHeadAttention` (whose query, key and value
      kernels feed linear maps).

    Every layer holding a kernel is reported. Recurrent kernels are left as
    they were, with the reason. An activation outside the paper's class
    (tanh, gelu, ...) is never treated as ReLU: with `calibrate_with` the
    kernel is calibrated on the data (below); otherwise
    `on_unsupported="raise"` (default) raises before any kernel changes and
    `"warn"` skips it with one warning. Inside a subclassed model the
    activations applied in `call()` cannot be seen; `initialize` says so once.

    Calibration (`calibrate_with=x`, a batch of inputs), after LSUV (Mishkin
    and Matas, ICLR 2016) for the s-th moment: each kernel outside the class,
    and each linear-read kernel of a subclassed model, is drawn as linear,
    then rescaled in forward order until `mean ||y||^s / mean ||x||^s` is
    within `tolerance` of 1 on the batch (norms per unit, `||y|| / sqrt(n)`
    for `n` units, as the exact gains hold them), where `x` is the layer's input and
    `y` the activation's output (the layer's own output when a normalization
    layer lies between them, since in training the normalization sets the
    scale the activation sees, or when the graph cannot be seen). If the
    ratio cannot reach 1 (a saturating activation), the best scale found is
    kept and a warning says so.
    Kernels inside the class keep their exact gain.

    Planning (activations, fans, gains) happens before any kernel is drawn:
    an error leaves every weight untouched. Biases are not changed.

    Args:
        model: A built Keras model (Sequential, functional, nested or subclassed).
        s: Moment order, in (0, 2].
        mode: `"fan_in"` or `"fan_out"`.
        seed: An integer (reproducible), `None`, or a
            `keras.random.SeedGenerator`; every kernel gets different draws.
        on_unsupported: `"raise"` or `"warn"` (without `calibrate_with`).
        calibrate_with: A batch of model inputs (array or structure of arrays)
            to calibrate the kernels the class does not cover, or `None`.
        tolerance: Largest `|ratio - 1|` a calibration accepts.
        max_iterations: Most rescaling steps per calibrated kernel.

    Returns:
        An `InitializationReport` (a list of `LayerReport`, one per kernel,
        that prints as a table; `.counts()` tallies the statuses).

    Raises:
        UnsupportedActivationError: for an activation outside the class,
            with `on_unsupported="raise"` and no `calibrate_with`.
        ValueError: for invalid arguments or an unbuilt model.

    Example:

    >>> import keras, keras_fracinit
    >>> model = keras.Sequential([keras.Input((8,)),
    ...                           keras.layers.Dense(4, activation="relu"),
    ...                           keras.layers.Dense(2)])
    >>> report = keras_fracinit.initialize(model, s=0.8, seed=0)
    >>> print(*(r.activation for r in report))
    relu linear

    Reference:
        M. Gurbuzbalaban and Y. Hu, AISTATS 2021.
    """
    if on_unsupported not in _ON_UNSUPPORTED:
        raise ValueError(
            "Argument `on_unsupported` must be one of 'raise', 'warn'. "
            f"Received: on_unsupported={on_unsupported!r}"
        )
    if not model.built:
        raise ValueError(
            "Argument `model` must be built before `initialize` (call it on data "
            f"or give it an `Input`). Received: model={model.name!r}, not built"
        )
    if not 0 < tolerance < 1:
        raise ValueError(f"Argument `tolerance` must be in (0, 1). Received: tolerance={tolerance}")
    if int(max_iterations) != max_iterations or max_iterations < 1:
        raise ValueError(
            f"Argument `max_iterations` must be a positive integer. Received: max_iterations={max_iterations}"
        )
    # Validate s and mode once, before any kernel changes.
    fracinit.FractionalMomentNormal(s, mode=mode, seed=0)
    if not isinstance(seed, keras.random.SeedGenerator):
        seed = keras.random.SeedGenerator(seed)
    hidden, unseen = _layers.hidden_graphs(model)
    if hidden:
        warnings.warn(
            "keras_fracinit.initialize: the graph of subclassed model(s) "
            f"{hidden} cannot be seen, so an activation applied in their call() "
            "(e.g. a ReLU after a linear Dense) is not read; their linear layers get "
            "the linear gain"
            + ("" if calibrate_with is not None else " (pass calibrate_with= to calibrate them)")
            + ".",
            stacklevel=2,
        )

    # Plan every kernel first (activation, fans, gain): any error leaves the
    # model untouched, since no kernel is drawn before the plan is complete.
    plans = []
    graph = _activation_path.Graph.of(model)
    skipped_types: dict[str, list[str]] = {}
    for name, layer in _layers.named_layers(model):
        if not any(weight.name.endswith("kernel") for weight in layer.weights):
            continue
        kernels, reason = _kernel_rules.layer_kernels(layer)
        if reason:
            skipped_types.setdefault(type(layer).__name__, []).append(name)
            plans.extend(_skipped(name, layer, reason))
            continue
        path = _activation_path.fed_activation(layer, graph)
        seen = name not in unseen
        for kernel in kernels:
            plans.append(
                _plan_kernel(
                    name, layer, kernel, path, s, mode, seed, seen, on_unsupported, calibrate_with is not None
                )
            )
    if skipped_types:
        warnings.warn(
            "keras_fracinit.initialize: left these layers' kernels as they were: "
            + "; ".join(f"{kind} {names}" for kind, names in skipped_types.items())
            + " (see each report entry's reason).",
            stacklevel=2,
        )

    drawn = [(kernel.variable, entry.stddev) for entry, kernel, init, _ in plans if init is not None]
    report = InitializationReport(entry for entry, *_ in plans)
    if calibrate_with is None:
        _draw(drawn, seed)
        return report
    # Calibration runs the model on the data, which can still fail (a batch
    # of the wrong shape): the kernels are then put back as they were.
    saved = [keras.ops.convert_to_numpy(variable) for variable, _ in drawn]
    try:
        _draw(drawn, seed)
        return _calibration.calibrate(model, report, plans, calibrate_with, s, tolerance, max_iterations)
    except Exception:
        for (variable, _), value in zip(drawn, saved):
            variable.assign(value)
        raise


def _draw(kernels, seed):
    """Assigns `N(0, stddev^2)` draws to `[(variable, stddev)]`.

    One standard-normal draw for all kernels, cut in model order: one
    compiled random op whatever the number of kernel shapes (on JAX, a draw
    per shape compiles per shape).
    """
    if not kernels:
        return
    sizes = [math.prod(variable.shape) for variable, _ in kernels]
    wide = any(keras.backend.standardize_dtype(variable.dtype) == "float64" for variable, _ in kernels)
    normal = keras.ops.convert_to_numpy(
        keras.random.normal((sum(sizes),), dtype="float64" if wide else "float32", seed=seed)
    )
    start = 0
    for (variable, stddev), size in zip(kernels, sizes):
        values = normal[start : start + size].reshape(tuple(variable.shape)) * normal.dtype.type(stddev)
        variable.assign(values)
        start += size


def _skipped(name, layer, reason):
    entries = []
    for weight in layer.weights:
        if weight.name.endswith("kernel"):
            fan_in, fan_out = fracinit.kernel_fans(tuple(weight.shape))
            entry = LayerReport(
                layer=f"{name}/{weight.name}" if weight.name != "kernel" else name,
                layer_type=type(layer).__name__,
                activation="-",
                negative_slope=None,
                dropout=0.0,
                found_in="-",
                fan_in=fan_in,
                fan_out=fan_out,
                stddev=None,
                status="skipped",
                reason=reason,
            )
            entries.append((entry, None, None, None))
    return entries


def _plan_kernel(name, layer, kernel, path, s, mode, seed, seen, on_unsupported, calibrating):
    """`(LayerReport, kernel, initializer or None, calibration target or None)` for one kernel.

    The target is `(layer, end)`: the signal is measured from `layer`'s
    input to `end`'s output.
    """
    if kernel.feeds_linear:
        path = _activation_path.ActivationPath("linear", None, 0.0, f"{kernel.name} (linear map)", layer)
    try:
        init = fracinit.FractionalMomentNormal(
            s, path.activation, negative_slope=path.negative_slope, dropout=path.dropout, mode=mode, seed=seed
        )
        inside_class = True
    except ValueError:
        inside_class = False
    reason, status = "", "initialized"
    if not inside_class or (
        calibrating and not seen and path.activation == "linear" and not kernel.feeds_linear
    ):
        if calibrating:
            # drawn as linear, then rescaled on the data
            init = fracinit.FractionalMomentNormal(s, "linear", mode=mode, seed=seed)
            status = "calibrated"
            reason = (
                f"activation '{path.activation}' is outside the paper's class"
                if not inside_class
                else "the activation applied in a subclassed call() cannot be seen"
            )
        elif on_unsupported == "raise":
            raise UnsupportedActivationError(
                f"Layer '{name}' feeds activation '{path.activation}' (read from "
                f"{path.found_in}), which is outside the paper's class (relu, "
                "leaky_relu, rrelu, linear). Pass calibrate_with=<a batch of inputs> to "
                "calibrate such layers on data, or on_unsupported='warn' to skip them."
            )
        else:
            warnings.warn(
                f"keras_fracinit.initialize: skipped layer '{name}' with "
                f"unsupported activation '{path.activation}'.",
                stacklevel=3,
            )
            init, status = None, "skipped"
            reason = f"activation '{path.activation}' is outside the paper's class"
    entry = LayerReport(
        layer=name if kernel.name == "kernel" else f"{name}/{kernel.name}",
        layer_type=type(layer).__name__,
        activation=path.activation,
        negative_slope=path.negative_slope,
        dropout=path.dropout,
        found_in=path.found_in,
        fan_in=kernel.fan_in,
        fan_out=kernel.fan_out,
        # The gain is computed here: an overflow raises before anything is drawn.
        stddev=None if init is None else init.stddev_for((kernel.fan_in, kernel.fan_out), kernel.widths),
        status=status,
        reason=reason,
        rule=kernel.rule,
    )
    target = None
    if status == "calibrated":
        blind = path.normalized or not seen or path.end is None
        target = (layer, layer if blind else path.end)
    return entry, kernel, init, target
