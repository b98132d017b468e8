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

from keras_fracinit.theory import activation as activation_lib


def large_width_gain(
    s: float, activation: str = "relu", *, width: int, negative_slope: float | None = None
) -> float:
    """The authors' approximate gain `d * sigma^2` for a square layer of width `d`.

    `sigma^2 ~ g_2 / d + c(s, a) / d^2`, the expansions in the module
    docstring, so the gain is `g_2 + c(s, a) / d`.

    Args:
        s: Moment order, in (0, 2].
        activation: `"relu"`, `"leaky_relu"` or `"linear"` (the authors give
            no expansion for randomized Leaky ReLU or dropout).
        width: The layer width `d` (fan-in equals fan-out).
        negative_slope: Leaky ReLU slope (default 0.2).

    Returns:
        The approximate gain, a float.

    Example:

    >>> large_width_gain(1.0, "relu", width=64)
    2.0390625

    Reference:
        Gurbuzbalaban and Hu, AISTATS 2021 (authors' code).
    """
    s = activation_lib.check_s(s)
    d = activation_lib.check_width(width)
    spec = activation_lib.resolve_activation(activation, negative_slope=negative_slope)
    name = spec["activation"]
    if name == "relu":
        return 2.0 + 5.0 * (2.0 - s) / (2.0 * d)
    if name == "linear":
        return 1.0 + (2.0 - s) / (2.0 * d)
    if name == "leaky_relu":
        a2 = spec["negative_slope"] ** 2
        first = 2.0 / (1.0 + a2)
        second = (2.0 - s) * ((5.0 * s - 24.0) * a2 + 10.0) / (2.0 * (s + 2.0) * a2 + 4.0)
        return first + second / d
    raise ValueError(
        "The authors give large-width expansions only for 'relu', "
        f"'leaky_relu' and 'linear'. Received: activation='{name}'"
    )
