"""Every private Keras API the package relies on, in one guarded place.

Keras 3 has no public way to re-run a functional graph with a custom call
per layer, to find the layers that consume a layer's output, to reach the
data and the other callbacks of a running `fit`, to sync the JAX trainer's
weights in the middle of an epoch, or (from Keras 3.16 on) to make a
package's string names resolve in `keras.initializers.get`. Each accessor below uses Keras'
internals for one of these. Where an internal is missing (after a Keras
upgrade), the accessor warns once, says what degrades, and falls back
safely; nothing fails silently. `tests/test_backend_keras_private.py` pins each one
against the installed Keras, so an upgrade that moves them fails a named
test rather than a user.
"""

import contextlib
import inspect
import random
import warnings
import weakref

import keras

from keras_fracinit import _checks

try:  # the class of functional models, which Keras does not export
    from keras.src.models.functional import Functional
except ImportError:  # pragma: no cover - depends on the Keras version
    Functional = None

_warned: set[str] = set()
# {model: (its build shapes, its traced keras.Function or None)}: traced once
_traces: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(f"keras_fracinit: {message}", stacklevel=3)


def register_initializer_names(names):
    """Makes each of `names` (`{string: initializer class}`) resolve in `keras.initializers.get`.

    Keras up to 3.15 looks a string up among the registered custom objects
    (`keras.saving.get_custom_objects()`); from 3.16 on, only in its own
    table of initializers, `keras.src.initializers.ALL_OBJECTS_DICT`, which
    `keras.initializers.deserialize` also reads. Both get the names. Where
    neither makes a name resolve, warns once that string names do not work
    on this Keras and objects must be passed instead.
    """
    keras.saving.get_custom_objects().update(names)
    table = _initializer_table()
    if table is not None:
        table.update(names)
    unresolved = [name for name in names if not _resolves(name, names[name])]
    if unresolved:
        _warn_once(
            "initializer_names",
            f"this Keras does not resolve the initializer names {unresolved}: pass "
            "initializer objects (keras_fracinit.FractionalMomentNormal(...)) instead of strings.",
        )


def _initializer_table():
    """Keras' own name -> initializer table, or None where this Keras has none."""
    try:
        from keras.src import initializers as keras_initializers
    except ImportError:  # pragma: no cover - depends on the Keras version
        return None
    table = getattr(keras_initializers, "ALL_OBJECTS_DICT", None)
    return table if isinstance(table, dict) else None


def _resolves(name, cls):
    # `get` builds an unseeded initializer, which draws its seed from Python's
    # `random` (Keras' rule): checking the name must not move that generator,
    # or importing the package would change the seeds of later unseeded draws.
    state = random.getstate()
    try:
        return isinstance(keras.initializers.get(name), cls)
    except (ValueError, TypeError):
        return False
    finally:
        random.setstate(state)


def is_graph_model(model):
    """Whether `model` is a Sequential or functional model (one with a graph)."""
    return isinstance(model, keras.Sequential) or (Functional is not None and isinstance(model, Functional))


def graph_runner_available():
    """Whether Keras' graph runner (`Functional._run_through_graph`) exists; warns if not."""
    if Functional is not None and hasattr(Functional, "_run_through_graph"):
        return True
    _warn_once(
        "graph_runner",
        "this Keras has no `Functional._run_through_graph`, so layer signals "
        "cannot be tapped: FractionalMomentMonitor logs kernel statistics only.",
    )
    return False


def run_through_graph(model, inputs, call_fn):
    """Runs a functional model's graph on `inputs`, calling `call_fn(layer, *args, **kwargs)`.

    The entry point `keras.models.clone_model` uses.
    """
    return model._run_through_graph(inputs, operation_fn=lambda operation: operation, call_fn=call_fn)


def graph_node_keys(models):
    """Keys of every node of the graphs of `models` (graph models; others are passed over).

    Calling a model's layers again on new inputs (as the monitor's and the
    calibration's tap models do) adds nodes to those layers; only the keys
    returned here belong to the models themselves. None where Keras hides
    them.
    """
    keys = set()
    for model in models:
        if not is_graph_model(model):
            continue
        found = getattr(graph_function(model), "_nodes", None)
        if found is None:
            return None
        keys.update(found)
    return keys


