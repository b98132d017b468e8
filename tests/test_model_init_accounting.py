"""Every weight of every model in the zoo is in `initialize`'s report once, and the report tells the truth.

The accounting invariant, per model and backend: every variable Keras
tracks is one `WeightReport`; their parameters sum to `count_params()`;
exactly the weights reported drawn or calibrated changed, and nothing the
report says was left moved (read from the values before and after, not
from the report).
"""

import math
import warnings

import keras
import model_zoo
import numpy as np
import pytest
from real_model_checks import assert_accounted
from real_model_checks import weight_values

import keras_fracinit
from keras_fracinit._graph.weights import WeightRole
from keras_fracinit.model_init.report import WeightOutcome

pytestmark = pytest.mark.backends("tensorflow", "jax")


def _build(name):
    try:
        return model_zoo.ZOO[name]()
    except ImportError as error:  # keras_hub on a Keras nightly it does not support
        if "dev" not in keras.version():
            raise
        pytest.skip(f"keras-hub does not import on Keras {keras.version()}: {error}")


def _initialize(model, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras_fracinit.initialize(model, 1.0, seed=0, **kwargs)


@pytest.mark.parametrize("name", sorted(model_zoo.ZOO))
def test_every_weight_is_accounted_for_once_and_only_what_was_drawn_changed(name):
    model, batch = _build(name)
    before = weight_values(model)
    report = _initialize(model, calibrate_with=batch, on_unsupported="warn")
    assert_accounted(model, report, before)
    # every kernel entry is a weight of the report, and the kernel weights are the entries
    kernels = {w.kernel for w in report.weights if w.kernel}
    assert kernels == {entry.layer for entry in report}
    totals = report.totals()
    assert sum(n for n, _ in totals.values()) == len(report.weights)
    assert "parameters, by role" in str(report)


def test_the_guides_custom_layer_is_calibrated_through_its_relu():
    model, batch = model_zoo.custom_linear()
    report = _initialize(model, calibrate_with=batch)
    (entry,) = [r for r in report if r.layer == "linear/w"]
    assert entry.status == "calibrated" and entry.measured_to == "relu" and entry.end_seen
    assert abs(entry.ratio - 1) <= 0.02
    # without data the matrix named `w` is never left silently
    fresh, _ = model_zoo.custom_linear()
    with pytest.raises(keras_fracinit.UnsupportedActivationError, match="linear/w"):
        keras_fracinit.initialize(fresh, 1.0, seed=0)


def test_a_weight_whose_use_cannot_be_read_is_refused_before_anything_changes():
    class Gate(keras.layers.Layer):
        def build(self, input_shape):
            self.g = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="g")

        def call(self, inputs):
            return inputs * self.g

    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(Gate(name="gate")(inputs)))
    before = weight_values(model)
    with pytest.raises(keras_fracinit.UnsupportedActivationError, match=r"'gate/g' \(6,\) in gate"):
        keras_fracinit.initialize(model, 1.0, seed=0)
    assert all(np.array_equal(before[id(w)], keras.ops.convert_to_numpy(w)) for w in model.weights)
    with pytest.warns(UserWarning, match="not understood as they were: 'gate/g'"):
        report = keras_fracinit.initialize(model, 1.0, seed=0, on_unsupported="warn")
    (gate,) = [w for w in report.weights if w.path == "gate/g"]
    assert gate.role is WeightRole.NOT_UNDERSTOOD and gate.outcome is WeightOutcome.LEFT


def test_lora_draws_the_base_kernel_and_leaves_the_factors_so_the_model_equals_its_base():
    model, batch = model_zoo.lora()
    layer = model.get_layer("hidden")
    factors = [np.array(keras.ops.convert_to_numpy(w)) for w in (layer.lora_kernel_a, layer.lora_kernel_b)]
    report = _initialize(model)
    (hidden,) = [r for r in report if r.layer == "hidden"]
    assert hidden.status == "initialized" and hidden.activation == "relu"
    base = keras.ops.convert_to_numpy(layer._kernel)
    assert abs(base.std() / hidden.stddev - 1) < 5 / math.sqrt(2 * base.size)
    for weight, value in zip((layer.lora_kernel_a, layer.lora_kernel_b), factors):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), value)
    roles = {w.path.rsplit("/", 1)[-1]: w.role for w in report.weights if w.layer == "hidden"}
    assert roles["lora_kernel_a"] is roles["lora_kernel_b"] is WeightRole.LORA_FACTOR
    # B = 0: the adapted layer's kernel is its base
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.kernel), base, rtol=0, atol=0)
    # include_frozen=True: the same (the base is not frozen by the user), no crash
    again = _initialize(model, include_frozen=True)
    assert [r.status for r in again] == ["initialized", "initialized"]


def test_lora_with_include_frozen_checks_everything_before_the_first_draw():
    model, _ = model_zoo.llama_lora() if _hub() else model_zoo.lora()
    before = weight_values(model)
    with pytest.raises(ValueError, match="calibrate_with"):
        keras_fracinit.initialize(
            model, 1.0, seed=0, include_frozen=True, calibrate_with=np.full((3, 99), np.nan, "float32")
        )
    assert all(np.array_equal(before[id(w)], keras.ops.convert_to_numpy(w)) for w in model.weights)


