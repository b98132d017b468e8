"""What every s-moment initializer shares: Keras' fan rule, arguments, validation, config."""

import math
import warnings
from collections.abc import Sequence
from typing import Any

import keras

from keras_fracinit import _checks
from keras_fracinit._backend import keras_checks
from keras_fracinit.theory import activation as activation_lib
from keras_fracinit.theory import moments

MODES = ("fan_in", "fan_out")
PACKAGE = "keras_fracinit"


def _axes_product(shape, axes):
    return int(math.prod(shape[axis] for axis in axes))


def kernel_fans(shape: Sequence[int], input_axes=None, output_axes=None) -> tuple[int, int]:
    """Keras' fan rule: `(fan_in, fan_out)` of a kernel shape.

    With `input_axes` and `output_axes` (as `EinsumDense` and
    `MultiHeadAttention` give them), the products of those axes. Otherwise
    Dense `(n_in, n_out)` gives `(n_in, n_out)`; a ConvND kernel
    `(*k, c_in, c_out)` gives `(r c_in, r c_out)` with `r = prod(k)`; a rank-1
    shape `(n,)` gives `(n, n)` and a scalar `(1, 1)`.
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return _axes_product(shape, input_axes), _axes_product(shape, output_axes)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive_field = math.prod(shape[:-2])
    return int(receptive_field * shape[-2]), int(receptive_field * shape[-1])


def layer_widths(shape: Sequence[int], input_axes=None, output_axes=None) -> tuple[int, int]:
    """`(n_in, n_out)` per location: the widths the moment condition sees.

    With `input_axes` and `output_axes`, the products of those axes (e.g.
    `heads * key_dim` output units of an attention projection). Otherwise,
    for rank >= 2, `shape[-2]` and `shape[-1]` (input and output units of a
    Dense layer, or channels of a ConvND layer at one location); a rank-1 or
    scalar shape has no such structure and uses its Keras fans.
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        # Per axis there is no receptive field: the widths are the fans.
        return kernel_fans(shape, input_axes, output_axes)
    if len(shape) >= 2:
        return int(shape[-2]), int(shape[-1])
    return kernel_fans(shape)


