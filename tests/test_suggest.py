"""`keras_fracinit.suggest`: `suggest_s` and the datasets it reads."""

import keras
import numpy as np
import pytest
import scipy.stats
from helpers import batches_py_dataset
from helpers import per_entry_sd

import keras_fracinit
from keras_fracinit._backend import batching
from keras_fracinit.tails import estimators


def _linear_model(inputs=5, outputs=3, bias=False):
    return keras.Sequential(
        [keras.Input((inputs,)), keras.layers.Dense(outputs, use_bias=bias, name="linear")]
    )


@pytest.mark.parametrize("alpha", [1.2, 1.5, 1.8])
def test_heavy_tailed_noise_suggests_its_tail_index(alpha):
    # loss = mean(y_pred) on a linear layer: each mini-batch gradient is the
    # batch mean of the inputs, alpha-stable with the inputs' index.
    inputs, batches, batch_size = 2048, 64, 16
    x = scipy.stats.levy_stable.rvs(
        alpha, 0.0, size=(batches * batch_size, inputs), random_state=np.random.default_rng(2)
    ).astype("float32")
    y = np.zeros((len(x), 1), "float32")
    model = _linear_model(inputs, 1)
    suggestion = keras_fracinit.suggest_s(
        model, (x, y), lambda y_true, y_pred: y_pred, batches=batches, batch_size=batch_size
    )
    assert suggestion.verdict == "heavy-tailed"
    assert abs(suggestion.alpha - alpha) <= 4 * per_entry_sd(alpha, inputs * batches // 4, 2)
    assert suggestion.s == suggestion.alpha
    assert suggestion.interval[0] <= alpha <= suggestion.interval[1]
    assert suggestion.null_alpha > suggestion.interval[1]
    assert list(suggestion.per_layer) == ["linear"] and suggestion.batches == batches
    assert suggestion.reason.startswith(f"s = {suggestion.s:.2f}, the tail index: heavy-tailed")


def test_gaussian_noise_with_per_entry_scales_suggests_two():
    # Inputs of log-normal per-feature scales: each kernel entry's gradient
    # noise is Gaussian with its own scale. Pooled over entries it reads as
    # heavy-tailed; compared entry by entry it does not, and s stays 2.
    rng = np.random.default_rng(3)
    inputs, batches = 2048, 64
    scales = np.exp(1.5 * rng.standard_normal(inputs))
    x = (scales * rng.standard_normal((batches * 16, inputs))).astype("float32")
    y = np.zeros((len(x), 1), "float32")
    x_in = keras.Input((inputs,))
    left = keras.layers.Dense(1, use_bias=False, name="left")(x_in)
    right = keras.layers.Dense(1, use_bias=False, name="right")(x_in)
    model = keras.Model(x_in, keras.layers.Add()([left, right]))
    suggestion = keras_fracinit.suggest_s(model, (x, y), lambda t, p: p, batches=batches, batch_size=16)
    assert suggestion.s == 2.0 and suggestion.verdict == "not heavy-tailed"
    assert suggestion.reason.startswith("s = 2 (He), because heavy tails are not established")
    assert sorted(suggestion.per_layer) == ["left", "right"]
    for assessment in suggestion.per_layer.values():
        assert abs(assessment.alpha - 2.0) <= 4 * per_entry_sd(2.0, inputs * batches // 4, 2)
    pooled = estimators.block_sum_tail_index(x.reshape(batches, 16, inputs).mean(axis=1))
    assert pooled < 1.8  # what the pooled estimator would have said


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
    batches = batching.take_batches(_batches_as(kind, x, y, 8), 4, batch_size=8)
    assert len(batches) == 4
    for i, (bx, by) in enumerate(batches):
        np.testing.assert_array_equal(bx, x[8 * i : 8 * i + 8])
        np.testing.assert_array_equal(by, y[8 * i : 8 * i + 8])


def test_bad_arguments_fail_clearly():
    model = _linear_model()
    x, y = np.ones((64, 5), "float32"), np.ones((64, 3), "float32")
    with pytest.raises(ValueError, match=r"`batches` must be an integer >= 16 \(four independent groups"):
        keras_fracinit.suggest_s(model, (x, y), "mse", batches=15)
    with pytest.raises(ValueError, match="must hold at least 16 batches. Received: 2 batches"):
        keras_fracinit.suggest_s(model, (x, y), "mse", batches=16, batch_size=32)
    with pytest.raises(ValueError, match="must yield targets"):
        keras_fracinit.suggest_s(model, (x,), "mse", batches=16, batch_size=4)
    with pytest.raises(ValueError, match="must name layers with a trainable kernel"):
        keras_fracinit.suggest_s(model, (x, y), "mse", layers=["nope"])
    with pytest.raises(ValueError, match="Argument `loss` must be"):
        keras_fracinit.suggest_s(model, (x, y), {"out": "mse"})
    model.get_layer("linear").trainable = False
    with pytest.raises(ValueError, match="Argument `model` must have a layer with a trainable kernel"):
        keras_fracinit.suggest_s(model, (x, y), "mse")


def test_layers_without_noise_are_left_out_with_a_warning():
    # A ReLU layer that never fires, and the layer it feeds, have the same
    # (zero) gradient on every mini-batch: no tail index; the suggestion rests
    # on the remaining layer.
    rng = np.random.default_rng(5)
    x_in = keras.Input((64,))
    live = keras.layers.Dense(1, use_bias=False, name="live")(x_in)
    dead = keras.layers.Dense(4, activation="relu", use_bias=False, kernel_initializer="zeros", name="dead")(
        x_in
    )
    head = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="head")(dead)
    model = keras.Model(x_in, keras.layers.Add()([live, head]))
    x = rng.standard_normal((16 * 32, 64)).astype("float32")
    y = np.zeros((len(x), 1), "float32")
    with pytest.warns(UserWarning, match=r"suggest_s: layers \['dead', 'head'\] are left out"):
        suggestion = keras_fracinit.suggest_s(model, (x, y), lambda t, p: p, batches=16)
    assert list(suggestion.per_layer) == ["live"]


def test_every_kernel_initialize_sees_is_measured_attention_included():
    rng = np.random.default_rng(2)
    inputs = keras.Input((6, 8))
    x = keras.layers.MultiHeadAttention(2, 4, name="mha")(inputs, inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(x))
    x_data = rng.standard_normal((16 * 8, 6, 8)).astype("float32")
    y_data = rng.standard_normal((len(x_data), 1)).astype("float32")
    suggestion = keras_fracinit.suggest_s(model, (x_data, y_data), "mse", batches=16, batch_size=8)
    with pytest.warns(UserWarning, match="skipped 1 kernel"):
        seen = [r.layer for r in keras_fracinit.initialize(model, 1.0, seed=0, on_unsupported="warn")]
    assert list(suggestion.per_layer) == seen == ["mha/query", "mha/key", "mha/value", "mha/output", "head"]


def test_a_lora_model_is_measured_without_its_frozen_base_kernels_and_says_so():
    import model_zoo

    model, _ = model_zoo.lora()
    rng = np.random.default_rng(3)
    x_data = rng.standard_normal((16 * 32, 12)).astype("float32")
    y_data = rng.standard_normal((len(x_data), 3)).astype("float32")
    with pytest.warns(
        UserWarning, match=r"suggest_s: kernels \['hidden'\] are left out: they are not trainable"
    ):
        suggestion = keras_fracinit.suggest_s(model, (x_data, y_data), "mse", batches=16, batch_size=32)
    assert list(suggestion.per_layer) == ["head"]
    with pytest.raises(ValueError, match=r"of which \['hidden'\] are not trainable"):
        keras_fracinit.suggest_s(model, (x_data, y_data), "mse", layers=["hidden"])
