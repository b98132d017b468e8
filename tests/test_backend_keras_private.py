"""Pins every private Keras API the package uses against the installed Keras.

If a Keras upgrade moves one of them, the test named after it fails here;
the package itself then warns and degrades as `keras_private` describes.
"""

import inspect
import warnings

import keras
import numpy as np
import pytest

from keras_fracinit._backend import keras_private


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(keras_private, "_warned", set())


def _functional():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="dense")(inputs)
    outputs = keras.layers.ReLU(name="relu")(hidden)
    return keras.Model(inputs, outputs)


def test_functional_class_and_its_graph_runner():
    assert keras_private.Functional is not None
    model = _functional()
    assert isinstance(model, keras_private.Functional)
    assert keras_private.is_graph_model(model)
    assert keras_private.is_graph_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    assert not keras_private.is_graph_model(keras.layers.Dense(1))
    parameters = inspect.signature(keras_private.Functional._run_through_graph).parameters
    assert {"inputs", "operation_fn", "call_fn"} <= set(parameters)
    assert keras_private.graph_runner_available()


def test_run_through_graph_calls_each_layer_once_and_computes_the_model():
    model = _functional()
    called = []

    def call(layer, *args, **kwargs):
        called.append(layer.name)
        return layer(*args, **kwargs)

    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    out = keras_private.run_through_graph(model, keras.ops.convert_to_tensor(x), call)
    assert called == ["dense", "relu"]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(model(x)), rtol=1e-6
    )


def test_outbound_nodes_name_the_consumers():
    model = _functional()
    assert keras_private.consumers(model.get_layer("dense")) == [model.get_layer("relu")]
    assert keras_private.consumers(model.get_layer("relu")) == []


def test_keras_ops_calls_are_named_operations_that_consume_a_layer():
    x = keras.Input((4,))
    calls = {
        "relu": keras.ops.relu,
        "leaky_relu": lambda h: keras.ops.leaky_relu(h, negative_slope=0.1),
        "add": lambda h: h + x,
        "concatenate": lambda h: keras.ops.concatenate([h, x]),
        "tanh": keras.ops.tanh,
    }
    for name, call in calls.items():
        dense = keras.layers.Dense(4)
        call(dense(x))
        (operation,) = keras_private.consumers(dense)
        assert keras_private.ops_call(operation) == (
            name,
            {"negative_slope": 0.1} if name == "leaky_relu" else {},
        )
    assert keras_private.ops_call(keras.layers.Dense(2)) is None


def test_a_hidden_consumer_list_warns_and_says_unknown():
    with pytest.warns(UserWarning, match="_outbound_nodes"):
        assert keras_private.consumers(object()) is None


@pytest.mark.parametrize("verbose", [0, 1])
def test_fit_holds_its_data_and_callbacks_in_locals(verbose):
    x = np.arange(40, dtype="float32").reshape(10, 4)
    y = np.zeros((10, 3), dtype="float32")
    model = _functional()
    model.compile("sgd", "mse")
    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            fit_locals = keras_private.keras_fit_locals(self.model)
            seen["locals"] = fit_locals is not None
            source = keras_private.training_data_source(fit_locals)
            seen["first"] = next(iter(source))
            seen["progbar"] = keras_private.progress_logger(fit_locals)

    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=verbose, callbacks=[Probe()])
    assert seen["locals"]
    first_x = seen["first"][0] if isinstance(seen["first"], tuple) else seen["first"]
    np.testing.assert_array_equal(np.asarray(first_x), x[:4])
    assert (seen["progbar"] is not None) == bool(verbose)
    assert keras_private.keras_fit_locals(model) is None  # outside fit