def traced_call(model):
    """The graph of a subclassed model's `call()`, traced on symbolic inputs, or None.

    Calling `model.call` (not `model`) on `KerasTensor`s makes each layer
    and `keras.ops` call inside it a node, as in a functional model, so
    what `call()` applies after a layer (a `keras.ops.relu`) can be read.
    The inputs' shapes come from the model's build (`_build_shapes_dict`),
    float32; a call() that cannot run symbolically (Python control flow on
    values, integer inputs) gives None. Variables it would update are left
    as they are (a `StatelessScope`). Traced once per model and shapes.
    """
    shapes = getattr(model, "_build_shapes_dict", None)
    if not isinstance(shapes, dict) or len(shapes) != 1:
        return None
    (shape,) = shapes.values()
    cached = _traces.get(model)
    if cached is not None and cached[0] == repr(shape):
        return cached[1]
    traced = None
    try:
        inputs = keras.tree.map_shape_structure(
            lambda dims: keras.KerasTensor((None, *tuple(dims)[1:]), dtype="float32"), shape
        )
        kwargs = {"training": False} if _checks.accepts_keyword(model.call, "training") else {}
        with keras.StatelessScope():
            outputs = model.call(inputs, **kwargs)
        traced = keras.Function(inputs, outputs)
    except Exception:  # a call() that only runs on values: its graph stays hidden
        traced = None
    _traces[model] = (repr(shape), traced)
    return traced


def function_node_keys(function):
    """The keys of the nodes of a `keras.Function` (as `graph_node_keys` gives a model's)."""
    return set(getattr(function, "_nodes", None) or ())


def graph_function(model):
    """The functional graph of a graph model: itself, or a Sequential model's inner one (or None)."""
    return getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model


def layer_calls(layer, node_keys):
    """The nodes (calls) of `layer` that belong to the graphs of `node_keys`."""
    return [node for node in getattr(layer, "_inbound_nodes", []) if _node_key(node) in node_keys]


def tensor_consumers(tensor, node_keys):
    """The nodes of the graphs of `node_keys` that take the symbolic `tensor` as an input."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return []
    nodes = getattr(history.operation, "_outbound_nodes", [])
    # a node that reads two calls of one layer is listed once per call
    unique = list({id(node): node for node in nodes}.values())
    return [
        node
        for node in unique
        if _node_key(node) in node_keys and any(t is tensor for t in node.input_tensors)
    ]


def call_node_on(node, tensor, value):
    """Calls a node's operation again with `value` for its input `tensor`, other arguments kept."""
    args, kwargs = node.arguments.fill_in({id(tensor): value})
    return node.operation(*args, **kwargs)


def sublayers(layer):
    """The layers `layer` holds directly (its attributes), which its `call()` may run."""
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is None:
        _warn_once(
            "flatten_layers",
            "this Keras has no `Layer._flatten_layers`: the kernels inside composite layers "
            "cannot be found and are reported as skipped.",
        )
        return []
    return list(flatten(include_self=False, recursive=False))


def kernel_variable(layer):
    """The variable behind `layer.kernel`: its base kernel when LoRA is enabled.

    After `layer.enable_lora(rank)`, Keras' `Dense`, `EinsumDense` and
    convolutions return the merged tensor `kernel + A @ B` from `.kernel`,
    not a variable; the variable stays in the private `_kernel`.
    """
    value = layer.kernel
    if isinstance(value, keras.Variable):
        return value
    base = getattr(layer, "_kernel", None)
    if isinstance(base, keras.Variable):
        return base
    raise TypeError(
        f"keras_fracinit: {type(layer).__name__} {layer.name!r}.kernel is not a variable and "
        "this Keras keeps none in `_kernel`; its kernel cannot be drawn."
    )


def lora_enabled(layer):
    """Whether `layer.enable_lora(...)` was called (its base kernel is then frozen by Keras)."""
    return bool(getattr(layer, "lora_enabled", False))


def _node_key(node):
    """Keras' key for a node: its operation's id and its index among that operation's calls."""
    operation = node.operation
    return f"{id(operation)}_ib-{operation._inbound_nodes.index(node)}"


def consumers(layer, node_keys=None):
    """The distinct layers that consume `layer`'s output, or None if Keras hides them.

    With `node_keys` (from `graph_node_keys`), only the calls that belong
    to those graphs count.
    """
    nodes = getattr(layer, "_outbound_nodes", None)
    if nodes is None:
        _warn_once(
            "outbound_nodes",
            "this Keras does not expose which layers consume a layer's output "
            "(`_outbound_nodes`): initialize() reads each activation from the "
            "layer itself and cannot see a following activation or dropout layer.",
        )
        return None
    if node_keys is not None:
        nodes = [node for node in nodes if _node_key(node) in node_keys]
    return list({id(node.operation): node.operation for node in nodes}.values())


