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

    Example:

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
