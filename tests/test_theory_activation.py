"""Validation and defaults of the activation class."""

import math

import pytest

from keras_fracinit.theory import activation as activation_lib

pytestmark = pytest.mark.backend_independent


def test_unknown_activation_lists_the_supported_ones():
    with pytest.raises(ValueError) as info:
        activation_lib.ActivationSpec("tanh")
    message = str(info.value)
    assert "Argument `activation`" in message and "activation='tanh'" in message
    for name in activation_lib.SUPPORTED_ACTIVATIONS:
        assert repr(name) in message


@pytest.mark.parametrize("activation", [3, object(), ""])
def test_non_string_activation(activation):
    with pytest.raises(ValueError, match="Argument `activation`"):
        activation_lib.ActivationSpec(activation)


@pytest.mark.parametrize("activation", ["relu", "linear", "rrelu"])
def test_negative_slope_needs_leaky_relu(activation):
    with pytest.raises(ValueError, match="`negative_slope` only applies"):
        activation_lib.ActivationSpec(activation, negative_slope=0.1)


@pytest.mark.parametrize("name", ["lower", "upper"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "linear"])
def test_rrelu_bounds_need_rrelu(activation, name):
    with pytest.raises(ValueError, match=f"`{name}` only applies"):
        activation_lib.ActivationSpec(activation, **{name: 0.1})


@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf, "0.1", True])
def test_negative_slope_must_be_finite_non_negative(value):
    with pytest.raises(ValueError, match="Argument `negative_slope`"):
        activation_lib.ActivationSpec("leaky_relu", negative_slope=value)


@pytest.mark.parametrize("name", ["lower", "upper"])
def test_rrelu_bounds_must_be_non_negative(name):
    with pytest.raises(ValueError, match=f"Argument `{name}`.*Received: {name}=-0.5"):
        activation_lib.ActivationSpec("rrelu", **{name: -0.5})


def test_lower_above_upper():
    with pytest.raises(
        ValueError, match=r"Argument `lower` must be at most `upper` \(0.2\). Received: lower=0.5"
    ):
        activation_lib.ActivationSpec("rrelu", lower=0.5, upper=0.2)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5, math.nan, "0.1"])
def test_dropout_range(dropout):
    with pytest.raises(ValueError, match="Argument `dropout`"):
        activation_lib.ActivationSpec("relu", dropout=dropout)


def test_defaults_follow_keras_and_rrelu_convention():
    leaky = activation_lib.ActivationSpec("leaky_relu")
    assert leaky.negative_slope == 0.2
    rrelu = activation_lib.ActivationSpec("rrelu")
    assert (rrelu.lower, rrelu.upper) == (1 / 8, 1 / 3)
    relu = activation_lib.ActivationSpec("relu")
    assert relu.config() == {
        "activation": "relu",
        "negative_slope": None,
        "lower": None,
        "upper": None,
        "dropout": 0.0,
    }


def test_aliases_are_canonicalized():
    assert activation_lib.canonical_activation("LeakyReLU") == "leaky_relu"
    assert activation_lib.canonical_activation(None) == "linear"
    assert activation_lib.canonical_activation("RReLU") == "rrelu"


def test_laws():
    def law(*args, **kwargs):
        return activation_lib.ActivationSpec(*args, **kwargs).law

    assert law("relu") == activation_lib.ActivationLaw(0.0, 0.0, 1.0)
    assert law("linear", dropout=0.5) == activation_lib.ActivationLaw(1.0, 1.0, 0.5)
    assert law("leaky_relu").mean_square_slope == pytest.approx(0.04)
    rrelu = law("rrelu", lower=0.0, upper=0.3)
    assert rrelu.mean_square_slope == pytest.approx(0.03)
    assert law("relu", dropout=0.5).dead_unit_probability == 0.75
    assert law("leaky_relu", dropout=0.5).dead_unit_probability == 0.5


def test_a_spec_is_resolved_once_hashable_and_accepted_everywhere():
    from keras_fracinit import simulate
    from keras_fracinit.initializers import FractionalMomentNormal
    from keras_fracinit.theory import moment_gain

    spec = activation_lib.ActivationSpec("LeakyReLU", negative_slope=0.1, dropout=0.25)
    assert (spec.name, spec.negative_slope, spec.dropout) == ("leaky_relu", 0.1, 0.25)
    assert spec == activation_lib.ActivationSpec("leaky_relu", negative_slope=0.1, dropout=0.25)
    assert len({spec, activation_lib.ActivationSpec("leaky_relu", negative_slope=0.1, dropout=0.25)}) == 1
    assert activation_lib.as_spec(spec) is spec
    gain = moment_gain(0.8, spec, width=16)
    init = FractionalMomentNormal(0.8, spec)
    assert init.spec is spec and init.gain((16, 16)) == gain
    assert FractionalMomentNormal.from_config(init.get_config()).spec == spec
    # the simulation takes the activation from the initializer, and refuses another
    assert simulate.propagate(init, [4, 16], networks=3, seed=0).norms.shape == (3, 2)
    with pytest.raises(ValueError, match="must match the initializer's"):
        simulate.propagate(init, [4, 16], activation="relu", networks=3)
    with pytest.raises(ValueError, match="go into the ActivationSpec"):
        FractionalMomentNormal(0.8, spec, dropout=0.5)
