"""Which activation a kernel feeds, read from a model's graph.

An initializer cannot see its layer's activation. This module reads it: the
layer's own activation, or, for a linear layer, the activation layer reached
through layers that are identity-like at initialization (normalization,
dropout). A softmax or sigmoid output head is a logit layer.
"""

import dataclasses
from typing import Any

import keras

from keras_fracinit import _keras_private
from keras_fracinit import _layers
from keras_fracinit.theory import activation as activation_lib

# Between a linear layer and its activation: identity-like at initialization
# (normalization with unit scale, dropout), or a merge that passes the kernel's
# output on to the activation (a residual Add, a Concatenate), so the
# activation is read beyond.
LOOK_THROUGH = (
    keras.layers.Add,
    keras.layers.Average,
    keras.layers.Concatenate,
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.RMSNormalization,
    keras.layers.UnitNormalization,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
)
# The same merges written as `keras.ops` calls in a functional graph (`x + y`).
LOOK_THROUGH_OPS = ("add", "concatenate")
# Normalizations: in training they, not the kernel's scale, set the scale of
# the signal the activation sees.
NORMALIZATION = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.RMSNormalization,
    keras.layers.UnitNormalization,
)
# An output layer with one of these is a classifier head: its kernel makes logits.
HEAD_ACTIVATIONS = ("softmax", "sigmoid")


def _activation_name(function):
    try:
        name = keras.activations.serialize(function)
    except Exception:  # a lambda or other function Keras cannot name
        return getattr(function, "__name__", repr(function))
    return name if isinstance(name, str) else repr(name)


def _from_function(function):
    """`(activation, negative_slope)` of a Keras activation function."""
    if isinstance(function, keras.layers.Layer):
        # An activation layer passed as `activation=`, e.g. LeakyReLU(0.01).
        found = _from_layer(function)
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


def _from_layer(layer):
    """`(activation, negative_slope)` of an activation layer, or `None`."""
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


def _from_ops_call(operation):
    """`(activation, negative_slope)` of a `keras.ops` call after a kernel, or `None` for a layer.

    Only `keras.ops.relu` and `keras.ops.leaky_relu` are read as such; any
    other call (`tanh`, `x * 2`, a reshape) is named, never taken as linear.
    """
    found = _keras_private.ops_call(operation)
    if found is None:
        return None
    name, attributes = found
    if name == "relu":
        return "relu", None
    if name == "leaky_relu":
        return "leaky_relu", attributes.get("negative_slope", activation_lib.DEFAULT_NEGATIVE_SLOPE)
    return f"keras.ops.{name}", None


def _looks_through(operation):
    if isinstance(operation, LOOK_THROUGH):
        return True
    found = _keras_private.ops_call(operation)
    return found is not None and found[0] in LOOK_THROUGH_OPS


@dataclasses.dataclass(frozen=True)
class Graph:
    """How a model's layers connect, beyond each layer's own nodes.

    Attributes:
        parents: `{id(layer): nested model}` for the layers inside nested
            models (`_layers.parents`).
        node_keys: The keys of the model's own graph nodes (other calls of
            its layers, such as a monitor's tap model, are not part of it),
            or None where Keras hides them.
    """

    parents: dict
    node_keys: set | None

    @classmethod
    def of(cls, model):
        graph_models = [model, *_layers.nested_models(model)]
        return cls(_layers.parents(model), _keras_private.graph_node_keys(graph_models))


_NO_GRAPH = Graph({}, None)


def _consumers(layer, graph):
    """The layers that consume `layer`'s output, or None if Keras hides them.

    The output layer of a nested model has no consumer inside it: its output
    is the nested model's, so the model's consumers in the outer graph are
    read.
    """
    found = _keras_private.consumers(layer, graph.node_keys)
    while found == [] and id(layer) in graph.parents:
        layer = graph.parents[id(layer)]
        found = _keras_private.consumers(layer, graph.node_keys)
    return found


def _single_consumer(layer, graph):
    """The only layer that consumes `layer`'s output, or `None`."""
    found = _consumers(layer, graph)
    return found[0] if found is not None and len(found) == 1 else None


@dataclasses.dataclass(frozen=True)
class ActivationPath:
    """The activation one kernel feeds and where it was read.

    Attributes:
        activation: `relu`, `leaky_relu`, `linear`, or an unsupported name.
        negative_slope: The Leaky ReLU slope, if any.
        dropout: Rate of a `Dropout` layer right after the activation.
        found_in: `"layer"` or the path of layers read (`"bn > add > relu"`).
        end: The layer whose output is the activation's output.
        head: Whether the kernel makes the logits of a softmax or sigmoid
            output head.
        normalized: Whether a normalization layer (BatchNormalization,
            LayerNormalization, ...) lies on the path: in training it, not the
            kernel's scale, sets the scale of the signal the activation sees.
    """

    activation: str
    negative_slope: float | None
    dropout: float
    found_in: str
    end: Any
    normalized: bool = False
    head: bool = False


def fed_activation(layer, graph=None):
    """The `ActivationPath` of `layer`'s kernel.

    A layer without an `activation` (MultiHeadAttention) starts linear; a
    softmax or sigmoid output head is reported as linear logits. `graph`
    (`Graph.of(model)`) lets the path leave a nested model and keeps it in
    the model's own graph.
    """
    graph = graph or _NO_GRAPH
    own = getattr(layer, "activation", None)
    activation, slope = ("linear", None) if own is None else _from_function(own)
    path, source, after = [], layer, _single_consumer(layer, graph)
    normalized = False
    if activation == "linear":
        walked, candidate = [], after
        while _looks_through(candidate):
            walked.append(candidate)
            candidate = _single_consumer(candidate, graph)
        from_next = None if candidate is None else _from_layer(candidate) or _from_ops_call(candidate)
        if from_next is not None:
            activation, slope = from_next
            path, source = [w.name for w in walked] + [candidate.name], candidate
            after = _single_consumer(candidate, graph)
            normalized = any(isinstance(w, NORMALIZATION) for w in walked)
    found_in = " > ".join(path) if path else "layer"
    if activation in HEAD_ACTIVATIONS and _consumers(source, graph) == []:
        return ActivationPath(
            "linear", None, 0.0, f"{found_in} ({activation} head: logits)", layer, head=True
        )
    dropout = float(after.rate) if isinstance(after, keras.layers.Dropout) else 0.0
    return ActivationPath(activation, slope, dropout, found_in, source, normalized)


def own_activation_heads(layers, graph=None):
    """Paths of `{path: layer}` that are output heads with their own softmax or
    sigmoid activation (whose logits lie inside the layer)."""
    return [
        path
        for path, layer in layers.items()
        if getattr(layer, "activation", None) is not None
        and _from_function(layer.activation)[0] in HEAD_ACTIVATIONS
        and fed_activation(layer, graph).head
    ]