@pytest.mark.backends("jax")
def test_jax_trainer_syncs_its_state_mid_epoch():
    model = _functional()
    model.compile(keras.optimizers.SGD(0.5), "mse")
    x = np.ones((8, 4), dtype="float32")
    y = np.full((8, 3), 5.0, dtype="float32")
    kernel = model.get_layer("dense").kernel
    kernel.assign(np.full((4, 3), 0.1, dtype="float32"))  # live ReLUs: the step moves the kernel
    before = keras.ops.convert_to_numpy(kernel).copy()
    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                keras_private.sync_jax_state(self.model)
                seen["after_sync"] = keras.ops.convert_to_numpy(kernel).copy()

    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Probe()])
    assert hasattr(model, "jax_state_sync")
    assert not np.array_equal(seen["after_sync"], before)


@pytest.mark.backends("jax")
def test_a_jax_trainer_without_sync_warns():
    with pytest.warns(UserWarning, match="jax_state_sync"):
        keras_private.sync_jax_state(object())


def test_warnings_come_once():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(3):
            keras_private.consumers(object())
    assert len(record) == 1


def test_recording_calls_sees_each_layers_first_input_and_output_then_restores_call():
    model = _functional()
    dense, relu = model.get_layer("dense"), model.get_layer("relu")
    x = np.arange(8, dtype="float32").reshape(2, 4)
    with keras_private.recording_calls([dense, relu]) as calls:
        result = model(x, training=False)
    (seen_input, seen_output), (_, relu_output) = calls[id(dense)], calls[id(relu)]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(seen_input), x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(seen_output), keras.ops.convert_to_numpy(dense(x)))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(relu_output), keras.ops.convert_to_numpy(result))
    assert "call" not in vars(dense) and "call" not in vars(relu)  # the class method is back


def test_recording_calls_says_when_a_layer_never_ran():
    model = _functional()
    idle = keras.layers.Dense(1, name="idle")
    with pytest.raises(RuntimeError, match=r"\['idle'\] were not called"):
        with keras_private.recording_calls([model.get_layer("dense"), idle]):
            model(np.zeros((1, 4), "float32"))


def test_graph_node_keys_leave_out_calls_from_other_graphs():
    model = _functional()
    dense = model.get_layer("dense")
    keys = keras_private.graph_node_keys([model])
    assert [layer.name for layer in keras_private.consumers(dense, keys)] == ["relu"]
    keras.ops.square(dense(keras.Input((4,))))  # another graph calls the layer again
    assert len(keras_private.consumers(dense)) == 2
    assert [layer.name for layer in keras_private.consumers(dense, keys)] == ["relu"]
    sequential = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="d"), keras.layers.ReLU(name="r")]
    )
    keys = keras_private.graph_node_keys([sequential])
    assert [layer.name for layer in keras_private.consumers(sequential.get_layer("d"), keys)] == ["r"]


def test_graph_nodes_consumers_and_their_calls():
    inputs = keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    first = shared(inputs)
    second = shared(keras.layers.ReLU(name="relu")(first))
    model = keras.Model(inputs, keras.layers.Add(name="add")([first, second]))
    keys = keras_private.graph_node_keys([model])
    calls = keras_private.layer_calls(shared, keys)
    assert len(calls) == 2 and all(len(node.outputs) == 1 for node in calls)
    consumers = keras_private.tensor_consumers(calls[0].outputs[0], keys)
    assert sorted(node.operation.name for node in consumers) == ["add", "relu"]
    assert [node.operation.name for node in keras_private.tensor_consumers(calls[1].outputs[0], keys)] == [
        "add"
    ]
    # a tap model calling the layers again adds nodes outside the model's graph
    other = keras.Input((4,))
    keras.Model(other, shared(other))
    assert len(keras_private.layer_calls(shared, keys)) == 2
    sequential = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert keras_private.graph_function(sequential).outputs and keras_private.graph_function(model) is model


def test_a_node_runs_again_with_a_value_in_place_of_its_input():
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(3, name="dense")(inputs)
    shifted = hidden + 1.0  # a keras.ops node with a constant argument
    model = keras.Model(inputs, shifted)
    keys = keras_private.graph_node_keys([model])
    (node,) = keras_private.tensor_consumers(hidden, keys)
    value = np.ones((2, 3), "float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras_private.call_node_on(node, hidden, value)), 2.0
    )


