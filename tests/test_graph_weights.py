"""`weights`: every weight once, through Keras' tracking, with its role."""

import keras
import model_zoo

from keras_fracinit._graph import weights
from keras_fracinit._graph.weights import WeightRole


def _roles(model):
    return {path + "/" + w.name: role for w, path, _, role in weights.held_weights(model)}


def test_roles_of_the_weights_of_keras_layers():
    inputs = keras.Input((5, 4))
    x = keras.layers.Embedding(10, 4, name="embedding")(keras.Input((5,), dtype="int32"))
    y = keras.layers.LSTM(3, name="lstm")(inputs)
    y = keras.layers.BatchNormalization(name="bn")(y)
    y = keras.layers.PReLU(name="prelu")(keras.layers.Dense(2, name="dense")(y))
    model = keras.Model(inputs, y)
    roles = _roles(model)
    assert roles["dense/kernel"] is WeightRole.KERNEL and roles["dense/bias"] is WeightRole.BIAS
    assert {roles[f"bn/{n}"] for n in ("gamma", "beta", "moving_mean", "moving_variance")} == {
        WeightRole.NORMALIZATION
    }
    assert roles["prelu/alpha"] is WeightRole.ACTIVATION
    assert {role for path, role in roles.items() if path.startswith("lstm")} == {WeightRole.RECURRENT}
    table = keras.layers.Embedding(10, 4, name="embedding")
    table.build((None,))
    assert weights.role(table, table.embeddings) is WeightRole.EMBEDDING
    del x

    class AddRelativePositionalEmbedding(keras.layers.Layer):  # as keras_hub's ViTDet names it
        def build(self, input_shape):
            self.rel_pos_h = self.add_weight(shape=(3, 8), name="rel_pos_h")

    relative = AddRelativePositionalEmbedding()
    relative.build((None, 8))
    assert weights.role(relative, relative.rel_pos_h) is WeightRole.EMBEDDING


def test_matrices_of_unknown_layers_are_kernels_and_vectors_are_not_understood():
    model, _ = model_zoo.custom_linear()
    roles = _roles(model)
    assert roles["linear/w"] is WeightRole.KERNEL and roles["linear/b"] is WeightRole.BIAS
    layer = model.get_layer("linear")
    assert weights.is_matrix(layer, layer.w) and not weights.is_matrix(layer, layer.b)
    odd = keras.layers.Layer(name="odd")
    vector = odd.add_weight(shape=(3,), name="v")
    buffer = odd.add_weight(shape=(3, 3), name="buffer", trainable=False)
    assert (
        weights.role(odd, vector) is WeightRole.NOT_UNDERSTOOD
        and weights.role(odd, buffer) is WeightRole.STATE
    )


def test_lora_factors_and_a_subclassed_models_own_variable():
    model, _ = model_zoo.counting()
    roles = _roles(model)
    assert roles["counting/calls"] is WeightRole.STATE and roles["dense/kernel"] is WeightRole.KERNEL
    lora, _ = model_zoo.lora()
    roles = _roles(lora)
    assert roles["hidden/lora_kernel_a"] is roles["hidden/lora_kernel_b"] is WeightRole.LORA_FACTOR


def test_every_weight_once_with_its_innermost_holder_even_when_shared():
    model, _ = model_zoo.tied_autoencoder()
    held = weights.held_weights(model)
    assert [w.path for w, *_ in held] == [w.path for w in model.weights]
    assert {path for _, path, _, _ in held} == {"encoder", "decoder"}
    assert weights.own_weights(model.get_layer("decoder")) == [model.get_layer("decoder").bias]
