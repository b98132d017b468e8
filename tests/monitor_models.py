"""Small models and data the monitor tests share."""

import keras
import numpy as np

from keras_fracinit import FractionalMomentNormal


def numpy_of(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def s_moment(array, s):
    array = numpy_of(array)
    return float(np.mean(np.mean(array.reshape(len(array), -1) ** 2, axis=1) ** (s / 2)))


def data(n=96, inputs=(6,), outputs=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *inputs)).astype("float32")
    y = rng.standard_normal((n, outputs)).astype("float32")
    return x, y


def dense_stack(inputs=6, width=16, depth=3, outputs=3, s=1.0):
    init = FractionalMomentNormal(s, seed=keras.random.SeedGenerator(1))
    return keras.Sequential(
        [keras.Input((inputs,))]
        + [
            keras.layers.Dense(width, "relu", kernel_initializer=init, name=f"hidden{i}")
            for i in range(depth)
        ]
        # a seeded head too: with Keras' global seed its draw depended on test order
        + [keras.layers.Dense(outputs, kernel_initializer=keras.initializers.GlorotUniform(2), name="head")]
    )


def conv_nested():
    inner = keras.Sequential(
        [keras.layers.Dense(12, activation="relu", name="inner_a"), keras.layers.Dense(8, name="inner_b")],
        name="inner",
    )
    return keras.Sequential(
        [
            keras.Input((5, 5, 2)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.Flatten(),
            inner,
            keras.layers.Activation("relu"),
            keras.layers.Dense(3, name="head"),
        ]
    )


def flat_layers(layers, prefix=""):
    for layer in layers:
        if isinstance(layer, keras.Sequential):
            yield from flat_layers(layer.layers, prefix + layer.name + "/")
        else:
            yield prefix + layer.name, layer


def eager_kernel_signals(layers, h):
    """`{path: (layer, input, output)}` of kernel layers, calling each layer eagerly in turn.

    The output is the end of the kernel's path: a linear layer's output after
    the activation layer that follows it.
    """
    signals, flat = {}, list(flat_layers(layers))
    for index, (path, layer) in enumerate(flat):
        out = layer(h)
        if hasattr(layer, "kernel"):
            end = out
            following = flat[index + 1][1] if index + 1 < len(flat) else None
            if layer.activation is keras.activations.linear and isinstance(
                following, keras.layers.Activation
            ):
                end = following(out)
            signals[path] = (layer, h, end)
        h = out
    return signals, h
