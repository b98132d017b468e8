"""`keras_fracinit._gradient_noise`: per-batch kernel gradients and `suggest_s`."""

import math

import keras
import numpy as np
import pytest
import scipy.stats
from helpers import batches_py_dataset
from helpers import block_sum_sd

import keras_fracinit
from keras_fracinit import _data
from keras_fracinit import _gradient_noise as gradient_noise


def _linear_model(inputs=5, outputs=3, bias=False):
    return keras.Sequential(
        [keras.Input((inputs,)), keras.layers.Dense(outputs, use_bias=bias, name="linear")]
    )


def test_gradients_equal_the_closed_form_of_mean_squared_error():
    rng = np.random.default_rng(0)
    model = _linear_model(bias=True)
    kernel = model.get_layer("linear").kernel
    gradients = gradient_noise.KernelGradients(model, [kernel], "mse")
    x = rng.standard_normal((8, 5)).astype("float32")
    y = rng.standard_normal((8, 3)).astype("float32")
    (gradient,) = gradients(x, y)
    w = keras.ops.convert_to_numpy(kernel).astype(np.float64)
    b = keras.ops.convert_to_numpy(model.get_layer("linear").bias).astype(np.float64)
    residual = x.astype(np.float64) @ w + b - y
    expected = 2.0 / residual.size * x.T.astype(np.float64) @ residual
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-7)


def test_noise_is_centred_and_measuring_leaves_the_model_unchanged():
    rng = np.random.default_rng(1)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(4, name="d"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(1, name="out"),
        ]
    )
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.weights]
    gradients = gradient_noise.KernelGradients(
        model, [model.get_layer("d").kernel, model.get_layer("out").kernel], "mse"
    )
    batches = [
        (rng.standard_normal((16, 5)).astype("float32") + 3, rng.standard_normal((16, 1)).astype("float32"))
        for _ in range(4)
    ]
    noise = gradients.noise(batches)
    assert [n.shape for n in noise] == [(4, 5, 4), (4, 4, 1)]
    raw = [gradients(x, y) for x, y in batches]
    for k, n in enumerate(noise):
        assert n.dtype == np.float32  # the model's float dtype
        # centred in float32: rounding of a few ulps of the largest gradient per batch
        largest = max(np.abs(g[k]).max() for g in raw)
        bound = 4 * len(n) * np.finfo(np.float32).eps * largest
        np.testing.assert_allclose(n.sum(axis=0), 0.0, atol=bound)
        assert np.abs(n).max() > 0
    # Inference mode: deterministic (no dropout) and no batch-norm updates.
    np.testing.assert_array_equal(gradients(*batches[0])[0], gradients(*batches[0])[0])
    for old, variable in zip(before, model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), old)


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


def test_large_kernels_keep_a_fixed_subset_in_their_own_dtype():
    rng = np.random.default_rng(3)
    model = keras.Sequential(
        [
            keras.Input((40,), dtype="float64"),
            keras.layers.Dense(30, name="big", dtype="float64"),
            keras.layers.Dense(1, name="small", dtype="float64"),
        ]
    )
    kernels = [model.get_layer("big").kernel, model.get_layer("small").kernel]
    full = gradient_noise.KernelGradients(model, kernels, "mse")
    kept = gradient_noise.KernelGradients(model, kernels, "mse", max_entries=100)
    x, y = rng.standard_normal((8, 40)), rng.standard_normal((8, 1))
    (big, small), (big_kept, small_kept) = full(x, y), kept(x, y)
    assert big.dtype == big_kept.dtype == np.float64
    assert big_kept.shape == (100,) and small_kept.shape == small.shape == (30, 1)
    assert len(set(kept.entries[0])) == 100 and kept.entries[1] is None
    np.testing.assert_array_equal(big_kept, big.reshape(-1)[kept.entries[0]])
    again = gradient_noise.KernelGradients(model, kernels, "mse", max_entries=100)
    np.testing.assert_array_equal(again.entries[0], kept.entries[0])  # a fixed subset
