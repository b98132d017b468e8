"""Calibration on keras.applications models outside the paper's class (swish, GELU, gates, mixed paths).

Small inputs (32 x 32, Xception's smallest 71 x 71, 10 classes, weights=None).
"""

import keras
import numpy as np
import pytest
from real_model_checks import IMAGES
from real_model_checks import application
from real_model_checks import calibrate_checked

import keras_fracinit

pytestmark = pytest.mark.backends("tensorflow", "jax")

RNG = np.random.default_rng(0)


def test_efficientnetb0_calibrates_swish_and_stops_on_the_squeeze_excite_gates():
    model = application("EfficientNetB0")
    with pytest.raises(keras_fracinit.UnsupportedActivationError, match="'silu'.*and \\d+ more"):
        keras_fracinit.initialize(model, 1.0, seed=0)
    report = calibrate_checked(model, IMAGES, gates=("_se_expand",))
    counts = report.counts()
    assert counts["calibrated"] == 65 and counts["skipped"] == 0 and sum(counts.values()) == 82
    gates = [r for r in report if r.layer.endswith("_se_expand")]
    assert len(gates) == 16 and all("stopped at ratio" in r.reason for r in gates)
    assert all(1e-3 <= r.scale <= 1e3 for r in report if r.status == "calibrated")


def test_xception_paths_that_disagree_are_calibrated_not_guessed():
    model = keras.applications.Xception(weights=None, input_shape=(71, 71, 3), classes=10)
    report = keras_fracinit.initialize(model, 1.0, seed=0, on_unsupported="warn")
    mixed = [r for r in report if r.activation == "mixed"]
    # a residual stream read by a ReLU and by the next block's linear shortcut conv
    assert mixed and all("relu via" in r.reason and "linear via" in r.reason for r in mixed)
    assert {r.status for r in mixed} == {"skipped"}
    x = RNG.normal(size=(4, 71, 71, 3)).astype("float32")
    report = calibrate_checked(model, x)
    assert {r.layer for r in report if r.status == "calibrated"} >= {r.layer for r in mixed}
