"""Small models of every kind `initialize` meets, with a batch each: the accounting zoo.

Each builder returns `(model, batch)`. They cover the shapes of weights a
name-based search misses: a custom layer's `add_weight` matrices, stacked
mixture-of-experts kernels, LoRA factors, a tied (transposed) kernel, a
ReLU hidden in a subclassed model's `call()`, a model whose `call()`
updates a variable, recurrent layers and keras_hub decoders.
"""

import keras
import numpy as np

RNG = np.random.default_rng(0)
VECTORS = RNG.normal(size=(32, 12)).astype("float32")
TOKENS = {
    "token_ids": RNG.integers(0, 50, size=(4, 8)).astype("int32"),
    "padding_mask": np.ones((4, 8), "int32"),
}


class Linear(keras.layers.Layer):
    """The custom layer of Keras' guide: weights named `w` and `b`, not `kernel`."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, inputs):
        return keras.ops.matmul(inputs, self.w) + self.b


class DenseTranspose(keras.layers.Layer):
    """A decoder tied to an encoder `Dense`: it applies the encoder's kernel transposed."""

    def __init__(self, dense, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(self.dense.kernel.shape[0],), initializer="zeros", name="bias")

    def call(self, inputs):
        return keras.ops.matmul(inputs, keras.ops.transpose(self.dense.kernel)) + self.bias


class HiddenReLU(keras.Model):
    """A subclassed model whose `call()` applies `keras.ops.relu` after a linear `Dense`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = keras.layers.Dense(64, name="first")
        self.second = keras.layers.Dense(4, name="second")

    def call(self, inputs):
        return self.second(keras.ops.relu(self.first(inputs)))


class Counting(keras.Model):
    """Keras' own stateful callback-test model, with a Dense: `call()` counts its calls."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1, name="dense")
        self.calls = keras.Variable(0, trainable=False, dtype="int32", name="calls")

    def call(self, inputs):
        self.calls.assign_add(1)
        return self.dense(inputs)


def mlp():
    model = keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(32, "relu", name="hidden"),
            keras.layers.Dense(3, name="head"),
        ]
    )
    return model, VECTORS


def cnn():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x), name="cnn")
    return model, RNG.normal(size=(16, 8, 8, 3)).astype("float32")


def custom_linear():
    inputs = keras.Input((12,))
    x = keras.layers.ReLU(name="relu")(Linear(48, name="linear")(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x), name="custom_linear"), VECTORS


def tied_autoencoder():
    inputs = keras.Input((12,))
    encoder = keras.layers.Dense(6, "relu", name="encoder")
    decoded = DenseTranspose(encoder, name="decoder")(encoder(inputs))
    return keras.Model(inputs, decoded, name="tied_autoencoder"), VECTORS


def hidden_relu():
    model = HiddenReLU(name="hidden_relu")
    model(VECTORS[:1])
    return model, VECTORS


def counting():
    model = Counting(name="counting")
    model(VECTORS[:1])
    model.calls.assign(0)
    return model, VECTORS


def lora():
    model, batch = mlp()
    model.get_layer("hidden").enable_lora(2)
    return model, batch


def lstm_attention():
    inputs = keras.Input((10, 6))
    x = keras.layers.LSTM(16, return_sequences=True, name="lstm")(inputs)
    x = keras.layers.MultiHeadAttention(2, 8, name="mha")(x, x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x), name="lstm_attention")
    return model, RNG.normal(size=(16, 10, 6)).astype("float32")


def _hub_backbone(name, **arguments):
    """A keras_hub decoder backbone, one layer of hidden size 16, built from its constructor."""
    import keras_hub

    small = dict(vocabulary_size=50, num_layers=1, num_query_heads=2, num_key_value_heads=1)
    return getattr(keras_hub.models, name)(hidden_dim=16, intermediate_dim=32, **small, **arguments)


def mixtral():
    return _hub_backbone("MixtralBackbone", num_experts=4, top_k=2), TOKENS


def llama_lora():
    backbone = _hub_backbone("LlamaBackbone")
    backbone.enable_lora(2)
    return backbone, TOKENS


def vitdet():
    """keras_hub's ViTDet: its MLP's Dense layers are held directly and inside a Sequential."""
    import keras_hub

    backbone = keras_hub.models.ViTDetBackbone(
        hidden_size=16,
        num_layers=1,
        intermediate_dim=32,
        num_heads=2,
        global_attention_layer_indices=[0],
        image_shape=(32, 32, 3),
        patch_size=16,
        num_output_channels=8,
        window_size=2,
    )
    return backbone, RNG.normal(size=(4, 32, 32, 3)).astype("float32")


ZOO = {
    "mlp": mlp,
    "cnn": cnn,
    "custom_linear": custom_linear,
    "tied_autoencoder": tied_autoencoder,
    "hidden_relu": hidden_relu,
    "counting": counting,
    "lora": lora,
    "lstm_attention": lstm_attention,
    "mixtral": mixtral,
    "llama_lora": llama_lora,
    "vitdet": vitdet,
}
