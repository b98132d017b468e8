"""`keras_fracinit.suggest`: `suggest_s` and the datasets it reads."""

import math

import keras
import numpy as np
import pytest
import scipy.stats
from helpers import batches_py_dataset
from helpers import block_sum_sd

import keras_fracinit
from keras_fracinit import _data


def _linear_model(inputs=5, outputs=3, bias=False):
    return keras.Sequential(
        [keras.Input((inputs,)), keras.layers.Dense(outputs, use_bias=bias, name="linear")]
    )


@pytest.mark.parametrize("alpha", [1.2, 1.5, 1.8])
def test_suggest_s_recovers_the_tail_index_of_stable_gradient_noise(alpha):
    # loss = mean(y_pred) on a linear layer: each mini-batch gradient is the
    # batch mean of the inputs, alpha-stable with the inputs' index, and the
    # centred noise is a linear combination of them: alpha-stable again.
    inputs, batches, batch_size = 256, 64, 32
    x = scipy.stats.levy_stable.rvs(
        alpha, 0.0, size=(batches * batch_size, inputs), random_state=np.random.default_rng(2)
    ).astype("float32")
    y = np.zeros((len(x), 1), "float32")
    model = _linear_model(inputs, 1)
    suggestion = keras_fracinit.suggest_s(
        model, (x, y), lambda y_true, y_pred: y_pred, batches=batches, batch_size=batch_size
    )
    samples = batches * inputs
    tolerance = 4 * block_sum_sd(alpha, samples, round(math.sqrt(samples)))
    assert abs(suggestion.alpha - alpha) < tolerance
    assert suggestion.s == pytest.approx(min(suggestion.alpha, 2.0))
    assert suggestion.per_layer == {"linear": suggestion.alpha}
    assert suggestion.spread == 0.0 and suggestion.batches == batches


def test_gaussian_noise_suggests_at_most_two_and_spread_is_across_layers():
    rng = np.random.default_rng(3)
    inputs, batches = 256, 64
    x = rng.standard_normal((batches * 32, inputs)).astype("float32")
    y = np.zeros((len(x), 1), "float32")
    x_in = keras.Input((inputs,))
    left = keras.layers.Dense(1, use_bias=False, name="left")(x_in)
    right = keras.layers.Dense(1, use_bias=False, name="right")(x_in)
    model = keras.Model(x_in, keras.layers.Add()([left, right]))
    suggestion = keras_fracinit.suggest_s(model, (x, y), lambda t, p: p, batches=batches)
    samples = batches * inputs
    tolerance = 4 * block_sum_sd(2.0, samples, round(math.sqrt(samples)))
    for estimate in suggestion.per_layer.values():
        assert abs(estimate - 2.0) < tolerance
    assert suggestion.s <= 2.0
    values = list(suggestion.per_layer.values())
    assert suggestion.alpha == pytest.approx(np.median(values))
    assert suggestion.spread == pytest.approx(np.std(values))


def _batches_as(kind, x, y, batch_size):
    if kind == "tuple":
        return (x, y)
    if kind == "generator":
        return ((x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size))
    if kind == "tf.data":
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)

    return batches_py_dataset(x, y, batch_size)


@pytest.mark.parametrize("kind", ["tuple", "generator", "tf.data", "PyDataset"])
def test_every_kind_of_dataset_gives_the_same_batches(kind):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((40, 3)).astype("float32")
    y = rng.standard_normal((40, 1)).astype("float32")
    batches = _data.take_batches(_batches_as(kind, x, y, 8), 4, batch_size=8)
    assert len(batches) == 4
    for i, (bx, by) in enumerate(batches):
        np.testing.assert_array_equal(bx, x[8 * i : 8 * i + 8])
        np.testing.assert_array_equal(by, y[8 * i : 8 * i + 8])


def test_bad_arguments_fail_clearly():
    model = _linear_model()
    x, y = np.ones((64, 5), "float32"), np.ones((64, 3), "float32")
    with pytest.raises(ValueError, match="`batches` must be an integer >= 2"):
        keras_fracinit.suggest_s(model, (x, y), "mse", batches=1)
    with pytest.raises(ValueError, match="must hold at least 4 batches. Received: 2 batches"):
        keras_fracinit.suggest_s(model, (x, y), "mse", batches=4, batch_size=32)
    with pytest.raises(ValueError, match="must yield targets"):
        keras_fracinit.suggest_s(model, (x,), "mse", batches=2)
    with pytest.raises(ValueError, match="must name layers with a trainable kernel"):
        keras_fracinit.suggest_s(model, (x, y), "mse", layers=["nope"])
    with pytest.raises(ValueError, match="Argument `loss` must be"):
        keras_fracinit.suggest_s(model, (x, y), {"out": "mse"})
    model.get_layer("linear").trainable = False
    with pytest.raises(ValueError, match="Argument `model` must have a layer with a trainable kernel"):
        keras_fracinit.suggest_s(model, (x, y), "mse")
