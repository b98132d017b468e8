"""Keras initializers that preserve the s-th moment of the signal norm."""

import math
import warnings
from collections.abc import Sequence
from typing import Any

import keras

from keras_fracinit import _checks
from keras_fracinit._backend import keras_checks
from keras_fracinit._backend import keras_private
from keras_fracinit._backend import kernel_draws
from keras_fracinit.theory import activation as activation_lib
from keras_fracinit.theory import moments

MODES = ("fan_in", "fan_out")
_PACKAGE = "keras_fracinit"


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


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FractionalMomentNormal(_FractionalMomentInitializer):
    """Gaussian weights that preserve the s-th moment of the signal norm.

    Draws from an untruncated `N(0, sigma^2)` with

        sigma^2 = g_s(m) / fan,    g_s(m) = m * E[X_m^(s/2)]^(-2/s),

    where `X_m = sum_i phi(z_i)^2` over the `m` units of the layer's output,
    `z_i` iid N(0, 1). With this variance `E[r_out^s] = E[r_in^s]` for the
    per-unit RMS `r = ||x|| / sqrt(n)` of a layer's input and output, exactly,
    at every width. `g_s(m)` is computed exactly (no Monte Carlo, no
    large-width approximation) and cached.

    `s = 2` is the classical scheme, bit for bit: He/Kaiming normal
    (`VarianceScaling(2.0, distribution="untruncated_normal")`) for ReLU,
    `2 / (1 + a^2)` for Leaky ReLU, LeCun for linear. `s < 2` gives slightly
    larger weights, so fewer signals die out over depth.

    Modes: `"fan_in"` preserves the forward signal, `fan = fan_in` and `m` the
    output width (`shape[-1]`: units, or output channels at one location);
    `"fan_out"` preserves the backward signal, `fan = fan_out` and
    `m = shape[-2]`. For ConvND kernels this is the per-location analogue,
    the same approximation He initialization makes for convolutions.

    An initializer does not see its layer's activation: pass the activation of
    the layer it initializes. With `kernel_initializer="fractional_moment"`
    you get the default, `s=1` for ReLU.

    Args:
        s: Moment order to preserve, in (0, 2]. The paper uses 0.8 for ReLU
            and 1 for Leaky ReLU and linear networks.
        activation: The layer's activation: `"relu"`, `"leaky_relu"`,
            `"rrelu"` (randomized Leaky ReLU) or `"linear"`, with the four
            arguments below; or a `keras_fracinit.theory.ActivationSpec`
            that holds them (the config stores its fields).
        negative_slope: Leaky ReLU slope, default 0.2 (Keras 3's default).
        lower: Randomized Leaky ReLU lower slope bound, default 1/8.
        upper: Randomized Leaky ReLU upper slope bound, default 1/3.
        dropout: Inverted-dropout rate applied to the layer's output, in
            [0, 1).
        mode: `"fan_in"` (default) or `"fan_out"`.
        seed: An integer, `None` or a `keras.random.SeedGenerator`, exactly
            as for Keras' built-in initializers: an integer or `None` gives
            the same values on every call, a `SeedGenerator` new values each
            call.
        input_axes: The kernel axes that sum over the layer's input, or
            `None` (then the second-to-last axis and the receptive field, as
            for Dense and convolutions). `EinsumDense` and
            `MultiHeadAttention` pass them, as to Keras' own initializers.
        output_axes: The kernel axes of the layer's output units, with
            `input_axes`; `None`: the last axis.

    Examples:
        >>> import keras, keras_fracinit
        >>> init = keras_fracinit.FractionalMomentNormal(s=0.8, seed=1)
        >>> layer = keras.layers.Dense(64, activation="relu",
        ...                            kernel_initializer=init)
        >>> round(init.stddev((64, 64)), 6)
        0.178887

    Reference:
        M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving
        initialization schemes for training deep neural networks",
        AISTATS 2021.
    """

    def __call__(self, shape, dtype=None, layout=None):
        dtype = keras_checks.check_float_dtype(dtype)
        if layout is not None:
            stddev = self.stddev(shape)
            return kernel_draws.laid_out("normal", shape, dtype, stddev, self._seed_for_call(), layout)
        return keras.random.normal(
            shape,
            mean=0.0,
            stddev=self.stddev(shape),
            dtype=dtype,
            seed=self._seed_for_call(),
        )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FractionalMomentUniform(_FractionalMomentInitializer):
    """Uniform weights with the s-moment standard deviation of the Gaussian scheme.

    Draws from `U[-limit, limit]`, `limit = sqrt(3) * sigma`, with the same
    `sigma = sqrt(g_s(m) / fan)` as `FractionalMomentNormal` (so s = 2 is
    `VarianceScaling(g_2, distribution="uniform")`, e.g. `he_uniform`).

    Honest caveat: the exact s-moment law rests on rotational invariance,
    which only Gaussian weights have. With uniform weights the s-th moment is
    preserved only as the layer grows. Measured for one ReLU layer, s = 1, in
    the least Gaussian case (a one-hot input, so the pre-activations are
    plain uniform variables) the s-th moment grows through the layer by more than 10
    standard errors of a 200,000-draw Monte Carlo at width 4, and far less at
    width 64 (`tests/test_initializers_moments.py`). Use `FractionalMomentNormal`
    where exactness matters.

    Takes the same arguments as `FractionalMomentNormal`.

    Examples:
        >>> import keras_fracinit
        >>> init = keras_fracinit.FractionalMomentUniform(s=1.0, seed=0)
        >>> w = init((256, 128))

    Reference:
        M. Gurbuzbalaban and Y. Hu, AISTATS 2021.
    """

    _DISTRIBUTION = "uniform"

    def __call__(self, shape, dtype=None, layout=None):
        dtype = keras_checks.check_float_dtype(dtype)
        limit = math.sqrt(3.0) * self.stddev(shape)
        if layout is not None:
            return kernel_draws.laid_out("uniform", shape, dtype, limit, self._seed_for_call(), layout)
        return keras.random.uniform(
            shape, minval=-limit, maxval=limit, dtype=dtype, seed=self._seed_for_call()
        )


# String names usable wherever Keras takes an initializer name, the names
# Keras registers the classes under ("keras_fracinit>FractionalMomentNormal") too.
ALIASES = {
    "fractional_moment": FractionalMomentNormal,
    "fractional_moment_normal": FractionalMomentNormal,
    "fractional_moment_uniform": FractionalMomentUniform,
    "FractionalMomentNormal": FractionalMomentNormal,
    "FractionalMomentUniform": FractionalMomentUniform,
    **{
        keras.saving.get_registered_name(cls): cls
        for cls in (FractionalMomentNormal, FractionalMomentUniform)
    },
}
keras_private.register_initializer_names(ALIASES)
