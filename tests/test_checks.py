"""`keras_fracinit._checks`: argument checks in Keras' error style."""

import math
import re

import numpy as np
import pytest

from keras_fracinit import _checks

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("s", [0.0, -1.0, 2.5, 2.0000001, math.nan, math.inf])
def test_s_out_of_range(s):
    with pytest.raises(ValueError, match=r"Argument `s` must be in \(0, 2\]"):
        _checks.check_moment_order(s)


def test_the_message_and_its_parts():
    with pytest.raises(_checks.ArgumentError) as info:
        _checks.check_moment_order(2.5)
    assert str(info.value) == "Argument `s` must be in (0, 2]. Received: s=2.5"
    assert (info.value.name, info.value.condition, info.value.received) == ("s", "must be in (0, 2]", 2.5)


@pytest.mark.parametrize("s", ["1", None, True, [1.0], 1j])
def test_s_must_be_a_real_number(s):
    with pytest.raises(ValueError, match="Argument `s` must be a real number"):
        _checks.check_moment_order(s)


@pytest.mark.parametrize("s", [2, 1, np.float32(0.5), np.float64(1.5)])
def test_s_accepts_numbers(s):
    assert _checks.check_moment_order(s) == float(s)


@pytest.mark.parametrize(
    "check, good, bad, message",
    [
        (_checks.check_positive_int, [1, np.int64(7)], [0, -3, 2.5, True, "2"], "must be a positive integer"),
        (_checks.check_non_negative, [0, 0.25, np.float32(3)], [-0.1, math.inf, math.nan], "non-negative"),
        (_checks.check_fraction_below_one, [0, 0.5], [1.0, -0.1, math.nan], "in [0, 1)"),
        (_checks.check_open_fraction, [0.05, 0.5], [0.0, 1.0, math.nan], "in (0, 1)"),
    ],
)
def test_each_check_takes_its_range_and_names_the_argument(check, good, bad, message):
    for value in good:
        assert check(value, "x") == value
    for value in bad:
        with pytest.raises(_checks.ArgumentError, match=r"Argument `x` .*" + re.escape(message)):
            check(value, "x")


def test_check_at_most_names_the_other_argument_and_keeps_the_parts():
    assert _checks.check_at_most(0.2, 0.2, "lower", "`upper`") == 0.2
    with pytest.raises(_checks.ArgumentError) as info:
        _checks.check_at_most(0.5, 0.25, "lower", "`upper`")
    assert str(info.value) == "Argument `lower` must be at most `upper` (0.25). Received: lower=0.5"
    assert (info.value.name, info.value.condition, info.value.received) == (
        "lower",
        "must be at most `upper` (0.25)",
        0.5,
    )


def test_check_int_at_least_says_the_minimum_and_why():
    assert _checks.check_int_at_least(np.int64(16), "batches", 16) == 16
    for bad in (15, 16.0, True, "16"):
        with pytest.raises(_checks.ArgumentError) as info:
            _checks.check_int_at_least(bad, "batches", 16, "four groups of 4")
        assert (
            str(info.value)
            == f"Argument `batches` must be an integer >= 16 (four groups of 4). Received: batches={bad!r}"
        )
    with pytest.raises(
        _checks.ArgumentError, match="^Argument `n` must be a positive integer. Received: n=0$"
    ):
        _checks.check_int_at_least(0, "n", 1)


def test_axes_are_a_list_of_integers_or_none():
    assert _checks.check_axes(None, "input_axes") is None
    assert _checks.check_axes((0, np.int64(2)), "input_axes") == [0, 2]
    for bad in ("0", [0, 1.0], [True], b"01"):
        with pytest.raises(_checks.ArgumentError) as info:
            _checks.check_axes(bad, "output_axes")
        assert (
            str(info.value)
            == f"Argument `output_axes` must be a list of integers or None. Received: output_axes={bad!r}"
        )


def test_accepts_keyword_reads_the_name_and_kwargs():
    from keras_fracinit import _checks

    def named(x, training=False):
        return x

    def open_ended(x, **kwargs):
        return x

    def neither(x):
        return x

    assert _checks.accepts_keyword(named, "training") and _checks.accepts_keyword(open_ended, "training")
    assert not _checks.accepts_keyword(neither, "training")
