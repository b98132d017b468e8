"""Every layer of a model by its path, nested models opened."""

import keras

PATH_SEPARATOR = "/"


def named_layers(model, prefix=""):
    """Yields `(path, layer)` for every layer of `model`, nested models opened.

    The path is the layer's name, preceded by the names of the nested models
    that hold it (`"encoder/dense_3"`); nested models themselves are not
    yielded, only their layers.

    Args:
        model: A Keras model.
        prefix: Path prefix of `model`'s layers (used for recursion).

    Examples:
        >>> import keras
        >>> inner = keras.Sequential([keras.layers.Dense(2, name="d")], name="inner")
        >>> outer = keras.Sequential([keras.Input((3,)), inner], name="outer")
        >>> print(*(path for path, _ in named_layers(outer)))
        inner/d
    """
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from named_layers(layer, prefix + layer.name + PATH_SEPARATOR)
        else:
            yield prefix + layer.name, layer


def nested_models(model):
    """Every model nested in `model`, at any depth, outer ones first."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield layer
            yield from nested_models(layer)


def hidden_graphs(model, prefix="", readable=frozenset()):
    """`(models, paths)`: the subclassed models in `model` (itself included)
    and the paths of the layers they hold directly, whose connections no
    graph shows (`readable`: `id`s of subclassed models whose call() was
    traced, which are not listed)."""
    from keras_fracinit._backend import keras_private

    models, paths = [], set()
    if not keras_private.is_graph_model(model) and id(model) not in readable:
        # a nested model's own path is the prefix its layers get; the top model's, its name
        models.append(prefix.removesuffix(PATH_SEPARATOR) or model.name)
        paths.update(prefix + layer.name for layer in model.layers if not isinstance(layer, keras.Model))
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            inner_models, inner_paths = hidden_graphs(layer, prefix + layer.name + PATH_SEPARATOR, readable)
            models += inner_models
            paths |= inner_paths
    return models, paths


def parents(model):
    """`{id(layer): nested model}` for every layer (and model) inside a nested model of `model`."""
    return {id(inner): nested for nested in nested_models(model) for inner in nested.layers}
