"""Heavy-tailed symmetric alpha-stable weights that preserve the s-th moment of the signal size."""

import math
from collections.abc import Sequence
from typing import Any

import keras

from keras_fracinit import _checks
from keras_fracinit._backend import keras_checks
from keras_fracinit._backend import kernel_draws
from keras_fracinit.initializers.base import PACKAGE
from keras_fracinit.initializers.base import _FractionalMomentInitializer
from keras_fracinit.initializers.base import kernel_fans
from keras_fracinit.initializers.base import layer_widths
from keras_fracinit.theory import activation as activation_lib
from keras_fracinit.theory import stable_moments


@keras.saving.register_keras_serializable(package=PACKAGE)
class FractionalMomentStable(_FractionalMomentInitializer):
    """Symmetric alpha-stable weights that preserve the s-th moment of the signal size.

    Draws iid SaS(sigma) values, `E exp(iuW) = exp(-sigma^alpha |u|^alpha)`:
    heavy-tailed for `alpha < 2` (`P(|W| > t) ~ c t^-alpha`, infinite
    variance), Cauchy at `alpha = 1`, Gaussian `N(0, 2 sigma^2)` at `alpha = 2`.
    The scale is

        sigma^alpha = G_{alpha,s}(m) / fan,   G_{alpha,s}(m) = m E[Y_m^s]^(-alpha/s),

    where `Y_m` is the l_alpha norm of `phi(z)` over the layer's `m` output
    units for `z` iid SaS(1). Such weights map an input `x` to outputs whose
    l_alpha norm is `sigma ||x||_alpha Y_m`, with `Y_m` independent of `x`, so
    this `sigma` keeps `E[r^s]` of the per-unit size `r = ||x||_alpha /
    n^(1/alpha)` equal from a layer's input to its output, exactly, at every
    width, for `0 < s < alpha` (larger moments are infinite). `G` is
    computed exactly (`keras_fracinit.theory.stable_moment_gain`) and cached.

    `alpha = 2` draws exactly what `FractionalMomentNormal(s, ...)` draws.

    Depth: the s-moment is kept, but the typical size drifts down faster than
    under Gaussian weights (by about `exp(L mu)` over `L` layers, with `mu`
    from `keras_fracinit.theory.log_norm_limit(..., alpha=alpha)`): a smaller
    `s` pulls `mu` towards 0.

    Values come from the Chambers-Mallows-Stuck representation of two uniform
    draws, in float32 (float64 for float64 kernels); a value beyond the
    dtype's finite range, possible for small `alpha` and narrow dtypes, is
    clipped to it.

    Args:
        s: Moment order to preserve, in (0, 2] and below `alpha`.
        alpha: Stability index of the weights, in (0, 2].
        activation: The layer's activation, as for `FractionalMomentNormal`
            (`"relu"`, `"leaky_relu"`, `"rrelu"`, `"linear"` or an
            `ActivationSpec`), with `negative_slope`, `lower`, `upper` and
            `dropout`.
        negative_slope: Leaky ReLU slope, default 0.2.
        lower: Randomized Leaky ReLU lower slope bound, default 1/8.
        upper: Randomized Leaky ReLU upper slope bound, default 1/3.
        dropout: Inverted-dropout rate applied to the layer's output.
        mode: `"fan_in"` (default, forward signal) or `"fan_out"`.
        seed: An integer, `None` or a `keras.random.SeedGenerator`, as for
            Keras' initializers.
        input_axes: Kernel axes summed over the layer's input (as given by
            `EinsumDense` and `MultiHeadAttention`), or `None`.
        output_axes: Kernel axes of the layer's output units, or `None`.

    Example:
        >>> import keras, keras_fracinit
        >>> init = keras_fracinit.FractionalMomentStable(s=0.8, alpha=1.5, seed=1)
        >>> layer = keras.layers.Dense(64, activation="relu", kernel_initializer=init)
        >>> round(init.scale((64, 64)), 6)
        0.042914

    Reference:
        M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving
        initialization schemes for training deep neural networks", AISTATS
        2021; S. Favaro, S. Fortini and S. Peluchetti, "Stable behaviour of
        infinitely wide deep neural networks", AISTATS 2020; J. Chambers, C.
        Mallows and B. Stuck, JASA 71 (1976).
    """

    def __init__(
        self,
        s: float = 1.0,
        alpha: float = 1.5,
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
        # before anything is built: s in (0, 2], alpha in (0, 2], s < alpha
        s = _checks.check_moment_order(s)
        self.alpha = _checks.check_stability_index(alpha)
        _checks.check_order_below_index(s, self.alpha)
        super().__init__(
            s,
            activation,
            negative_slope=negative_slope,
            lower=lower,
            upper=upper,
            dropout=dropout,
            mode=mode,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )
        # VarianceScaling stores its gain as the attribute `scale`, which would
        # hide the method `scale(shape)` (the SaS scale) of this class.
        del self.scale

    def _gain_for_widths(self, widths: tuple[int, int]) -> float:
        n_in, n_out = widths
        width = n_out if self.mode == "fan_in" else n_in
        return stable_moments.stable_gain_for_law(self.s, self.alpha, self.spec.law, max(1, width))

    def scale(self, shape: Sequence[int]) -> float:
        """The SaS scale `sigma = (G_{alpha,s}(m) / fan)^(1/alpha)` of the weights drawn for `shape`.

        Args:
            shape: The kernel shape, e.g. `(n_in, n_out)` for `Dense`.

        Returns:
            A Python float.
        """
        return self.scale_for(
            kernel_fans(shape, self.input_axes, self.output_axes),
            layer_widths(shape, self.input_axes, self.output_axes),
        )

    def scale_for(self, fans: tuple[int, int], widths: tuple[int, int]) -> float:
        """The scale `sigma` for fans and widths counted by the caller (see `stddev_for`)."""
        fan = fans[0] if self.mode == "fan_in" else fans[1]
        return (self._gain_for_widths(widths) / max(1.0, fan)) ** (1.0 / self.alpha)

    def stddev_for(self, fans: tuple[int, int], widths: tuple[int, int]) -> float:
        """The standard deviation: `sqrt(2) sigma` at `alpha = 2`; infinite below.

        Raises:
            ValueError: for `alpha < 2`, whose weights have no variance; use
                `scale_for`.
        """
        if self.alpha < 2.0:
            raise ValueError(
                f"alpha-stable weights with alpha={self.alpha} < 2 have infinite variance: they have "
                "no standard deviation. Use `scale(shape)`, the SaS scale sigma."
            )
        fan = fans[0] if self.mode == "fan_in" else fans[1]
        # 2 G / fan = g_s / fan exactly: FractionalMomentNormal's expression, bit for bit
        return math.sqrt(2.0 * self._gain_for_widths(widths) / max(1.0, fan))

    def __call__(self, shape, dtype=None, layout=None):
        dtype = keras_checks.check_float_dtype(dtype)
        if self.alpha == 2.0:
            # N(0, 2 sigma^2): FractionalMomentNormal's draw, bit for bit
            stddev = self.stddev(shape)
            if layout is not None:
                return kernel_draws.laid_out("normal", shape, dtype, stddev, self._seed_for_call(), layout)
            return keras.random.normal(shape, stddev=stddev, dtype=dtype, seed=self._seed_for_call())
        law = kernel_draws.WeightLaw(alpha=self.alpha)
        return kernel_draws.law_values(law, shape, dtype, self.scale(shape), self._seed_for_call(), layout)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        return {"s": config.pop("s"), "alpha": self.alpha, **config}
