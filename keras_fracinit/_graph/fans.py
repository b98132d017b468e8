"""The kernels of one layer, each with the fans the s-moment gain is computed for.

The weights' variance is `g_s(m) / fan_in`: the gain `g_s(m)` depends on the
layer's output width `m` (the output units at one location), and the fan-in
(the number of inputs summed into one output unit) divides it. Each layer
type needs both counted its own way:

- `Dense`, `ConvND`: Keras' fans (receptive field x channels, per group).
- `DepthwiseConvND`: per channel. Each output unit sums one input
  channel's receptive field: fan-in `prod(kernel_size)`, fan-out
  `prod(kernel_size) x depth_multiplier`; the output width at one location
  is every output unit there, `channels x depth_multiplier` (as for the
  same map written as `ConvND(groups=channels)`).
- `SeparableConvND`: both kernels. The depthwise kernel (per channel, as
  above) feeds the pointwise kernel linearly; the pointwise kernel (fan-in
  `channels x depth_multiplier`) feeds the layer's activation.
- `ConvNDTranspose`: each output position receives on average
  `channels x prod(kernel_size / strides)` terms, which is the fan-in (rounded,
  at least `channels`); the fan-out is `filters x prod(kernel_size)`.
- `EinsumDense`: the product of the kernel's input and output axes, read
  from the equation as Keras' `VarianceScaling` receives them.
- `MultiHeadAttention`: its four `EinsumDense` kernels. Query and key make
  the logits of the attention softmax and value feeds a convex combination,
  so all three feed linear maps; the output kernel feeds what follows the
  layer.
- `TimeDistributed`: the kernels of its inner layer.
- Recurrent layers (`Bidirectional` included, forward and backward named
  apart): not drawn, with the reason.
- Any other layer: its kernels are found in the layers it holds
  (`composite_kernels`), since its `call()` runs them where no graph shows.
"""

import dataclasses
import math
from typing import Any

import keras

from keras_fracinit import initializers
from keras_fracinit._backend import keras_private
from keras_fracinit._graph import weights

_CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
_TRANSPOSE = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)


@dataclasses.dataclass(frozen=True)
class Kernel:
    """One kernel variable to draw.

    Attributes:
        variable: The layer's kernel variable.
        name: Its name within the layer (`kernel`, `depthwise_kernel`, `query`, ...).
        fan_in: Inputs summed into one output unit (the variance's fan).
        fan_out: Output units each input reaches.
        widths: `(n_in, n_out)` units at one location, the widths the
            moment condition sees (`g_s(n_out)` in fan-in mode).
        feeds_linear: True when the kernel feeds a linear map inside the layer
            (drawn for `linear` whatever the layer's activation).
        rule: How the fans were counted (shown in the report).
        applied_by: The sublayer whose call applies the kernel inside the
            layer (attention's query, key and value), or None for the layer.
    """

    variable: keras.Variable
    name: str
    fan_in: int
    fan_out: int
    widths: tuple[int, int]
    feeds_linear: bool = False
    rule: str = "keras fans"
    applied_by: Any = None


def _keras_rule(variable, name):
    shape = tuple(variable.shape)
    return Kernel(variable, name, *initializers.kernel_fans(shape), initializers.layer_widths(shape))


def _depthwise(variable, name, feeds_linear=False):
    shape = tuple(variable.shape)  # (*kernel_size, channels, depth_multiplier)
    receptive = math.prod(shape[:-2])
    channels, multiplier = shape[-2:]
    # Each output unit sums one channel's receptive field; at one location the
    # output has channels x multiplier units, which the moment condition counts.
    return Kernel(
        variable,
        name,
        receptive,
        receptive * multiplier,
        (channels, channels * multiplier),
        feeds_linear,
        "per channel",
    )


def einsum_axes(equation):
    """`(input_axes, output_axes)` of an `EinsumDense` kernel, from its equation.

    A kernel axis whose letter appears in the output is an output axis;
    otherwise it is summed over, an input axis (Keras' own reading).
    """
    inputs, output = equation.replace(" ", "").split("->")
    weight = inputs.split(",")[1].replace("...", "")
    output = output.replace("...", "")
    output_axes = [i for i, letter in enumerate(weight) if letter in output]
    input_axes = [i for i, letter in enumerate(weight) if letter not in output]
    return input_axes, output_axes


def _einsum(layer, name, feeds_linear=False, applied_by=None):
    input_axes, output_axes = einsum_axes(layer.equation)
    variable = keras_private.kernel_variable(layer)
    fan_in, fan_out = initializers.kernel_fans(tuple(variable.shape), input_axes, output_axes)
    return Kernel(variable, name, fan_in, fan_out, (fan_in, fan_out), feeds_linear, "einsum axes", applied_by)


def _transpose(layer):
    variable = keras_private.kernel_variable(layer)
    shape = tuple(variable.shape)  # (*kernel_size, filters, channels)
    kernel_size, (filters, channels) = shape[:-2], shape[-2:]
    overlap = math.prod(k / s for k, s in zip(kernel_size, layer.strides))
    fan_in = max(channels, round(channels * overlap))
    fan_out = filters * math.prod(kernel_size)
    return Kernel(variable, "kernel", fan_in, fan_out, (fan_in, filters), False, "transposed")


RECURRENT_REASON = "recurrent kernels are outside the paper's feed-forward model"
# Layers that apply their kernels at each location alike: an average pooling
# after them commutes with the kernel.
PER_LOCATION = (keras.layers.Dense, *_CONV, *_DEPTHWISE, *_SEPARABLE, *_TRANSPOSE)
KNOWN = (keras.layers.MultiHeadAttention, keras.layers.EinsumDense, *PER_LOCATION)
_RECURRENT = (keras.layers.RNN, keras.layers.Bidirectional)


