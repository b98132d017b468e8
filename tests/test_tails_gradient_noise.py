"""`keras_fracinit._gradient_noise`: per-batch kernel gradients and their noise."""

import keras
import numpy as np

from keras_fracinit.tails import _gradient_noise


def _linear_model(inputs=5, outputs=3, bias=False):
    return keras.Sequential(
        [keras.Input((inputs,)), keras.layers.Dense(outputs, use_bias=bias, name="linear")]
    )


def test_gradients_equal_the_closed_form_of_mean_squared_error():
    rng = np.random.default_rng(0)
    model = _linear_model(bias=True)
    kernel = model.get_layer("linear").kernel
    gradients = _gradient_noise.KernelGradients(model, [kernel], "mse")
    x = rng.standard_normal((8, 5)).astype("float32")
    y = rng.standard_normal((8, 3)).astype("float32")
    (gradient,) = gradients(x, y)
    w = keras.ops.convert_to_numpy(kernel).astype(np.float64)
    b = keras.ops.convert_to_numpy(model.get_layer("linear").bias).astype(np.float64)
    residual = x.astype(np.float64) @ w + b - y
    expected = 2.0 / residual.size * x.T.astype(np.float64) @ residual
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-7)


def test_draws_stack_each_batchs_gradient_and_measuring_leaves_the_model_unchanged():
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
    gradients = _gradient_noise.KernelGradients(
        model, [model.get_layer("d").kernel, model.get_layer("out").kernel], "mse"
    )
    batches = [
        (rng.standard_normal((16, 5)).astype("float32") + 3, rng.standard_normal((16, 1)).astype("float32"))
        for _ in range(4)
    ]
    draws = gradients.draws(batches)
    assert [d.shape for d in draws] == [(4, 5, 4), (4, 4, 1)]
    raw = [gradients(x, y) for x, y in batches]
    for k, d in enumerate(draws):
        assert d.dtype == np.float32  # the model's float dtype
        # row i is batch i's gradient, as computed alone
        np.testing.assert_array_equal(d, np.stack([g[k] for g in raw]))
        assert np.abs(d - d.mean(axis=0)).max() > 0  # the batches' gradients differ: noise
    # Inference mode: deterministic (no dropout) and no batch-norm updates.
    np.testing.assert_array_equal(gradients(*batches[0])[0], gradients(*batches[0])[0])
    for old, variable in zip(before, model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), old)


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
    full = _gradient_noise.KernelGradients(model, kernels, "mse")
    kept = _gradient_noise.KernelGradients(model, kernels, "mse", max_entries=100)
    x, y = rng.standard_normal((8, 40)), rng.standard_normal((8, 1))
    (big, small), (big_kept, small_kept) = full(x, y), kept(x, y)
    assert big.dtype == big_kept.dtype == np.float64
    assert big_kept.shape == (100,) and small_kept.shape == small.shape == (30, 1)
    assert len(set(kept.entries[0])) == 100 and kept.entries[1] is None
    np.testing.assert_array_equal(big_kept, big.reshape(-1)[kept.entries[0]])
    again = _gradient_noise.KernelGradients(model, kernels, "mse", max_entries=100)
    np.testing.assert_array_equal(again.entries[0], kept.entries[0])  # a fixed subset


def test_gradients_never_move_a_variable_that_call_updates():
    import model_zoo

    model, x = model_zoo.counting()
    gradients = _gradient_noise.KernelGradients(model, [model.dense.kernel], "mse")
    y = np.zeros((len(x), 1), "float32")
    (first,) = gradients(x, y)
    (second,) = gradients(x, y)
    assert first.shape == (12, 1) and np.all(np.isfinite(first)) and np.any(first)
    np.testing.assert_allclose(first, second)
    assert int(keras.ops.convert_to_numpy(model.calls)) == 0
