"""`initialize(model, s)`: re-initialize every kernel of a built model.

An initializer cannot see its layer's activation; this function can. For
every `Dense` and `Conv1D/2D/3D` layer it reads the activation the kernel
feeds (the layer's own, or the activation layer that directly follows a
linear one, and a `Dropout` right after that) and draws the kernel with
`FractionalMomentNormal` for that activation.
"""

import dataclasses
import warnings
from typing import Any

import keras

from keras_fracinit import _activation_path
from keras_fracinit import _layers
from keras_fracinit import initializers as fracinit

_KERNEL_LAYERS = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)
_ON_UNSUPPORTED = ("raise", "warn")


class UnsupportedActivationError(ValueError):
    """A kernel feeds an activation outside the paper's class."""


@dataclasses.dataclass(frozen=True)
class LayerReport:
    """What `initialize` found and did for one layer.

    Attributes:
        layer: The layer's name (`outer/inner` inside nested models).
        layer_type: The layer's class name.
        activation: The activation found (`relu`, `leaky_relu`, `linear`, or
            the unsupported name).
        negative_slope: The Leaky ReLU slope, if any.
        dropout: Rate of a `Dropout` layer right after the activation.
        found_in: Where the activation was read: `"layer"` or the name of
            the following layer.
        fan_in: Keras' fan-in of the kernel.
        fan_out: Keras' fan-out of the kernel.
        stddev: Standard deviation drawn with (`None` if skipped).
        status: `"initialized"` or `"skipped"`.
        reason: Why a layer was skipped (empty otherwise).
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


class InitializationReport(list):
    """The `LayerReport`s of one `initialize` call; prints as a table."""

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
                "-" if r.stddev is None else f"{r.stddev:.6f}",
                r.status + (f": {r.reason}" if r.reason else ""),
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
) -> InitializationReport:
    """Re-initializes every Dense and ConvND kernel with the s-moment scheme.

    For each kernel the activation is read from the layer itself (`relu`,
    `leaky_relu` with Keras' slope 0.2, `linear`/None) or, when the layer is
    linear, from the activation layer that directly follows it (`ReLU`,
    `LeakyReLU(negative_slope)`, `Activation`); a `Dropout` right after the
    activation is taken into account. The kernel is then drawn with
    `FractionalMomentNormal(s, activation, ...)`. Biases are left untouched.

    An activation outside the paper's class (tanh, gelu, ...) is never
    treated as ReLU: `on_unsupported="raise"` (default) raises before any
    kernel changes; `"warn"` skips that layer with one warning.

    Args:
        model: A built Keras model (Sequential, functional or nested).
        s: Moment order, in (0, 2].
        mode: `"fan_in"` or `"fan_out"`.
        seed: An integer (reproducible), `None`, or a
            `keras.random.SeedGenerator`; every layer gets different draws.
        on_unsupported: `"raise"` or `"warn"`.

    Returns:
        An `InitializationReport` (a list of `LayerReport`, one per kernel
        layer, that prints as a table).

    Raises:
        UnsupportedActivationError: for an activation outside the class,
            with `on_unsupported="raise"`.
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
    # Validate s and mode once, before any kernel changes.
    fracinit.FractionalMomentNormal(s, mode=mode, seed=0)
    if not isinstance(seed, keras.random.SeedGenerator):
        seed = keras.random.SeedGenerator(seed)

    # Plan every layer first (activation, fans, gain): any error leaves the
    # model untouched, since no kernel is drawn before the plan is complete.
    plans: list[tuple[LayerReport, Any, fracinit.FractionalMomentNormal | None]] = []
    unsupported_types: dict[str, list[str]] = {}
    for name, layer in _layers.named_layers(model):
        kernels = [weight for weight in layer.weights if weight.name.endswith("kernel")]
        if not kernels:
            continue
        shape = tuple(kernels[0].shape)
        fan_in, fan_out = fracinit.kernel_fans(shape)
        common = {"layer": name, "layer_type": type(layer).__name__, "fan_in": fan_in, "fan_out": fan_out}
        if not isinstance(layer, _KERNEL_LAYERS):
            names = ", ".join(sorted({weight.name for weight in kernels}))
            unsupported_types.setdefault(type(layer).__name__, []).append(name)
            reason = f"{type(layer).__name__} kernels ({names}) are not drawn by initialize"
            entry = LayerReport(
                activation="-",
                negative_slope=None,
                dropout=0.0,
                found_in="-",
                stddev=None,
                status="skipped",
                reason=reason,
                **common,
            )
            plans.append((entry, layer, None))
            continue
        activation, slope, dropout, found_in = _activation_path.fed_activation(layer)
        try:
            init = fracinit.FractionalMomentNormal(
                s, activation, negative_slope=slope, dropout=dropout, mode=mode, seed=seed
            )
        except ValueError:
            init = None
            if on_unsupported == "raise":
                raise UnsupportedActivationError(
                    f"Layer '{name}' feeds activation '{activation}' (read from "
                    f"{found_in}), which is outside the paper's class (relu, "
                    "leaky_relu, rrelu, linear). Pass on_unsupported='warn' to "
                    "skip such layers."
                ) from None
            warnings.warn(
                f"keras_fracinit.initialize: skipped layer '{name}' with "
                f"unsupported activation '{activation}'.",
                stacklevel=2,
            )
        entry = LayerReport(
            activation=activation,
            negative_slope=slope,
            dropout=dropout,
            found_in=found_in,
            # The gain is computed here: an overflow raises before anything is drawn.
            stddev=None if init is None else init.stddev(shape),
            status="skipped" if init is None else "initialized",
            reason="" if init is not None else f"activation '{activation}' is outside the paper's class",
            **common,
        )
        plans.append((entry, layer, init))
    if unsupported_types:
        warnings.warn(
            "keras_fracinit.initialize: left these layers' kernels as they were "
            f"(layer types it does not draw yet): {unsupported_types}.",
            stacklevel=2,
        )

    report = InitializationReport()
    for entry, layer, init in plans:
        if init is not None:
            layer.kernel.assign(init(tuple(layer.kernel.shape), dtype=layer.kernel.dtype))
        report.append(entry)
    return report
