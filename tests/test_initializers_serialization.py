"""Registration, .keras save/load in a fresh process, export, distribution."""

import json
import math

import keras
import numpy as np
import pytest
from helpers import last_json_line
from helpers import run_fresh_python

import keras_fracinit
from keras_fracinit import FractionalMomentNormal
from keras_fracinit import FractionalMomentStable
from keras_fracinit import FractionalMomentUniform


@pytest.mark.parametrize(
    "name, cls",
    [
        ("fractional_moment", FractionalMomentNormal),
        ("fractional_moment_normal", FractionalMomentNormal),
        ("fractional_moment_uniform", FractionalMomentUniform),
        ("fractional_moment_stable", FractionalMomentStable),
        ("FractionalMomentNormal", FractionalMomentNormal),
        ("keras_fracinit>FractionalMomentNormal", FractionalMomentNormal),
    ],
)
def test_string_names_resolve(name, cls):
    init = keras.initializers.get(name)
    assert type(init) is cls
    assert init.s == 1.0 and init.activation == "relu"


def test_dict_identifier_with_config():
    init = keras.initializers.get(
        {"class_name": "fractional_moment", "config": {"s": 0.8, "activation": "linear"}}
    )
    assert isinstance(init, FractionalMomentNormal)
    assert (init.s, init.activation) == (0.8, "linear")


@pytest.mark.parametrize(
    "layer, inputs, weight",
    [
        (lambda: keras.layers.Dense(256, kernel_initializer="fractional_moment"), (2, 64), "kernel"),
        (
            lambda: keras.layers.Conv2D(32, 3, kernel_initializer="fractional_moment_uniform"),
            (2, 9, 9, 16),
            "kernel",
        ),
        (
            lambda: keras.layers.Conv1D(64, 5, kernel_initializer="fractional_moment_normal"),
            (2, 9, 16),
            "kernel",
        ),
        (lambda: keras.layers.Dense(256, bias_initializer="fractional_moment"), (2, 5), "bias"),
    ],
)
def test_string_names_work_in_layer_arguments(layer, inputs, weight):
    layer = layer()
    layer(np.ones(inputs, "float32"))
    values = np.asarray(keras.ops.convert_to_numpy(getattr(layer, weight)), np.float64).ravel()
    expected = FractionalMomentNormal(1.0).stddev(getattr(layer, weight).shape)  # the names' defaults
    # The sample sd of n draws has relative sd at most sqrt(1 / (2n)) for these
    # laws (normal: exactly; uniform, kurtosis 1.8: sqrt(0.8 / (4n))): 4 of them.
    assert abs(values.std() / expected - 1.0) < 4 * math.sqrt(1 / (2 * values.size))


def test_serialize_keras_object_names_the_package():
    config = keras.saving.serialize_keras_object(FractionalMomentNormal(0.5, seed=1))
    assert config["registered_name"] == "keras_fracinit>FractionalMomentNormal"
    restored = keras.saving.deserialize_keras_object(config)
    assert restored.get_config() == FractionalMomentNormal(0.5, seed=1).get_config()


def _paper_style_model():
    return keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(
                16,
                activation="relu",
                kernel_initializer=FractionalMomentNormal(0.8, "relu", seed=1),
            ),
            keras.layers.Dense(
                16,
                activation="leaky_relu",
                kernel_initializer=FractionalMomentUniform(
                    1.0, "leaky_relu", mode="fan_out", seed=keras.random.SeedGenerator(2)
                ),
            ),
            keras.layers.Dense(
                16,
                activation="relu",
                kernel_initializer=FractionalMomentStable(0.8, 1.5, seed=keras.random.SeedGenerator(4)),
            ),
            keras.layers.Dense(3, kernel_initializer="fractional_moment"),
        ]
    )


FRESH_LOAD = """
    import json, sys
    import numpy as np
    import keras
    import keras_fracinit

    model = keras.saving.load_model(sys.argv[1])
    np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
    print(json.dumps([
        [type(layer.kernel_initializer).__module__,
         type(layer.kernel_initializer).__name__,
         layer.kernel_initializer.get_config()]
        for layer in model.layers
    ]))
"""


def test_keras_file_loads_in_a_fresh_process(tmp_path):
    model = _paper_style_model()
    x = np.random.default_rng(0).standard_normal((5, 12)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x)

    stdout = run_fresh_python(
        FRESH_LOAD, tmp_path / "model.keras", tmp_path / "x.npy", tmp_path / "y.npy", timeout=300
    )
    loaded = json.loads(stdout.strip().splitlines()[-1])
    for layer, (module, name, config) in zip(model.layers, loaded):
        assert module == "keras_fracinit.initializers"
        assert name == type(layer.kernel_initializer).__name__
        assert config == json.loads(json.dumps(layer.kernel_initializer.get_config()))
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-6)


def test_rebuilding_from_config_draws_the_same_kernels():
    model = _paper_style_model()
    clone = keras.Sequential.from_config(model.get_config())
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.layers[0].kernel),
        keras.ops.convert_to_numpy(clone.layers[0].kernel),
    )


@pytest.mark.backends("tensorflow", "jax")  # Keras exports SavedModels from these
def test_saved_model_export_serves_the_same_outputs(tmp_path):
    import tensorflow as tf

    model = _paper_style_model()
    x = np.random.default_rng(1).standard_normal((4, 12)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.export(str(tmp_path / "exported"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "exported"))
    np.testing.assert_allclose(np.asarray(reloaded.serve(x)), expected, rtol=1e-6)


MIRRORED = """
    import json
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    import keras_fracinit

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    report = {}
    for label, seed in [
        ("int", 3), ("none", None), ("generator", keras.random.SeedGenerator(3))
    ]:
        with strategy.scope():
            layer = keras.layers.Dense(
                32, kernel_initializer=keras_fracinit.FractionalMomentNormal(
                    0.8, seed=seed
                )
            )
            layer.build((None, 64))
        replicas = strategy.experimental_local_results(layer.kernel.value)
        values = [np.asarray(r) for r in replicas]
        report[label] = {
            "replicas": len(values),
            "devices": sorted({r.device for r in replicas}),
            "equal": all(np.array_equal(values[0], v) for v in values[1:]),
            "std": float(values[0].std()),
        }
    print(json.dumps(report))
"""


@pytest.mark.tensorflow_only
def test_mirrored_strategy_replicas_get_the_same_kernel():
    report = last_json_line(run_fresh_python(MIRRORED, timeout=300))
    expected_std = FractionalMomentNormal(0.8).stddev((64, 32))
    for label, entry in report.items():
        assert entry["replicas"] == 2 and len(entry["devices"]) == 2, label
        assert entry["equal"], label
        # 2048 normal draws: the sample sd's relative error has sd 1/sqrt(2 n)
        assert abs(entry["std"] / expected_std - 1) < 4 / math.sqrt(2 * 2048), label


def test_package_exports():
    assert keras_fracinit.FractionalMomentNormal is FractionalMomentNormal
    assert callable(keras_fracinit.theory.moment_gain)
