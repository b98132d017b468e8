"""The paper's activation class, as the law of the slope on the negative side.

Every activation of the class is `phi(z) = z` for `z > 0` and `phi(z) = A z`
for `z <= 0`, where the slope `A` is a constant `a` (ReLU: `a = 0`, Leaky
ReLU, linear: `a = 1`) or uniform on `[lower, upper]` (randomized Leaky ReLU).
Inverted dropout with keep probability `q` on the layer output multiplies each
unit by `Bernoulli(q) / q`. Together these determine the law of
`X_m = sum_i phi(z_i)^2` and so every quantity in `keras_fracinit.theory`.

This module validates user arguments once, in Keras' error style, and reduces
them to one hashable `ActivationLaw`.

Reference:
    M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving initialization
    schemes for training deep neural networks", AISTATS 2021, Section 2.
"""

import dataclasses
import typing
from typing import Any

from keras_fracinit import _checks

SUPPORTED_ACTIVATIONS = ("relu", "leaky_relu", "rrelu", "linear")

# Keras 3's `leaky_relu` activation (and `Dense(..., activation="leaky_relu")`)
# uses this slope, so it is what a user of the string name gets.
DEFAULT_NEGATIVE_SLOPE = 0.2
# The randomized Leaky ReLU bounds of Xu et al. (2015), also PyTorch's RReLU.
DEFAULT_RRELU_LOWER = 1.0 / 8.0
DEFAULT_RRELU_UPPER = 1.0 / 3.0

_ACTIVATION_ALIASES = {
    "relu": "relu",
    "leaky_relu": "leaky_relu",
    "leakyrelu": "leaky_relu",
    "rrelu": "rrelu",
    "randomized_leaky_relu": "rrelu",
    "linear": "linear",
    "identity": "linear",
    None: "linear",
}


@dataclasses.dataclass(frozen=True)
class ActivationLaw:
    """The negative-side slope law `A ~ U[lower, upper]` and the keep probability.

    A constant slope `a` is `lower == upper == a`.

    Attributes:
        lower: Smallest negative-side slope.
        upper: Largest negative-side slope.
        keep: Inverted-dropout keep probability `q = 1 - dropout`.
    """

    lower: float
    upper: float
    keep: float = 1.0

    @property
    def mean_square_slope(self) -> float:
        """`E[A^2] = (l^2 + l u + u^2) / 3` (`a^2` for a constant slope)."""
        lo, hi = self.lower, self.upper
        return (lo * lo + lo * hi + hi * hi) / 3.0

    @property
    def second_moment_gain(self) -> float:
        """The classical (s = 2) gain `g_2 = 2 q / (1 + E[A^2])`.

        This is He's 2 for ReLU and LeCun's 1 for linear, times `q` with
        dropout.
        """
        return 2.0 * self.keep / (1.0 + self.mean_square_slope)

    @property
    def dead_unit_probability(self) -> float:
        """`P(phi(z) xi = 0)` for one unit: dropped, or negative with slope 0."""
        negative_is_dead = 0.5 if self.upper == 0.0 else 0.0
        return (1.0 - self.keep) + self.keep * negative_is_dead


def is_supported_activation(activation: object) -> bool:
    """Whether `activation` names one of `SUPPORTED_ACTIVATIONS` (or an alias)."""
    key = activation.lower() if isinstance(activation, str) else activation
    try:
        return key in _ACTIVATION_ALIASES
    except TypeError:  # unhashable
        return False


def canonical_activation(activation: str | None) -> str:
    """Returns the supported name for `activation`, or raises `ValueError`."""
    key = activation.lower() if isinstance(activation, str) else activation
    try:
        return _ACTIVATION_ALIASES[key]
    except (KeyError, TypeError):
        raise ValueError(
            "Argument `activation` must be one of "
            f"{', '.join(repr(a) for a in SUPPORTED_ACTIVATIONS)}. "
            f"Received: activation={activation!r}"
        ) from None


