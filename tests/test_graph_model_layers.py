"""`keras_fracinit._graph.model_layers`: every layer of a model by its path, nested models opened."""

import keras

from keras_fracinit._graph import model_layers


class _Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(4, name="hidden")

    def call(self, x):
        return self.hidden(x)


def _model():
    inner = keras.Sequential(
        [keras.layers.Dense(8, name="i1"), keras.layers.Dense(6, name="i2")], name="inner"
    )
    x = keras.Input((5,))
    h = keras.layers.Dense(16, name="a")(x)
    h = inner(h)
    return keras.Model(x, _Subclassed(name="sub")(h), name="outer"), inner


def test_named_layers_opens_nested_models_and_yields_only_their_layers():
    model, _ = _model()
    named = [
        path
        for path, layer in model_layers.named_layers(model)
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    assert named == ["a", "inner/i1", "inner/i2", "sub/hidden"]


def test_nested_models_parents_and_hidden_graphs():
    model, inner = _model()
    nested = list(model_layers.nested_models(model))
    assert [m.name for m in nested] == ["inner", "sub"]
    parents = model_layers.parents(model)
    assert parents[id(inner.get_layer("i1"))] is inner
    assert id(model.get_layer("a")) not in parents
    # the subclassed model hides how its layers connect; the graph models do not
    assert model_layers.hidden_graphs(model) == (["sub"], {"sub/hidden"})
    # a subclassed model whose call() was traced is read like a graph model
    sub = model.get_layer("sub")
    assert model_layers.hidden_graphs(model, readable={id(sub)}) == ([], set())