def ops_call(operation):
    """`(name, attributes)` of a `keras.ops` call in a functional graph, or None for a layer.

    A `keras.ops` function applied to symbolic tensors (`keras.ops.relu(x)`,
    `x + y`) adds a node whose operation is not a layer but an instance of a
    Keras-internal `Operation` subclass named after the function (`Relu`,
    `LeakyRelu`, `Add`); the class name in snake case is the function's
    name. `attributes` holds the call's `negative_slope`, if any.
    """
    if isinstance(operation, keras.layers.Layer) or not isinstance(operation, keras.Operation):
        return None
    class_name = type(operation).__name__
    name = "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(class_name))
    attributes = {}
    if hasattr(operation, "negative_slope"):
        attributes["negative_slope"] = float(operation.negative_slope)
    return name, attributes


def sync_jax_state(model):
    """Writes the JAX trainer's current weights back into the model's variables."""
    if keras.backend.backend() != "jax":
        return
    sync = getattr(model, "jax_state_sync", None)
    if sync is None:
        _warn_once(
            "jax_state_sync",
            "this Keras' JAX trainer has no `jax_state_sync`: measurements "
            "between epochs may see the weights of the epoch's start.",
        )
        return
    sync()


def keras_fit_locals(model):
    """The local variables of the Keras `fit` that is training `model`, or None.

    Every backend's `fit` holds the training data in a local `epoch_iterator`
    and the callbacks in a local `callbacks` (the `CallbackList`). A user's
    `fit` override calling Keras' has neither, so the walk looks further out.
    """
    frame = inspect.currentframe()
    try:
        while frame is not None:
            if (
                frame.f_code.co_name == "fit"
                and frame.f_locals.get("self") is model
                and "epoch_iterator" in frame.f_locals
            ):
                return dict(frame.f_locals)
            frame = frame.f_back
    finally:
        del frame
    return None


def running_fit(model):
    """Whether a `fit` of `model` is on the call stack (False in a custom
    training loop that drives a `CallbackList` itself)."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
                return True
            frame = frame.f_back
    finally:
        del frame
    return False


def training_data_source(fit_locals):
    """What `fit` reads its batches from, readable afresh without disturbing it, or None.

    A `PyDataset` (indexed, so no workers start) or a fresh numpy iterator
    from the epoch iterator's data adapter.
    """
    adapter = getattr((fit_locals or {}).get("epoch_iterator"), "data_adapter", None)
    if adapter is None:
        return None
    py_dataset = getattr(adapter, "py_dataset", None)
    return py_dataset if py_dataset is not None else adapter.get_numpy_iterator()


def progress_logger(fit_locals):
    """The `ProgbarLogger` of the running `fit`: None at verbose=0."""
    callbacks = getattr((fit_locals or {}).get("callbacks"), "callbacks", [])
    return next((c for c in callbacks if isinstance(c, keras.callbacks.ProgbarLogger)), None)


@contextlib.contextmanager
def replaced_calls(layers, wrap):
    """Runs each layer's `call` through `wrap(layer, original_call)` while active.

    Keras' `Layer.__call__` dispatches to `self.call`, so an instance
    attribute shadows the class method for the duration; it is removed
    afterwards.
    """
    layers = list({id(layer): layer for layer in layers}.values())
    for layer in layers:
        object.__setattr__(layer, "call", wrap(layer, layer.call))
    try:
        yield
    finally:
        for layer in layers:
            object.__delattr__(layer, "call")


@contextlib.contextmanager
def recording_calls(layers):
    """Records the first input and output of each layer's `call` while active.

    Yields `{id(layer): (first positional input, output)}`, filled as the
    layers run (eagerly).
    """
    records = {}

    def recorder(layer, original):
        def recorded(*args, **kwargs):
            outputs = original(*args, **kwargs)
            if id(layer) not in records:
                records[id(layer)] = (args[0] if args else next(iter(kwargs.values())), outputs)
            return outputs

        return recorded

    with replaced_calls(layers, recorder):
        yield records
    missing = [layer.name for layer in layers if id(layer) not in records]
    if missing:
        raise RuntimeError(
            f"keras_fracinit: layers {missing} were not called while the model ran on the "
            "calibration batch (is Layer.__call__ still dispatching to `call`?)"
        )