def _resolve(activation, negative_slope, lower, upper, dropout):
    """Validated, defaulted activation fields, or a ValueError in Keras' style."""
    activation = canonical_activation(activation)
    if activation != "leaky_relu" and negative_slope is not None:
        raise ValueError(
            "Argument `negative_slope` only applies to "
            "activation='leaky_relu'. Received: "
            f"negative_slope={negative_slope!r} with activation='{activation}'"
        )
    if activation != "rrelu":
        for name, value in (("lower", lower), ("upper", upper)):
            if value is not None:
                raise ValueError(
                    f"Argument `{name}` only applies to activation='rrelu'. "
                    f"Received: {name}={value!r} with "
                    f"activation='{activation}'"
                )
    if activation == "leaky_relu":
        if negative_slope is None:
            negative_slope = DEFAULT_NEGATIVE_SLOPE
        negative_slope = _checks.check_non_negative(negative_slope, "negative_slope")
    if activation == "rrelu":
        lower = _checks.check_non_negative(DEFAULT_RRELU_LOWER if lower is None else lower, "lower")
        upper = _checks.check_non_negative(DEFAULT_RRELU_UPPER if upper is None else upper, "upper")
        lower = _checks.check_at_most(lower, upper, "lower", "`upper`")
    return activation, negative_slope, lower, upper, _checks.check_fraction_below_one(dropout, "dropout")


@dataclasses.dataclass(frozen=True)
class ActivationSpec:
    """One activation of the paper's class, validated once, carrying its law.

    Every function of `keras_fracinit.theory`, the initializers and
    `simulate` take an activation as a name (with its defaults) or as this
    value; it is checked when it is made, in Keras' error style, and then
    only passed along.

    Args:
        name: `"relu"`, `"leaky_relu"`, `"rrelu"` (randomized Leaky ReLU) or
            `"linear"` (aliases such as `"identity"` are accepted).
        negative_slope: Leaky ReLU slope (default 0.2, Keras 3's); only for
            `"leaky_relu"`.
        lower: Randomized Leaky ReLU lower slope bound (default 1/8).
        upper: Randomized Leaky ReLU upper slope bound (default 1/3).
        dropout: Inverted-dropout rate on the layer output, in [0, 1).

    Examples:
        >>> spec = ActivationSpec("leaky_relu", negative_slope=0.1)
        >>> spec.law
        ActivationLaw(lower=0.1, upper=0.1, keep=1.0)
        >>> ActivationSpec("rrelu").config()["upper"]
        0.3333333333333333
    """

    name: str | None = "relu"
    negative_slope: float | None = None
    lower: float | None = None
    upper: float | None = None
    dropout: float = 0.0

    def __post_init__(self):
        fields = _resolve(self.name, self.negative_slope, self.lower, self.upper, self.dropout)
        for field, value in zip(("name", "negative_slope", "lower", "upper", "dropout"), fields):
            object.__setattr__(self, field, value)

    @property
    def law(self) -> ActivationLaw:
        """The `ActivationLaw` (slope law and keep probability) behind every formula."""
        keep = 1.0 - self.dropout
        if self.name == "relu":
            return ActivationLaw(0.0, 0.0, keep)
        if self.name == "linear":
            return ActivationLaw(1.0, 1.0, keep)
        # __post_init__ filled in the slopes of the activations that have them.
        if self.name == "leaky_relu":
            slope = typing.cast(float, self.negative_slope)
            return ActivationLaw(slope, slope, keep)
        return ActivationLaw(typing.cast(float, self.lower), typing.cast(float, self.upper), keep)

    def config(self) -> dict[str, Any]:
        """The JSON-ready fields, under the initializers' argument names."""
        return {
            "activation": self.name,
            "negative_slope": self.negative_slope,
            "lower": self.lower,
            "upper": self.upper,
            "dropout": self.dropout,
        }


def as_spec(activation: str | ActivationSpec | None) -> ActivationSpec:
    """`activation` as an `ActivationSpec` (a name gets its defaults)."""
    return activation if isinstance(activation, ActivationSpec) else ActivationSpec(activation)


def validate(
    s: float, activation: str | ActivationSpec | None, width: int
) -> tuple[float, int, ActivationSpec]:
    """Checks `s`, `width` and the activation in one go.

    Returns:
        `(s, width, spec)`: `s` as a float, `width` as an int and the
            `ActivationSpec`.
    """
    return _checks.check_moment_order(s), _checks.check_positive_int(width, "width"), as_spec(activation)
