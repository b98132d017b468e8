"""Calibration on keras.applications models outside the paper's class: GELU, LayerScale, hard swish, gates.

Small inputs (32 x 32, 10 classes, weights=None); split from test_real_models_calibration.py so that
the two files run on two workers.
"""

import pytest
from real_model_checks import IMAGES
from real_model_checks import application
from real_model_checks import calibrate_checked

pytestmark = pytest.mark.backends("tensorflow", "jax")


def test_convnext_tiny_calibrates_gelu_and_layer_scale_paths():
    model = application("ConvNeXtTiny")
    report = calibrate_checked(model, IMAGES[:4])
    calibrated = [r for r in report if r.status == "calibrated"]
    assert {r.activation for r in calibrated} == {"gelu", "unknown"}
    assert all("LayerScale" in r.reason for r in calibrated if r.activation == "unknown")


def test_mobilenetv3small_gates_and_hard_swish_calibrate_to_finite_weights():
    model = application("MobileNetV3Small")
    report = calibrate_checked(model, IMAGES)
    counts = report.counts()
    assert counts["skipped"] == 0 and counts["calibrated"] > 0
    # the hard sigmoid is relu6(x + 3) / 6: a constant shift, outside the class
    assert any("with a constant (a shift)" in r.reason for r in report if r.status == "calibrated")
