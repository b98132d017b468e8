"""What each layer or `keras.ops` call does to the law the s-moment gain assumes.

The gain of a kernel is exact when the units of its output, at one
location, go through one activation of the paper's class. Between a kernel
and that activation there may be layers that do not change this: this module
names them (`LOOK_THROUGH`, with the reason each is safe) and reads the
activation of an activation layer, function or op. Anything it does not name
is unknown, and a path that meets it is outside the class.
"""

import dataclasses

import keras

from keras_fracinit._backend import keras_private
from keras_fracinit.theory import activation as activation_lib

# Categories of look-through steps (see `LOOK_THROUGH`).
NORMALIZATION = "normalization"
DROPOUT = "dropout"
REARRANGE = "rearrange"
MERGE = "merge"
MAX_POOLING = "max pooling"
AVERAGE_POOLING = "average pooling"

# Activations a max pooling commutes with: non-decreasing ones.
MONOTONE = ("relu", "leaky_relu")
# An output layer with one of these is a classifier head: its kernel makes logits.
HEAD_ACTIVATIONS = ("softmax", "sigmoid")


@dataclasses.dataclass(frozen=True)
class LookThrough:
    """Layers (or `keras.ops` functions) a path is read through, and why that is safe.

    Attributes:
        category: One of the categories above.
        layers: The layer classes.
        ops: Names of the `keras.ops` functions in a functional graph.
        why: Why the s-moment law is known through them.
    """

    category: str
    layers: tuple
    ops: tuple[str, ...]
    why: str


def _classes(*names):
    return tuple(getattr(keras.layers, name) for name in names if hasattr(keras.layers, name))


LOOK_THROUGH = (
    LookThrough(
        NORMALIZATION,
        _classes(
            "BatchNormalization",
            "LayerNormalization",
            "GroupNormalization",
            "RMSNormalization",
            "UnitNormalization",
        ),
        (),
        "an affine map per unit at initialization (unit scale, zero shift; BatchNormalization's moving "
        "statistics start at 0 and 1); in training the normalization, not the kernel's scale, sets the "
        "scale the activation sees",
    ),
    LookThrough(
        DROPOUT,
        _classes("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"),
        (),
        "inverted dropout multiplies each unit by a non-negative factor, which commutes with every "
        "activation of the class: wherever it sits on the path it is dropout on the activation's "
        "output, and its rate enters the gain (rates on one path compound)",
    ),
    LookThrough(
        REARRANGE,
        _classes(
            "Reshape",
            "Flatten",
            "Permute",
            "RepeatVector",
            "Identity",
            "ActivityRegularization",
            "ZeroPadding1D",
            "ZeroPadding2D",
            "ZeroPadding3D",
            "Cropping1D",
            "Cropping2D",
            "Cropping3D",
        ),
        ("reshape", "transpose", "expand_dims", "squeeze", "get_item", "slice", "tile", "repeat"),
        "moves, copies, crops or zero-pads units without changing their values, which commutes with "
        "every elementwise activation with phi(0) = 0 (the whole class)",
    ),
    LookThrough(
        MERGE,
        _classes("Add", "Average", "Concatenate"),
        ("add", "concatenate"),
        "a residual sum or a concatenation passes the kernel's units on to the activation read beyond "
        "it (every consumer of the merge is followed too)",
    ),
    LookThrough(
        MAX_POOLING,
        _classes(
            "MaxPooling1D",
            "MaxPooling2D",
            "MaxPooling3D",
            "GlobalMaxPooling1D",
            "GlobalMaxPooling2D",
            "GlobalMaxPooling3D",
        ),
        (),
        "only before a non-decreasing activation (ReLU, Leaky ReLU): relu(max(x)) = max(relu(x)), so "
        "the kernel's units meet the activation first; before a linear map or an unknown step the "
        "law is unknown",
    ),
    LookThrough(
        AVERAGE_POOLING,
        _classes(
            "AveragePooling1D",
            "AveragePooling2D",
            "AveragePooling3D",
            "GlobalAveragePooling1D",
            "GlobalAveragePooling2D",
            "GlobalAveragePooling3D",
        ),
        (),
        "a linear map over locations: it commutes with a kernel applied per location (Dense, "
        "convolutions), so the activation sees that kernel applied to a pooled input; not after a max "
        "pooling, and not after a kernel that mixes locations otherwise (EinsumDense, attention)",
    ),
)


