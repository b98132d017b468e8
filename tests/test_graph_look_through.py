"""`keras_fracinit._graph.look_through`: what each layer or op does to the law the gain assumes."""

import keras
import pytest

from keras_fracinit._graph import look_through


def test_the_look_through_table_names_a_reason_for_every_entry():
    assert all(entry.why and (entry.layers or entry.ops) for entry in look_through.LOOK_THROUGH)
    assert look_through.entry_for(keras.layers.Activation("linear")).category == look_through.REARRANGE
    assert look_through.entry_for(keras.layers.Activation("relu")) is None
    assert look_through.entry_for(keras.layers.Dropout(0.5)).category == look_through.DROPOUT
    assert look_through.entry_for(keras.layers.BatchNormalization()).category == look_through.NORMALIZATION
    assert look_through.entry_for(keras.layers.Dense(3)) is None


@pytest.mark.parametrize(
    "layer, expected",
    [
        (keras.layers.ReLU(), ("relu", None)),
        (keras.layers.ReLU(negative_slope=0.1), ("leaky_relu", 0.1)),
        (keras.layers.ReLU(max_value=6.0), ("relu(max_value=6)", None)),
        (keras.layers.LeakyReLU(negative_slope=0.3), ("leaky_relu", pytest.approx(0.3))),
        (keras.layers.Activation("tanh"), ("tanh", None)),
        (keras.layers.Softmax(), ("softmax", None)),
        (keras.layers.Lambda(lambda x: x), ("lambda (<lambda>)", None)),
        (keras.layers.Dense(3), None),
    ],
)
def test_activation_layers_are_read_by_name_and_only_relu_family_as_such(layer, expected):
    assert look_through.activation_layer(layer) == expected


def test_a_layers_own_activation_and_the_class():
    assert look_through.own_activation(keras.layers.Dense(3, activation="relu")) == ("relu", None)
    assert look_through.own_activation(keras.layers.Dense(3)) == ("linear", None)
    wrapped = keras.layers.TimeDistributed(keras.layers.Dense(3, activation="relu"))
    assert look_through.own_activation(wrapped) == ("relu", None)
    assert look_through.in_class("relu") and look_through.in_class("linear")
    assert look_through.in_class("leaky_relu", 0.2) and not look_through.in_class("leaky_relu", -0.1)
    assert not look_through.in_class("leaky_relu") and not look_through.in_class("tanh")
