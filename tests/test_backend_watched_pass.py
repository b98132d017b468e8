"""`watched_pass`: one pass that names the first layer and sample where the signal stops being finite."""

import keras
import model_zoo
import numpy as np

from keras_fracinit._backend import watched_pass


def test_the_first_nonfinite_layer_and_sample_are_named_innermost_first():
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.Dense(4, name="inner")

        def call(self, inputs):
            return keras.ops.sqrt(self.inner(inputs))  # negative pre-activations give nan

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(Block(name="block")(inputs)))
    batch = np.zeros((5, 3), "float32")
    batch[3] = 1.0  # sample 3 alone reaches the log with a non-zero signal
    model.get_layer("block").inner.kernel.assign(-np.ones((3, 4), "float32"))
    watched = watched_pass.run(model, batch)
    assert watched.nonfinite == ("block", 3)
    assert {id(model.get_layer("head")), id(model.get_layer("block").inner)} <= watched.ran


def test_a_finite_pass_reports_nothing_and_changes_no_variable():
    model, batch = model_zoo.counting()
    watched = watched_pass.run(model, batch)
    assert watched.nonfinite is None and id(model.dense) in watched.ran
    assert int(keras.ops.convert_to_numpy(model.calls)) == 0


def test_first_nonfinite_sample_reads_float_values_only():
    assert watched_pass.first_nonfinite_sample(np.array([[1.0], [np.inf], [np.nan]])) == 1
    assert watched_pass.first_nonfinite_sample(np.array([[1], [2]])) is None
    assert watched_pass.first_nonfinite_sample(np.ones((2, 2), "float32")) is None
    assert [path for path, _ in watched_pass.every_layer(model_zoo.hidden_relu()[0])] == ["second", "first"]