def _hub():
    """Whether keras_hub imports: only a Keras nightly may lack it (a released Keras fails here)."""
    try:
        import keras_hub  # noqa: F401
    except ImportError:
        if "dev" not in keras.version():
            raise
        return False
    return True


def test_a_tied_kernel_is_one_entry_listing_both_uses_and_outside_the_class():
    model, batch = model_zoo.tied_autoencoder()
    with pytest.raises(keras_fracinit.UnsupportedActivationError, match="uses want different gains"):
        keras_fracinit.initialize(model, 1.0, seed=0)
    report = _initialize(model, calibrate_with=batch)
    (entry,) = report
    assert entry.layer == "encoder" and entry.uses == ("decoder/encoder",)
    assert entry.status == "calibrated" and "'decoder/encoder' an unread use" in entry.reason
    assert "encoder (also decoder/encoder)" in str(report)


def test_one_kernel_held_twice_inside_a_composite_layer_is_one_entry():
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.fc = keras.layers.Dense(8, "relu", name="fc")
            self.mlp = keras.Sequential([self.fc, keras.layers.Dense(4, name="out")], name="mlp")

        def call(self, inputs):
            return self.mlp(inputs)

    inputs = keras.Input((6,))
    model = keras.Model(inputs, Block(name="block")(inputs))
    report = _initialize(model, calibrate_with=np.random.default_rng(0).normal(size=(16, 6)))
    assert [r.layer for r in report] == ["block/fc", "block/mlp/out"]
    assert report[0].uses == ("block/mlp/fc",) and report[0].status == "initialized"


def test_stacked_expert_kernels_get_each_experts_fans():
    model, batch = _build("mixtral")
    report = _initialize(model, calibrate_with=batch)
    experts = [r for r in report if "/experts/" in r.layer]
    assert len(experts) == 3 and all(r.rule == "per expert" for r in experts)
    shapes = {w.kernel: w.shape for w in report.weights if w.kernel}
    for entry in experts:
        _, fan_in, fan_out = shapes[entry.layer]
        assert (entry.fan_in, entry.fan_out) == (fan_in, fan_out) and entry.status == "calibrated"
    assert not [w for w in report.weights if w.outcome is WeightOutcome.LEFT and w.role is WeightRole.KERNEL]


def test_a_relu_hidden_in_a_subclassed_call_is_read_through_its_traced_call():
    model, batch = model_zoo.hidden_relu()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="keras_fracinit.initialize: the graph")
        report = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=batch)
    first, second = report
    assert (first.activation, first.status) == ("relu", "initialized") and first.found_in.startswith("relu")
    assert (second.activation, second.found_in, second.status) == ("linear", "model output", "initialized")
    expected = keras_fracinit.FractionalMomentNormal(1.0, "relu").stddev((12, 64))
    assert first.stddev == pytest.approx(expected, rel=1e-12)
    assert int(keras.ops.convert_to_numpy(model_zoo.counting()[0].calls)) == 0


class _Untraceable(model_zoo.HiddenReLU):
    """The hidden ReLU behind a branch on a value: it runs eagerly only, so its graph stays hidden."""

    def call(self, inputs):
        x = self.first(inputs)
        if float(keras.ops.convert_to_numpy(keras.ops.sum(inputs))) > -1e9:
            x = keras.ops.relu(x)
        return self.second(x)


class _GatedBlock(keras.layers.Layer):
    """A gated MLP as keras_hub writes it: the GELU is applied in call(), not by a layer."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gate = keras.layers.Dense(16, name="gate")
        self.up = keras.layers.Dense(16, name="up")
        self.down = keras.layers.Dense(8, name="down")

    def call(self, inputs):
        return self.down(keras.activations.gelu(self.gate(inputs)) * self.up(inputs))


def test_what_an_unread_call_applies_is_reported_as_not_measured_through():
    batch = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
    model = _Untraceable(name="untraceable")
    model(batch[:1])
    with pytest.warns(
        UserWarning, match=r"\['untraceable'\] cannot be seen \(their call\(\) does not run on"
    ):
        report = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=batch)
    first = report[0]
    assert first.status == "calibrated" and not first.end_seen and first.measured_to == "first"
    assert "end of path not seen" in str(report)
    inputs = keras.Input((8,))
    block_model = keras.Model(inputs, _GatedBlock(name="block")(inputs))
    report = _initialize(block_model, calibrate_with=batch)
    # the block's call() is not traced (composite layers are not): every linear sublayer says so
    assert {r.layer: (r.status, r.end_seen) for r in report} == {
        name: ("calibrated", False) for name in ("block/gate", "block/up", "block/down")
    }


class _CountingGelu(model_zoo.Counting):
    """The counting model with a GELU after its Dense: calibrated, so measured by passes of the model."""

    def call(self, inputs):
        self.calls.assign_add(1)
        return keras.ops.gelu(self.dense(inputs))


def test_measuring_never_moves_a_variable_that_call_updates():
    model, batch = model_zoo.counting()
    report = _initialize(model, calibrate_with=batch)
    assert report[0].status == "initialized" and int(keras.ops.convert_to_numpy(model.calls)) == 0
    model = _CountingGelu(name="counting_gelu")
    model(batch[:1])
    model.calls.assign(0)
    report = _initialize(model, calibrate_with=batch)
    assert report[0].status == "calibrated" and report[0].activation.endswith("gelu")
    assert int(keras.ops.convert_to_numpy(model.calls)) == 0
