"""The kernels of one layer, each with the fans the s-moment gain is computed for.

The gain depends on the number `m` of inputs summed into one output unit (the
fan-in), so each layer type needs its own count:

- `Dense`, `ConvND`: Keras' fans (receptive field x channels, per group).
- `DepthwiseConvND`: per channel. Each output channel sums one input
  channel's receptive field: fan-in `prod(kernel_size)`, fan-out
  `prod(kernel_size) x depth_multiplier`.
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
- Recurrent layers and unknown types: not drawn, with the reason.
"""

import dataclasses
import math

import keras

from keras_fracinit import initializers as fracinit

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
    """

    variable: keras.Variable
    name: str
    fan_in: int
    fan_out: int
    widths: tuple[int, int]
    feeds_linear: bool = False
    rule: str = "keras fans"


def _keras_rule(variable, name):
    shape = tuple(variable.shape)
    return Kernel(variable, name, *fracinit.kernel_fans(shape), fracinit.layer_widths(shape))


def _depthwise(variable, name, feeds_linear=False):
    shape = tuple(variable.shape)
    receptive = math.prod(shape[:-2])
    # per input channel, a small Dense map from its receptive field to its multiplier outputs
    return Kernel(
        variable, name, receptive, receptive * shape[-1], (receptive, shape[-1]), feeds_linear, "per channel"
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


def _einsum(layer, name, feeds_linear=False):
    input_axes, output_axes = einsum_axes(layer.equation)
    fan_in, fan_out = fracinit.kernel_fans(tuple(layer.kernel.shape), input_axes, output_axes)
    return Kernel(layer.kernel, name, fan_in, fan_out, (fan_in, fan_out), feeds_linear, "einsum axes")


def _transpose(layer):
    shape = tuple(layer.kernel.shape)  # (*kernel_size, filters, channels)
    kernel_size, (filters, channels) = shape[:-2], shape[-2:]
    overlap = math.prod(k / s for k, s in zip(kernel_size, layer.strides))
    fan_in = max(channels, round(channels * overlap))
    fan_out = filters * math.prod(kernel_size)
    return Kernel(layer.kernel, "kernel", fan_in, fan_out, (fan_in, filters), False, "transposed")


def layer_kernels(layer):
    """`(kernels, reason)`: the layer's `Kernel`s to draw, or `[]` and why not."""
    if isinstance(layer, keras.layers.MultiHeadAttention):
        parts = (("query", layer.query_dense), ("key", layer.key_dense), ("value", layer.value_dense))
        kernels = [_einsum(dense, name, feeds_linear=True) for name, dense in parts]
        return kernels + [_einsum(layer.output_dense, "output")], ""
    if isinstance(layer, keras.layers.EinsumDense):
        return [_einsum(layer, "kernel")], ""
    if isinstance(layer, _SEPARABLE):
        return [
            _depthwise(layer.depthwise_kernel, "depthwise_kernel", feeds_linear=True),
            _keras_rule(layer.pointwise_kernel, "pointwise_kernel"),
        ], ""
    if isinstance(layer, _DEPTHWISE):
        return [_depthwise(layer.kernel, "kernel")], ""
    if isinstance(layer, _TRANSPOSE):
        return [_transpose(layer)], ""
    if isinstance(layer, (keras.layers.Dense, *_CONV)):
        return [_keras_rule(layer.kernel, "kernel")], ""
    if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
        return [], "recurrent kernels are outside the paper's feed-forward model"
    return [], f"{type(layer).__name__} is not a layer type initialize knows"
