"""One inference pass of a model that watches every layer: which ran, and where the signal stops being finite.

A calibration batch is checked by running the model on it once before
anything is drawn. Every layer, at any depth (the sublayers of composite
layers included), is watched as it runs; layers finish innermost first, so
the first non-finite output found is the layer where the signal stops
being finite. The pass changes no variable (a `keras.StatelessScope`).
"""

import dataclasses

import keras
import numpy as np

from keras_fracinit._backend import keras_private


@dataclasses.dataclass(frozen=True)
class WatchedPass:
    """What one watched pass saw.

    Attributes:
        ran: `id`s of the layers that were called.
        nonfinite: `(layer path, first sample)` of the first layer whose
            output had a non-finite entry, or None.
    """

    ran: frozenset
    nonfinite: tuple[str, int] | None


def every_layer(model):
    """`(path, layer)` for every layer of `model` at any depth, composite layers' sublayers included.

    An RNN layer's cell is not: it runs inside a backend loop (`lax.scan`,
    `tf.while_loop`) on traced values, which cannot be read.
    """
    stack = [(layer.name, layer) for layer in keras_private.sublayers(model)]
    while stack:
        path, layer = stack.pop()
        yield path, layer
        if isinstance(layer, keras.layers.RNN):
            continue  # its cell runs inside the backend's loop, on traced values
        stack += [(f"{path}/{sub.name}", sub) for sub in keras_private.sublayers(layer)]


def first_nonfinite_sample(value):
    """The index of the first sample of a float `(batch, ...)` value with a non-finite entry, or None."""
    dtype = getattr(value, "dtype", None)
    if dtype is None or not keras.backend.is_float_dtype(keras.backend.standardize_dtype(dtype)):
        return None
    values = np.asarray(keras.ops.convert_to_numpy(value))
    if values.ndim == 0 or np.all(np.isfinite(values)):
        return None
    return int(np.argmax(~np.isfinite(values.reshape(len(values), -1)).all(axis=1)))


def run(model, data):
    """Runs `model(data, training=False)` once, unchanged, watching every layer; returns a `WatchedPass`."""
    layers = dict(every_layer(model))
    paths = {id(layer): path for path, layer in layers.items()}
    ran, nonfinite = set(), []

    def watching(layer, original):
        def call(*args, **kwargs):
            ran.add(id(layer))
            outputs = original(*args, **kwargs)
            if not nonfinite:
                for value in keras.tree.flatten(outputs):
                    sample = first_nonfinite_sample(value)
                    if sample is not None:
                        nonfinite.append((paths[id(layer)], sample))
                        break
            return outputs

        return call

    with keras.StatelessScope(), keras_private.replaced_calls(layers.values(), watching):
        model(data, training=False)
    return WatchedPass(frozenset(ran), nonfinite[0] if nonfinite else None)
