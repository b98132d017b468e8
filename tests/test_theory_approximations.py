"""The authors' large-width expansions, `keras_fracinit.theory.approximations`."""

import pytest

from keras_fracinit.theory import ActivationSpec
from keras_fracinit.theory import large_width_gain
from keras_fracinit.theory import moment_gain

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("s", [0.5, 1.0, 1.5])
def test_relu_and_linear_expansions_are_second_order(activation, s):
    # exact - approximate = O(1/m^2): doubling the width quarters the gap.
    gaps = [
        moment_gain(s, activation, width=m) - large_width_gain(s, activation, width=m)
        for m in (128, 256, 512)
    ]
    for wide, narrow in zip(gaps[1:], gaps[:-1]):
        assert wide / narrow == pytest.approx(0.25, abs=0.02)


def test_relu_expansion_values_and_s2():
    assert large_width_gain(1.0, "relu", width=64) == 2.0 + 5.0 / 128.0
    assert large_width_gain(2.0, "relu", width=3) == 2.0
    assert large_width_gain(2.0, "linear", width=3) == 1.0
    assert large_width_gain(2.0, ActivationSpec("leaky_relu", negative_slope=0.5), width=3) == pytest.approx(
        2 / 1.25
    )


def test_leaky_expansion_has_a_first_order_error_of_order_slope_to_the_fourth():
    # m (g - g_2) tends to the 1/m coefficient; the authors' coefficient is
    # off by O(a^4): halving the slope divides the gap by about 16.
    width, s = 10**6, 1.0

    def coefficient_gap(slope):
        g2 = 2.0 / (1.0 + slope**2)
        exact = width * (moment_gain(s, ActivationSpec("leaky_relu", negative_slope=slope), width=width) - g2)
        approximate = width * (
            large_width_gain(s, ActivationSpec("leaky_relu", negative_slope=slope), width=width) - g2
        )
        return exact - approximate

    small, larger = coefficient_gap(0.05), coefficient_gap(0.1)
    assert larger / small == pytest.approx(16.0, rel=0.15)
    # Small against the coefficient itself (about 2.5) at these slopes.
    assert 0 < larger < 1e-3


def test_only_the_authors_activations_have_an_expansion():
    with pytest.raises(ValueError, match="only for 'relu', 'leaky_relu' and 'linear'"):
        large_width_gain(1.0, "rrelu", width=64)
    with pytest.raises(ValueError, match="no large-width expansion with dropout"):
        large_width_gain(1.0, ActivationSpec("relu", dropout=0.5), width=64)
    with pytest.raises(ValueError, match="Argument `s`"):
        large_width_gain(2.5, "relu", width=64)
