"""`initialize(model, s, alpha=...)`: alpha-stable draws of every kernel; calibration in the l_alpha size."""

import math

import keras
import numpy as np
import pytest
from scipy import stats

import keras_fracinit
from keras_fracinit import FractionalMomentStable
from keras_fracinit._backend import kernel_draws

KS_LEVEL = 1e-3


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def _model():
    return keras.Sequential(
        [
            keras.Input((96,)),
            keras.layers.Dense(160, activation="relu", name="relu"),
            keras.layers.Dense(128, activation="gelu", name="gelu"),
            keras.layers.Dense(10, name="head"),
        ]
    )


def _kernels(model):
    return [layer.kernel for layer in model.layers]


def test_alpha_two_is_todays_draw_bit_for_bit():
    model = _model()
    keras_fracinit.initialize(model, 0.8, seed=3, on_unsupported="warn")
    before = [_numpy(k) for k in _kernels(model)]
    keras_fracinit.initialize(model, 0.8, alpha=2.0, seed=3, on_unsupported="warn")
    for a, k in zip(before, _kernels(model)):
        np.testing.assert_array_equal(a, _numpy(k))


def test_every_exact_kernel_gets_its_stable_scale_and_law():
    model = _model()
    with pytest.warns(UserWarning, match="outside the paper's class"):
        report = keras_fracinit.initialize(model, 0.8, alpha=1.5, seed=1, on_unsupported="warn")
    relu, gelu, head = report
    assert relu.alpha == 1.5 and relu.stddev is None and gelu.status == "skipped"
    assert relu.stable_scale == FractionalMomentStable(0.8, 1.5, "relu").scale((96, 160))
    assert head.stable_scale == FractionalMomentStable(0.8, 1.5, "linear").scale((128, 10))
    assert "scale (alpha=1.5)" in str(report)
    values = _numpy(model.get_layer("relu").kernel).ravel()
    reference = stats.levy_stable.rvs(
        1.5, 0.0, scale=relu.stable_scale, size=15_000, random_state=np.random.default_rng(0)
    )
    critical = math.sqrt(-math.log(KS_LEVEL / 2) / 2) * math.sqrt(
        (values.size + reference.size) / (values.size * reference.size)
    )
    assert stats.ks_2samp(values, reference).statistic < critical


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"s": 1.5, "alpha": 1.5}, "Argument `s` must be below `alpha`"),
        ({"s": 0.8, "alpha": 0.0}, r"Argument `alpha` must be in \(0, 2\]"),
    ],
)
def test_bad_alpha_fails_before_anything_changes(kwargs, match):
    model = _model()
    before = [_numpy(k) for k in _kernels(model)]
    with pytest.raises(ValueError, match=match):
        keras_fracinit.initialize(model, seed=0, on_unsupported="warn", **kwargs)
    for a, k in zip(before, _kernels(model)):
        np.testing.assert_array_equal(a, _numpy(k))


def test_calibration_preserves_the_s_moment_of_the_l_alpha_size():
    alpha, s, tolerance = 1.5, 0.8, 0.02
    model = _model()
    x = np.random.default_rng(0).standard_normal((512, 96)).astype("float32")
    report = keras_fracinit.initialize(model, s, alpha=alpha, seed=2, calibrate_with=x, tolerance=tolerance)
    entry = report[1]
    assert entry.status == "calibrated" and abs(entry.ratio - 1) <= tolerance
    # measured here, in numpy: the GELU layer's output against its input, in the l_alpha size
    inputs = _numpy(model.get_layer("relu")(x))
    outputs = _numpy(model.get_layer("gelu")(inputs))

    def moment(v):
        return np.mean(np.mean(np.abs(v) ** alpha, axis=1) ** (s / alpha))

    assert moment(outputs) / moment(inputs) == pytest.approx(entry.ratio, rel=1e-4)


@pytest.mark.backends("jax", "tensorflow")
def test_large_kernels_are_drawn_in_blocks_with_the_same_law(monkeypatch):
    monkeypatch.setattr(kernel_draws, "SMALL", 4096)  # blocks of 1024 entries for stable draws
    model = keras.Sequential([keras.Input((300,)), keras.layers.Dense(200, activation="relu")])
    (entry,) = keras_fracinit.initialize(model, 0.5, alpha=1.2, seed=4)
    values = _numpy(model.layers[0].kernel).ravel()
    assert np.all(np.isfinite(values))
    reference = stats.levy_stable.rvs(
        1.2, 0.0, scale=entry.stable_scale, size=20_000, random_state=np.random.default_rng(1)
    )
    critical = math.sqrt(-math.log(KS_LEVEL / 2) / 2) * math.sqrt(
        (values.size + reference.size) / (values.size * reference.size)
    )
    assert stats.ks_2samp(values, reference).statistic < critical
