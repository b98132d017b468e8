"""Argument checks shared by the package, in Keras' error style (pure Python).

Each check returns the value in its canonical type or raises `ArgumentError`,
a `ValueError` whose message reads ``Argument `s` must be in (0, 2].
Received: s=2.5`` and whose parts stay available, so that the command line
says the same in its own words (``argument --s: must be in (0, 2]; got
'2.5'``) without parsing the message.
"""

import inspect
import math
import numbers


class ArgumentError(ValueError):
    """A bad argument value: which argument, the condition it breaks, the value.

    Attributes:
        name: The argument's name.
        condition: What the value must satisfy (`"must be in (0, 2]"`).
        received: The value received.
    """

    def __init__(self, name: str, condition: str, received: object) -> None:
        self.name, self.condition, self.received = name, condition, received
        super().__init__(f"Argument `{name}` {condition}. Received: {name}={received!r}")


def _real(value, name, condition):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentError(name, condition, value)
    return float(value)


def check_moment_order(value: float, name: str = "s") -> float:
    """The moment order as a float, in (0, 2]."""
    value = _real(value, name, "must be a real number in (0, 2]")
    if not 0.0 < value <= 2.0:  # also rejects NaN
        raise ArgumentError(name, "must be in (0, 2]", value)
    return value


def check_stability_index(value: float, name: str = "alpha") -> float:
    """The stability index of symmetric alpha-stable weights as a float, in (0, 2]."""
    value = _real(value, name, "must be a real number in (0, 2]")
    if not 0.0 < value <= 2.0:  # also rejects NaN
        raise ArgumentError(name, "must be in (0, 2]", value)
    return value


def check_order_below_index(s: float, alpha: float) -> float:
    """`s` (in (0, 2]) below `alpha`: the s-th moment of alpha-stable weights is finite only for s < alpha.

    At `alpha = 2` (Gaussian weights) every moment is finite and `s = 2` is allowed.
    """
    if alpha < 2.0 and s >= alpha:
        raise ValueError(
            "Argument `s` must be below `alpha`: symmetric alpha-stable values have a finite "
            f"s-th moment only for s < alpha. Received: s={s!r} and alpha={alpha!r}"
        )
    return s


def check_int_at_least(value: int, name: str, minimum: int, why: str = "") -> int:
    """The value as an int, at least `minimum` (booleans are not integers here).

    `why`, if given, follows the condition in parentheses.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        condition = "must be a positive integer" if minimum == 1 else f"must be an integer >= {minimum}"
        raise ArgumentError(name, condition + (f" ({why})" if why else ""), value)
    return int(value)


def check_positive_int(value: int, name: str) -> int:
    """The value as an int, at least 1 (booleans are not integers here)."""
    return check_int_at_least(value, name, 1)


def check_non_negative(value: float, name: str) -> float:
    """The value as a finite float, at least 0."""
    value = _real(value, name, "must be a non-negative number")
    if not (math.isfinite(value) and value >= 0.0):
        raise ArgumentError(name, "must be a finite non-negative number", value)
    return value


def check_fraction_below_one(value: float, name: str) -> float:
    """The value as a float in [0, 1) (a dropout rate)."""
    value = _real(value, name, "must be a number in [0, 1)")
    if not 0.0 <= value < 1.0:
        raise ArgumentError(name, "must be in [0, 1)", value)
    return value


def check_open_fraction(value: float, name: str) -> float:
    """The value as a float in (0, 1) (a test level)."""
    value = _real(value, name, "must be a number in (0, 1)")
    if not 0.0 < value < 1.0:
        raise ArgumentError(name, "must be in (0, 1)", value)
    return value


def check_choice(value: object, name: str, choices: tuple) -> object:
    """The value, one of `choices`."""
    if value not in choices:
        raise ArgumentError(name, f"must be one of {', '.join(map(repr, choices))}", value)
    return value


def check_at_most(value: float, bound: float, name: str, bound_name: str) -> float:
    """The value, at most `bound`: the value of the argument called `bound_name`."""
    if value > bound:
        raise ArgumentError(name, f"must be at most {bound_name} ({bound:g})", value)
    return value


def check_axes(axes: object, name: str) -> list[int] | None:
    """The axes as a list of ints, or None (booleans are not integers here)."""
    if axes is None:
        return None
    if isinstance(axes, (str, bytes)) or not all(
        isinstance(axis, numbers.Integral) and not isinstance(axis, bool)
        for axis in axes  # type: ignore[attr-defined]
    ):
        raise ArgumentError(name, "must be a list of integers or None", axes)
    return [int(axis) for axis in axes]  # type: ignore[attr-defined]


def accepts_keyword(function, name):
    """Whether `function` takes the keyword argument `name` (by name or through `**kwargs`).

    `Layer.stateless_call` and a direct `call()` pass their keywords as
    given, unlike `Layer.__call__`, which drops `training` for a `call()`
    that does not take it.
    """
    parameters = inspect.signature(function).parameters
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