def test_sublayers_are_the_layers_a_layer_holds():
    attention = keras.layers.MultiHeadAttention(2, 4, name="mha")
    attention.build((None, 5, 8), (None, 5, 8))
    names = {layer.name for layer in keras_private.sublayers(attention)}
    assert {"query", "key", "value", "attention_output"} <= names


def test_replaced_calls_wrap_and_are_removed():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    seen = []

    def wrap(target, original):
        def call(*args, **kwargs):
            seen.append(target.name)
            return original(*args, **kwargs)

        return call

    with keras_private.replaced_calls([layer], wrap):
        layer(np.ones((1, 3), "float32"))
    layer(np.ones((1, 3), "float32"))
    assert seen == [layer.name] and "call" not in vars(layer)


def test_keras_own_initializer_table_is_what_get_reads_for_strings():
    # The table register_initializer_names writes into: a name put there
    # resolves in keras.initializers.get and keras.initializers.deserialize.
    # If a Keras upgrade moves or stops reading it, this fails, not a user.
    table = keras_private._initializer_table()
    assert table is not None and table["HeNormal"] is keras.initializers.HeNormal

    table["keras_fracinit_probe"] = keras.initializers.Ones  # a name Keras itself does not use
    try:
        assert type(keras.initializers.get("keras_fracinit_probe")) is keras.initializers.Ones
        config = {"class_name": "keras_fracinit_probe", "config": {}}
        assert type(keras.initializers.deserialize(config)) is keras.initializers.Ones
    finally:
        del table["keras_fracinit_probe"]


def test_registered_initializer_names_resolve_on_this_keras():
    from keras_fracinit import initializers

    for name, cls in initializers.ALIASES.items():
        assert type(keras.initializers.get(name)) is cls, name


def test_a_keras_that_resolves_no_string_names_warns(monkeypatch):
    monkeypatch.setattr(keras_private, "_initializer_table", lambda: None)
    monkeypatch.setattr(keras.saving, "get_custom_objects", lambda: {})

    class Unknown(keras.initializers.Zeros):
        pass

    with pytest.warns(UserWarning, match=r"does not resolve the initializer names \['no_such_name'\]"):
        keras_private.register_initializer_names({"no_such_name": Unknown})


def test_registering_the_names_leaves_pythons_random_state_as_it_was():
    # Unseeded initializers take their seed from Python's `random` (Keras' rule);
    # the check that each name resolves builds such initializers.
    import random

    from keras_fracinit import initializers

    random.seed(0)
    expected = random.random()
    random.seed(0)
    keras_private.register_initializer_names(initializers.ALIASES)
    assert random.random() == expected


def test_traced_call_reads_a_subclassed_calls_layers_and_ops_as_a_graph_once():
    import model_zoo

    model, _ = model_zoo.hidden_relu()
    traced = keras_private.traced_call(model)
    assert [type(op).__name__ for op in traced.operations] == ["Dense", "Relu", "Dense"]
    assert keras_private.traced_call(model) is traced  # cached: no new nodes on the layers
    keys = keras_private.function_node_keys(traced)
    assert len(keys) == 3 and keras_private.layer_calls(model.first, keys)

    class Branching(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            if float(keras.ops.convert_to_numpy(keras.ops.sum(x))) > 0:
                return self.dense(x)
            return x

    branching = Branching()
    branching(np.ones((1, 3), "float32"))
    assert keras_private.traced_call(branching) is None
    counting, _ = model_zoo.counting()
    assert keras_private.traced_call(counting) is not None
    assert int(keras.ops.convert_to_numpy(counting.calls)) == 0  # traced in a StatelessScope


def test_kernel_variable_is_the_base_kernel_behind_a_lora_layers_merged_kernel():
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    assert keras_private.kernel_variable(dense) is dense.kernel and not keras_private.lora_enabled(dense)
    dense.enable_lora(2)
    assert not isinstance(dense.kernel, keras.Variable)  # Keras merges kernel + A @ B
    assert keras_private.kernel_variable(dense) is dense._kernel and keras_private.lora_enabled(dense)