def entry_for(operation):
    """The `LookThrough` entry of a layer or op, or None.

    An `Activation` layer (or `activation=` function) that is the identity
    counts as a rearrangement.
    """
    found = keras_private.ops_call(operation)
    for entry in LOOK_THROUGH:
        if found is None and isinstance(operation, entry.layers):
            return entry
        if found is not None and found[0] in entry.ops:
            return entry
    if found is None and isinstance(operation, keras.layers.Activation):
        if _from_function(operation.activation) == ("linear", None):
            return LOOK_THROUGH[2]
    return None


def _activation_name(function):
    try:
        name = keras.activations.serialize(function)
    except Exception:  # a lambda or other function Keras cannot name
        return getattr(function, "__name__", repr(function))
    if isinstance(name, str):
        return name
    # a registered custom function serializes to a dict: its registered name
    config = name.get("config") if isinstance(name, dict) else None
    return config if isinstance(config, str) else getattr(function, "__name__", repr(name))


def _from_function(function):
    """`(activation, negative_slope)` of a Keras activation function."""
    if isinstance(function, keras.layers.Layer):
        # An activation layer passed as `activation=`, e.g. LeakyReLU(0.01).
        found = activation_layer(function)
        if found is not None:
            return found
    name = _activation_name(function)
    if name == "relu":
        return "relu", None
    if name == "leaky_relu":
        # keras.activations.leaky_relu called with its default slope
        return "leaky_relu", activation_lib.DEFAULT_NEGATIVE_SLOPE
    if name == "linear":
        return "linear", None
    return name, None


def own_activation(layer):
    """`(activation, negative_slope)` a layer applies itself (`linear` if none)."""
    if isinstance(layer, keras.layers.TimeDistributed):
        return own_activation(layer.layer)
    own = getattr(layer, "activation", None)
    return ("linear", None) if own is None else _from_function(own)


def activation_layer(layer):
    """`(activation, negative_slope)` of an activation layer or `keras.ops` activation, or None.

    Only `relu` and `leaky_relu` (with its slope) are read as such; every
    other activation, and any `keras.ops` call that is neither an activation
    nor a look-through step, is returned by name (never as linear).
    """
    found = keras_private.ops_call(layer)
    if found is not None:
        name, attributes = found
        if name == "relu":
            return "relu", None
        if name == "leaky_relu":
            return "leaky_relu", attributes.get("negative_slope", activation_lib.DEFAULT_NEGATIVE_SLOPE)
        return f"keras.ops.{name}", None
    if isinstance(layer, keras.layers.ReLU):
        if layer.max_value is not None or layer.threshold != 0:
            capped = f"max_value={float(layer.max_value):g}" if layer.max_value is not None else ""
            shifted = f"threshold={float(layer.threshold):g}" if layer.threshold != 0 else ""
            return f"relu({', '.join(part for part in (capped, shifted) if part)})", None
        if layer.negative_slope == 0:
            return "relu", None
        return "leaky_relu", float(layer.negative_slope)
    if isinstance(layer, keras.layers.LeakyReLU):
        return "leaky_relu", float(layer.negative_slope)
    if isinstance(layer, keras.layers.Activation):
        return _from_function(layer.activation)
    if isinstance(layer, keras.layers.Softmax):
        return "softmax", None
    if isinstance(layer, keras.layers.ELU):
        return "elu", None
    if isinstance(layer, keras.layers.Lambda):
        # an arbitrary function: never read as linear
        return f"lambda ({getattr(layer.function, '__name__', 'function')})", None
    if isinstance(layer, keras.layers.PReLU) and layer.built:
        # A PReLU whose slopes are all equal (a constant initializer) is a
        # Leaky ReLU with that slope, ReLU at 0; learned, unequal slopes are not.
        alpha = keras.ops.convert_to_numpy(layer.alpha)
        if alpha.size and (alpha == alpha.flat[0]).all():
            slope = float(alpha.flat[0])
            return ("relu", None) if slope == 0 else ("leaky_relu", slope)
        return "prelu(unequal slopes)", None
    return None


def in_class(activation, negative_slope=None):
    """Whether an activation read here is one the exact gains cover."""
    if activation in ("relu", "linear"):
        return True
    return activation == "leaky_relu" and negative_slope is not None and negative_slope >= 0