class _FractionalMomentInitializer(keras.initializers.VarianceScaling):
    """Shared arguments, validation, standard deviation and config.

    A `VarianceScaling` subclass, so that `EinsumDense` and
    `MultiHeadAttention` hand it their kernels' `input_axes` and
    `output_axes` as they do to Keras' own initializers. `scale` holds the
    classical (s = 2) gain; the s-moment gain depends on the width (`gain`).
    """

    _DISTRIBUTION = "untruncated_normal"

    def __init__(
        self,
        s: float = 1.0,
        activation: str | activation_lib.ActivationSpec | None = "relu",
        *,
        negative_slope: float | None = None,
        lower: float | None = None,
        upper: float | None = None,
        dropout: float = 0.0,
        mode: str = "fan_in",
        seed: int | keras.random.SeedGenerator | dict | None = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None:
        self.s = _checks.check_moment_order(s)
        if isinstance(activation, activation_lib.ActivationSpec):
            if (negative_slope, lower, upper, dropout) != (None, None, None, 0.0):
                raise ValueError(
                    "Arguments `negative_slope`, `lower`, `upper` and `dropout` go "
                    "into the ActivationSpec when `activation` is one. "
                    f"Received: activation={activation!r} and negative_slope="
                    f"{negative_slope!r}, lower={lower!r}, upper={upper!r}, dropout={dropout!r}"
                )
            self.spec = activation
        else:
            if not activation_lib.is_supported_activation(activation):
                raise ValueError(
                    "Argument `activation` must be one of "
                    f"{', '.join(repr(a) for a in activation_lib.SUPPORTED_ACTIVATIONS)} (the paper's "
                    f"class, where the exact gain exists). Received: activation={activation!r}. For a "
                    "layer with another activation (GELU, swish, ...), build the model with any "
                    "initializer and call `keras_fracinit.initialize(model, s, calibrate_with=x)` "
                    "with a batch `x` of inputs: it scales such kernels on the data."
                )
            self.spec = activation_lib.ActivationSpec(
                activation, negative_slope=negative_slope, lower=lower, upper=upper, dropout=dropout
            )
        _checks.check_choice(mode, "mode", MODES)
        super().__init__(
            scale=self.spec.law.second_moment_gain,
            mode=mode,
            distribution=self._DISTRIBUTION,
            seed=keras_checks.check_seed(seed),
            input_axes=_checks.check_axes(input_axes, "input_axes"),
            output_axes=_checks.check_axes(output_axes, "output_axes"),
        )
        # What the user passed: an unseeded instance serializes as unseeded.
        self._init_seed = seed
        self._calls = 0

    # The activation's fields, as Keras-style attributes (the spec holds them).
    activation = property(lambda self: self.spec.name)
    negative_slope = property(lambda self: self.spec.negative_slope)
    lower = property(lambda self: self.spec.lower)
    upper = property(lambda self: self.spec.upper)
    dropout = property(lambda self: self.spec.dropout)

    def _seed_for_call(self):
        """The seed of this draw; warns once when a fixed seed repeats a draw."""
        self._calls += 1
        if self._calls == 2 and not isinstance(self.seed, keras.random.SeedGenerator):
            # Keras 2 warned here; Keras 3 silently repeats the draw, which
            # gives every layer sharing this instance the same kernel.
            warnings.warn(
                f"{self!r} has a fixed seed and is called again, so it returns "
                "the same values as on its first call: layers sharing this "
                "instance get identical kernels. Give each layer its own "
                "instance with its own seed, pass "
                "`seed=keras.random.SeedGenerator(...)` for new values on "
                "every call, or re-draw the model with "
                "`keras_fracinit.initialize(model, s, seed=...)`.",
                stacklevel=3,
            )
        return self.seed

    def gain(self, shape: Sequence[int]) -> float:
        """The exact s-moment gain `g_s(m)` used for a kernel of `shape`."""
        return self._gain_for_widths(layer_widths(shape, self.input_axes, self.output_axes))

    def _gain_for_widths(self, widths: tuple[int, int]) -> float:
        n_in, n_out = widths
        width = n_out if self.mode == "fan_in" else n_in
        return moments.gain_for_law(self.s, self.spec.law, max(1, width))

    def stddev(self, shape: Sequence[int]) -> float:
        """The exact standard deviation of the weights drawn for `shape`.

        `sqrt(g_s(m) / fan)`, with `fan` and `m` the Keras fan and the width on
        the side given by `mode` (see the class docstring).

        Args:
            shape: The kernel shape, e.g. `(n_in, n_out)` for `Dense`.

        Returns:
            A Python float.
        """
        return self.stddev_for(
            kernel_fans(shape, self.input_axes, self.output_axes),
            layer_widths(shape, self.input_axes, self.output_axes),
        )

    def stddev_for(self, fans: tuple[int, int], widths: tuple[int, int]) -> float:
        """The standard deviation for fans and widths counted by the caller.

        `stddev(shape)` counts them from the shape by Keras' rule;
        `keras_fracinit.initialize` counts them per layer type (per channel
        for a depthwise kernel, by overlap for a transposed convolution).

        Args:
            fans: `(fan_in, fan_out)`.
            widths: `(n_in, n_out)` units at one location.

        Returns:
            A Python float.
        """
        fan = fans[0] if self.mode == "fan_in" else fans[1]
        # Same expression as Keras' VarianceScaling, so s = 2 matches it bit
        # for bit.
        return math.sqrt(self._gain_for_widths(widths) / max(1.0, fan))

    def get_config(self) -> dict[str, Any]:
        return {
            "s": self.s,
            **self.spec.config(),
            "mode": self.mode,
            "seed": keras.saving.serialize_keras_object(self._init_seed),
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }

    def __repr__(self):
        args = ", ".join(
            f"{key}={value!r}"
            for key, value in self.get_config().items()
            if value is not None and key != "seed"
        )
        return f"{self.__class__.__name__}({args})"
