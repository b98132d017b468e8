"""`keras_fracinit._graph.kernel_plan`: one plan per kernel, and `select`, which every caller uses."""

import keras
import pytest

from keras_fracinit._graph import kernel_plan


def _model():
    x = keras.Input((6, 8))
    h = keras.layers.MultiHeadAttention(2, 4, name="mha")(x, x)
    h = keras.layers.Dense(5, activation="relu", name="dense")(h)
    h = keras.layers.LSTM(3, name="lstm")(h)
    return keras.Model(x, keras.layers.Dense(2, name="head")(h))


def test_every_kernel_gets_a_plan_named_by_its_path_with_its_route_and_span():
    model = _model()
    model.get_layer("head").trainable = False
    plans = {plan.name: plan for plan in kernel_plan.plan_model(model)}
    assert list(plans) == [
        "mha/query",
        "mha/key",
        "mha/value",
        "mha/output",
        "dense",
        "lstm/lstm_cell/kernel",
        "lstm/lstm_cell/recurrent_kernel",
        "head",
    ]
    dense = plans["dense"]
    assert (dense.route.activation, dense.skip, dense.visible) == ("relu", "", True)
    assert dense.span == (dense.layer, dense.layer, True)
    assert plans["mha/query"].route.activation == "linear"  # the logits of the attention softmax
    assert plans["lstm/lstm_cell/kernel"].skip and plans["lstm/lstm_cell/kernel"].route is None
    assert plans["head"].skip == kernel_plan.FROZEN_REASON
    included = {plan.name: plan for plan in kernel_plan.plan_model(model, include_frozen=True)}
    assert included["head"].skip == ""


def test_select_takes_kernel_names_layer_paths_or_layers_and_names_what_is_available():
    model = _model()
    assert list(kernel_plan.select(model, ["dense"])) == ["dense"]
    assert list(kernel_plan.select(model, [model.get_layer("head")])) == ["head"]
    assert list(kernel_plan.select(model, ["mha/key"])) == ["mha/key"]
    assert len(kernel_plan.select(model, ["mha"])) == 4
    with pytest.raises(ValueError, match=r"must name layers with a `kernel` .* with 'nope' among them"):
        kernel_plan.select(model, ["dense", "nope"])
    with pytest.raises(ValueError, match="is not built"):
        kernel_plan.select(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="has no layer with a `kernel`"):
        kernel_plan.select(keras.Sequential([keras.Input((3,)), keras.layers.ReLU()]))