def is_kernel_layer(layer):
    """Whether `layer` is a type whose kernels `layer_kernels` reads (its input meets a linear map first)."""
    if isinstance(layer, keras.layers.TimeDistributed):
        return is_kernel_layer(layer.layer)
    return isinstance(layer, (*KNOWN, *_RECURRENT))


def is_attention(layer):
    """Whether `layer` is Keras' `MultiHeadAttention`, whose query, key and value
    projections a tap model can re-apply to the layer's own inputs."""
    return isinstance(layer, keras.layers.MultiHeadAttention)


def is_per_location(layer):
    """Whether `layer` applies its kernel at every location alike (Dense, convolutions)."""
    if isinstance(layer, keras.layers.TimeDistributed):
        return is_per_location(layer.layer)
    return isinstance(layer, PER_LOCATION)


def _is_kernel(layer, weight):
    name = weight.name.rsplit("/", 1)[-1]
    return not name.startswith("lora_") and (name.endswith("kernel") or weights.is_matrix(layer, weight))


def kernel_weights(layer):
    """The kernels of `layer` and its sublayers: weights named `*kernel` and any other matrix.

    A matrix is a weight of rank 2 or more that is not an embedding, a
    normalization's, a LoRA factor or a non-trainable buffer
    (`weights.role`): a layer can only use it as a linear map.
    """
    found = [w for w in weights.own_weights(layer) if _is_kernel(layer, w)]
    for sub in keras_private.sublayers(layer):
        found += kernel_weights(sub)
    return list({id(w): w for w in found}.values())


def _unknown_use(layer, variable):
    """A kernel of a layer whose `call()` is not read: per expert when stacked, else Keras' fans."""
    shape = tuple(variable.shape)
    experts = getattr(layer, "num_experts", None)
    if len(shape) == 3 and shape[0] == experts:
        # (experts, in, out): each expert is a matrix with its own fans
        fan_in, fan_out = shape[1], shape[2]
        return Kernel(variable, variable.name, fan_in, fan_out, (fan_in, fan_out), rule="per expert")
    return dataclasses.replace(_keras_rule(variable, variable.name), rule="keras fans (unknown layer)")


def _prefixed(kernels, prefix):
    return [
        dataclasses.replace(k, name=prefix if k.name == "kernel" else f"{prefix}/{k.name}") for k in kernels
    ]


def layer_kernels(layer):
    """`(kernels, reason)`: the `Kernel`s of a known layer type, or `[]` and why not.

    An unknown type returns `[]` and an empty reason: its kernels are in
    `composite_kernels`.
    """
    if isinstance(layer, keras.layers.TimeDistributed):
        kernels, reason = layer_kernels(layer.layer)
        return _prefixed(kernels, layer.layer.name), reason
    if isinstance(layer, keras.layers.MultiHeadAttention):
        parts = (("query", layer.query_dense), ("key", layer.key_dense), ("value", layer.value_dense))
        kernels = [_einsum(dense, name, feeds_linear=True, applied_by=dense) for name, dense in parts]
        return kernels + [_einsum(layer.output_dense, "output")], ""
    if isinstance(layer, keras.layers.EinsumDense):
        return [_einsum(layer, "kernel")], ""
    if isinstance(layer, _SEPARABLE):
        return [
            _depthwise(layer.depthwise_kernel, "depthwise_kernel", feeds_linear=True),
            _keras_rule(layer.pointwise_kernel, "pointwise_kernel"),
        ], ""
    if isinstance(layer, _DEPTHWISE):
        return [_depthwise(keras_private.kernel_variable(layer), "kernel")], ""
    if isinstance(layer, _TRANSPOSE):
        return [_transpose(layer)], ""
    if isinstance(layer, (keras.layers.Dense, *_CONV)):
        return [_keras_rule(keras_private.kernel_variable(layer), "kernel")], ""
    if isinstance(layer, _RECURRENT):
        return [], RECURRENT_REASON
    return [], ""


def named_kernel_weights(layer):
    """`[(name, variable)]` of a layer's kernel weights, named by the sublayers that hold them.

    `Bidirectional` gives `forward_lstm/kernel` and `backward_lstm/kernel`;
    a plain layer `kernel`.
    """
    found, seen = [], set()
    for sub in keras_private.sublayers(layer):
        for name, variable in named_kernel_weights(sub):
            found.append((f"{sub.name}/{name}", variable))
            seen.add(id(variable))
    own = [(w.name, w) for w in kernel_weights(layer) if id(w) not in seen]
    return own + found


def composite_kernels(layer, prefix):
    """`[(path, sublayer, kernels, reason)]` inside a layer of unknown type, in the order its layers are held.

    Known sublayers (Dense, attention, convolutions, ...) give their own
    kernels; unknown ones are searched in turn. A kernel the unknown layer
    holds itself is counted by Keras' fan rule (how its `call()` uses it
    cannot be known).
    """
    found, seen = [], set()
    for sub in keras_private.sublayers(layer):
        path = f"{prefix}/{sub.name}"
        if is_kernel_layer(sub):
            kernels, reason = layer_kernels(sub)
            if kernels or reason:
                found.append((path, sub, kernels, reason))
                seen.update(id(w) for w in kernel_weights(sub))
                continue
        inner = composite_kernels(sub, path)
        found += inner
        seen.update(id(w) for w in kernel_weights(sub))
    own = [_unknown_use(layer, w) for w in kernel_weights(layer) if id(w) not in seen]
    return ([(prefix, layer, own, "")] if own else []) + found
