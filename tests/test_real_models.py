"""`initialize` and the monitor on the models people use (keras.applications, a transformer block).

Small inputs (32 x 32, 10 classes, weights=None) keep each model to seconds.
"""

import math
import warnings

import keras
import numpy as np
import pytest
from real_model_checks import assert_accounted
from real_model_checks import weight_values

import keras_fracinit
from fracinit_experiments.small_models import transformer_block

pytestmark = pytest.mark.backends("tensorflow", "jax")

RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(8, 32, 32, 3)).astype("float32")
LABELS = np.arange(8) % 10


def _application(name):
    return getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=10)


def _kernel_layers(model):
    return [layer for layer in model.layers if any(w.name.endswith("kernel") for w in layer.weights)]


def _check_monitor(model, expected_paths, tail_index=False):
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    monitor = keras_fracinit.FractionalMomentMonitor(
        1.0, probe=(IMAGES, LABELS), tail_index=tail_index, gradient_batches=4
    )
    monitor.set_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a light-tailed head's infinite tail index warns
        values = monitor.measure()
    ratios = {k.split("/", 1)[1]: v for k, v in values.items() if k.startswith("s_moment_ratio/")}
    assert sorted(ratios) == sorted(expected_paths)
    assert all(math.isfinite(v) and 0.05 < v < 20 for v in ratios.values()), ratios
    return values


@pytest.mark.backends("tensorflow")  # on JAX, DenseNet121 and the calibration files cover the reading
def test_resnet50_every_kernel_feeds_relu_and_the_head_is_logits():
    model = _application("ResNet50")
    report = keras_fracinit.initialize(model, 1.0, seed=0)
    assert len(report) == len(_kernel_layers(model)) == 54
    assert report.counts() == {"initialized": 54, "calibrated": 0, "skipped": 0}
    *convs, head = report
    assert {r.activation for r in convs} == {"relu"}
    # the last convolution of each block reaches its ReLU through the residual Add
    assert report[3].found_in.endswith("add > conv2_block1_out") or any(
        "_add > " in r.found_in for r in convs
    )
    assert (head.activation, head.found_in) == ("linear", "layer (softmax head: logits)")
    kernel = keras.ops.convert_to_numpy(model.get_layer("conv5_block3_2_conv").kernel)
    entry = next(r for r in report if r.layer == "conv5_block3_2_conv")
    assert kernel.std() == pytest.approx(entry.stddev, rel=4 / math.sqrt(2 * kernel.size))
    _check_monitor(model, [r.layer for r in report])


@pytest.mark.backends("tensorflow")  # on JAX, DenseNet121 and the calibration files cover the reading
def test_mobilenetv2_calibrates_relu6_and_draws_depthwise_per_channel():
    model = _application("MobileNetV2")
    with pytest.raises(keras_fracinit.UnsupportedActivationError, match="relu\\(max_value=6\\)"):
        keras_fracinit.initialize(model, 1.0, seed=0)
    before = weight_values(model)
    report = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=IMAGES)
    assert_accounted(model, report, before)
    assert len(report) == len(_kernel_layers(model)) == 53
    depthwise = [r for r in report if r.layer_type == "DepthwiseConv2D"]
    assert len(depthwise) == 17 and {r.rule for r in depthwise} == {"per channel"}
    calibrated = [r for r in report if r.status == "calibrated"]
    assert len(calibrated) == 35 and {r.activation for r in calibrated} == {"relu(max_value=6)"}
    assert all(abs(r.ratio - 1) <= 0.02 for r in calibrated)
    assert report.counts()["skipped"] == 0
    _check_monitor(model, [r.layer for r in report])


def test_densenet121_every_growth_conv_feeds_relu():
    model = _application("DenseNet121")
    before = weight_values(model)
    report = keras_fracinit.initialize(model, 1.0, seed=0)
    assert_accounted(model, report, before)
    assert len(report) == len(_kernel_layers(model)) == 121
    assert report.counts() == {"initialized": 121, "calibrated": 0, "skipped": 0}
    growth = [r for r in report if r.layer.endswith("_2_conv")]
    # each growth conv's output is concatenated and read by every later layer of
    # its block through BatchNormalization > ReLU: all those paths end in ReLU
    assert len(growth) == 58 and {r.activation for r in growth} == {"relu"}
    assert sum("more paths" in r.found_in for r in growth) >= 50


@pytest.mark.backends("tensorflow")  # on JAX, DenseNet121 and the calibration files cover the reading
def test_vgg16_with_tail_indices():
    vgg = _application("VGG16")
    report = keras_fracinit.initialize(vgg, 0.8, seed=0)
    assert [r.activation for r in report] == ["relu"] * 15 + ["linear"]
    values = _check_monitor(vgg, [r.layer for r in report], tail_index=True)
    tails = [v for k, v in values.items() if k.startswith("tail_index/")]
    assert len(tails) == 16 and all(v > 0 for v in tails)


def test_transformer_block_initialize_calibrate_and_monitor():
    model = transformer_block()
    x = RNG.normal(size=(32, 10, 32)).astype("float32")
    before = weight_values(model)
    report = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)
    assert_accounted(model, report, before)
    assert [r.layer for r in report if r.status == "calibrated"] == ["mlp_in"]
    assert [r.layer for r in report][:4] == [f"attention/{k}" for k in ("query", "key", "value", "output")]
    model.compile(keras.optimizers.SGD(0.01), "mse")
    monitor = keras_fracinit.FractionalMomentMonitor(1.0, probe=(x, x), tail_index=True, gradient_batches=4)
    monitor.set_model(model)
    values = monitor.measure()
    # attention has a kernel but no single input/output the monitor taps as a layer pair
    assert values["s_moment_ratio/mlp_in"] == pytest.approx(1.0, abs=0.02)
