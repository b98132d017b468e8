"""Small Keras models that the tests and the benchmarks both build."""

import keras


def transformer_block(d=32, length=10):
    """A post-norm transformer block: attention and a GELU MLP, each with a residual add.

    Args:
        d: the model width (the attention has 4 heads of key size 8).
        length: the sequence length of the input `(length, d)`.
    """
    inputs = keras.Input((length, d))
    x = keras.layers.MultiHeadAttention(4, 8, name="attention")(inputs, inputs)
    x = keras.layers.Add()([inputs, x])
    x = keras.layers.LayerNormalization(name="norm_1")(x)
    h = keras.layers.Dense(4 * d, activation="gelu", name="mlp_in")(x)
    h = keras.layers.Dense(d, name="mlp_out")(h)
    x = keras.layers.Add()([x, h])
    outputs = keras.layers.LayerNormalization(name="norm_2")(x)
    return keras.Model(inputs, outputs)
