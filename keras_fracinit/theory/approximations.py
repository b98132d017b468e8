"""The authors' second-order large-width approximations, for comparison only.

Gurbuzbalaban & Hu's public code sets the weight variance of a square layer of
width `d` from a second-order expansion in `1/d` instead of the exact
condition:

- ReLU: `sigma^2 = 2/d + 5 (2 - s) / (2 d^2)`
- linear: `sigma^2 = 1/d + (2 - s) / (2 d^2)`
- Leaky ReLU (slope a): `sigma^2 = 2 / ((1 + a^2) d)
  + (2 - s) ((5 s - 24) a^2 + 10) / ((2 (s + 2) a^2 + 4) d^2)`

They agree with the exact gain up to `O(1/d^2)` and are off by about 30% at
`d = 2`. This package never uses them to initialize; they are here so that
the exact gain can be compared with what the authors' code does.

Reference:
    M. Gurbuzbalaban and Y. Hu, AISTATS 2021, and the authors' code.
"""

import typing

from keras_fracinit import _checks
from keras_fracinit.theory import activation as activation_lib


def large_width_gain(
    s: float, activation: str | activation_lib.ActivationSpec = "relu", *, width: int
) -> float:
    """The authors' approximate gain `d * sigma^2` for a square layer of width `d`.

    `sigma^2 ~ g_2 / d + c(s, a) / d^2`, the expansions in the module
    docstring, so the gain is `g_2 + c(s, a) / d`.

    Args:
        s: Moment order, in (0, 2].
        activation: `"relu"`, `"leaky_relu"` or `"linear"`, or an
            `ActivationSpec` of one of them without dropout (the authors give
            no expansion for randomized Leaky ReLU or dropout).
        width: The layer width `d` (fan-in equals fan-out).

    Returns:
        The approximate gain, a float.

    Examples:
        >>> large_width_gain(1.0, "relu", width=64)
        2.0390625

    Reference:
        Gurbuzbalaban and Hu, AISTATS 2021 (authors' code).
    """
    s = _checks.check_moment_order(s)
    d = _checks.check_positive_int(width, "width")
    spec = activation_lib.as_spec(activation)
    name = spec.name
    if spec.dropout:
        raise ValueError(
            f"The authors give no large-width expansion with dropout. Received: activation={spec!r}"
        )
    if name == "relu":
        return 2.0 + 5.0 * (2.0 - s) / (2.0 * d)
    if name == "linear":
        return 1.0 + (2.0 - s) / (2.0 * d)
    if name == "leaky_relu":
        a2 = typing.cast(float, spec.negative_slope) ** 2
        first = 2.0 / (1.0 + a2)
        second = (2.0 - s) * ((5.0 * s - 24.0) * a2 + 10.0) / (2.0 * (s + 2.0) * a2 + 4.0)
        return first + second / d
    raise ValueError(
        "The authors give large-width expansions only for 'relu', "
        f"'leaky_relu' and 'linear'. Received: activation='{name}'"
    )
