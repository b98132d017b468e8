"""Layer taps: one compiled forward pass that exposes chosen layers' signals.

Per-layer statistics must not cost one `predict` per layer. `tap_model`
re-runs a model's graph on fresh symbolic inputs, calling the *same* layer
objects (so it always sees the current weights and creates none), and
returns a functional model whose outputs are, for every tapped layer, a
per-sample reduction of that layer's input and output. Nested Sequential and
functional models are walked into, so their inner layers are tapped in the
same pass. Subclassed models have no graph to walk: their inner layers cannot
be tapped, and `tap_model` reports them instead of failing.
"""

import contextlib
import dataclasses
import typing
from typing import Any

import keras
import numpy as np

from keras_fracinit import _checks
from keras_fracinit._backend import keras_private


@dataclasses.dataclass(frozen=True)
class SizeMoment:
    """The s-th moment of a signal's per-unit size, the quantity every measurement compares.

    The size of a sample `y` with `n` entries is `||y||_p / n^(1/p)`: the RMS
    for `p = 2` (Gaussian weights), the l_alpha size for `p = alpha`
    (alpha-stable weights, whose natural size it is).

    Attributes:
        s: The moment order.
        order: The norm `p`.
    """

    s: float
    order: float = 2.0

    def symbolic(self, tensor):
        """`size_i^s` per sample `i` of a symbolic `(batch, ...)` tensor, in float32."""
        # float32 whatever the layer's compute dtype: float16 squares overflow.
        tensor = keras.ops.cast(tensor, "float32")
        axes = tuple(range(1, len(tensor.shape)))
        if self.order == 2.0:
            return keras.ops.power(keras.ops.mean(keras.ops.square(tensor), axis=axes), self.s / 2)
        mean_power = keras.ops.mean(keras.ops.power(keras.ops.abs(tensor), self.order), axis=axes)
        return keras.ops.power(mean_power, self.s / self.order)

    def concrete(self, tensor):
        """`size_i^s` per sample of a concrete `(batch, ...)` tensor, as float64 (numpy)."""
        values = np.asarray(keras.ops.convert_to_numpy(tensor), dtype=np.float64)
        values = values.reshape(len(values), -1)
        if self.order == 2.0:
            sizes = np.linalg.norm(values, axis=1) / np.sqrt(values.shape[1])
        else:
            sizes = np.mean(np.abs(values) ** self.order, axis=1) ** (1.0 / self.order)
        return sizes**self.s


def is_tappable(model):
    """Whether `model` has a graph that `tap_model` can walk (not subclassed)."""
    has_graph = keras_private.is_graph_model(model) and bool(getattr(model, "inputs", None))
    # A Keras without its graph runner leaves models untapped (with a warning), not broken.
    return has_graph and keras_private.graph_runner_available()


class TapResult:
    """What `tap_model` built.

    Attributes:
        model: Functional model over fresh inputs like the original's; its
            outputs are a dict `{"<key>/input": ..., "<key>/output": ...}`
            of per-sample reductions (shape `(batch,)`) for each tapped layer.
        tapped: Keys of the layers that were tapped, in call order.
        untapped: Keys of requested layers that no walkable graph reaches
            (layers of subclassed models, or never called).
    """

    def __init__(self, model, tapped, untapped):
        self.model = model
        self.tapped = tapped
        self.untapped = untapped


class PreActivation(keras.layers.Layer):
    """The output of `layer` without its own activation (a head's logits).

    Calls the layer with `activation` set to linear for the duration of the
    call, at every run, so the layer's weights are shared and current.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, inputs):
        activation = self.layer.activation
        self.layer.activation = keras.activations.linear
        try:
            return self.layer.call(inputs)
        finally:
            self.layer.activation = activation


def tap_model(model, layers, reduction, logits=()):
    """Builds one functional model that reduces the inputs and outputs of `layers`.

    Args:
        model: A built Sequential or functional model (nested models allowed).
        layers: Dict `{path: layer}` of the layers to tap.
        reduction: Callable mapping a symbolic tensor of shape `(batch, ...)`
            to a symbolic per-sample tensor of shape `(batch,)`, built from
            `keras.ops`.
        logits: Paths whose output is tapped before the layer's own
            activation (softmax and sigmoid heads: their logits).

    Returns:
        A `TapResult`.

    Raises:
        ValueError: If `model` is subclassed (check `is_tappable` first).
    """
    if not is_tappable(model):
        raise ValueError(
            "Argument `model` must be a Sequential or functional model with known "
            f"inputs. Received: model={model.name!r} of type {type(model).__name__}"
        )
    wanted = {id(layer): path for path, layer in layers.items()}
    taps = {}

    def call(layer, *args, **kwargs):
        if keras_private.is_graph_model(layer):
            return _run(layer, args, kwargs)
        outputs = layer(*args, **kwargs)
        if isinstance(layer, keras.layers.MultiHeadAttention):
            _tap_projections(layer, args, kwargs, wanted, taps, reduction)
        path = wanted.get(id(layer))
        # A shared layer is tapped at its first call only.
        if path is not None and path + "/output" not in taps:
            if args and _is_symbolic(args[0]):
                taps[path + "/input"] = reduction(args[0])
            if path in logits and args and _is_symbolic(args[0]):
                taps[path + "/output"] = reduction(PreActivation(layer)(args[0]))
            elif _is_symbolic(outputs):
                taps[path + "/output"] = reduction(outputs)
        return outputs

    def _run(graph_model, args, kwargs):
        if isinstance(graph_model, keras.Sequential):
            x = args[0] if args else kwargs.pop("inputs")
            for layer in graph_model.layers:
                x = call(layer, x)
            return x
        inputs = args[0] if args else kwargs.pop("inputs")
        return keras_private.run_through_graph(graph_model, inputs, call)

    # Built where the model lives (a tf.distribute strategy, if any).
    strategy = getattr(model, "distribute_strategy", None)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        # A Sequential model has one input; a functional one keeps its structure.
        structure = model.inputs[0] if isinstance(model, keras.Sequential) else model.input
        fresh_inputs = keras.tree.map_structure(
            lambda x: keras.Input(batch_shape=x.shape, dtype=x.dtype, name=x.name),
            structure,
        )
        _run(model, (fresh_inputs,), {})
        tap = keras.Model(fresh_inputs, {key: taps[key] for key in sorted(taps)})
    tapped = [path for path in layers if path + "/output" in taps]
    untapped = [path for path in layers if path + "/output" not in taps]
    return TapResult(tap, tapped, untapped)


def stateless_function(model, around=None):
    """`f(data) -> outputs` running `model` in inference mode without changing any variable.

    A layer whose `call()` updates a variable (a counter, a running
    statistic) would otherwise be moved by every measurement. The updates
    go to a `keras.StatelessScope` (or, on JAX, `model.stateless_call`'s
    returned state) and are dropped; the weights are read at each call.
    Compiled once: `tf.function` or `jax.jit`; eager on PyTorch.

    Args:
        model: A built model.
        around: Optional `around(run) -> outputs`: calls `run()` (which runs
            the model) and returns what `f` returns (default: the model's
            outputs), e.g. values recorded from inner layers while it runs.
    """
    around = around or (lambda run: run())
    backend = keras.backend.backend()
    if backend == "jax":
        # stateless_call passes its keywords to call() itself, unlike Layer.__call__
        inference = {"training": False} if _checks.accepts_keyword(model.call, "training") else {}

        def pure(trainable, other, x):
            return around(lambda: model.stateless_call(trainable, other, x, **inference)[0])

        compiled = _jit_for_measuring(pure)

        def run_jax(data):
            trainable = [v.value for v in model.trainable_variables]
            return compiled(trainable, [v.value for v in model.non_trainable_variables], data)

        return run_jax

    def run(data):
        with keras.StatelessScope():
            return around(lambda: model(data, training=False))

    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(run, reduce_retracing=True)
    return run


# XLA's CPU code generation without LLVM's optimization passes: a measuring pass
# runs a few times per fit, so its compile is most of its cost on a small model
# (measured 0.27 s -> 0.2 s for an LSTM + attention model, its run 1.1x to 1.4x
# longer; benchmarks/bench_monitor_recurrent.py), and its values agree with the
# default compile to float32 rounding.
_FAST_CPU_COMPILE = {"xla_backend_optimization_level": 0}


def _jit_for_measuring(function):
    """`jax.jit(function)` asking XLA for its fast compile on CPU; the default compile where refused.

    `jax.jit` keeps one compile per input shape, as for any jitted function.
    """
    import jax

    plain = jax.jit(function)
    if jax.default_backend() != "cpu":
        return plain
    try:
        fast = jax.jit(function, compiler_options=_FAST_CPU_COMPILE)
    except TypeError:  # a JAX whose jit takes no compiler options
        return plain
    chosen = [fast]

    def run(*arguments):
        try:
            return chosen[0](*arguments)
        except Exception:
            if chosen[0] is plain:
                raise
            chosen[0] = plain  # an XLA that does not know the option: its default compile
            return plain(*arguments)

    return run


def _tap_projections(layer, args, kwargs, wanted, taps, reduction):
    """Taps the query, key and value kernels of a `MultiHeadAttention` called on `args`.

    They run inside the layer's call(), where no graph shows them; their
    spans are the same projections applied again, in the tap model, to the
    layer's own inputs (the same sublayers, so the same weights).
    """
    query = args[0] if args else kwargs.get("query")
    value = args[1] if len(args) > 1 else kwargs.get("value")
    key = args[2] if len(args) > 2 else kwargs.get("key")
    inputs = {"query": query, "value": value, "key": value if key is None else key}
    for name, dense in (("query", layer.query_dense), ("key", layer.key_dense), ("value", layer.value_dense)):
        path = wanted.get(id(dense))
        if path is not None and path + "/output" not in taps and _is_symbolic(inputs[name]):
            taps[path + "/input"] = reduction(inputs[name])
            taps[path + "/output"] = reduction(dense(inputs[name]))


def _is_symbolic(value):
    return isinstance(value, keras.KerasTensor)


class Span(typing.NamedTuple):
    """Where a kernel's signal is measured: the input of `start` and the output of `end`.

    Attributes:
        start: The layer whose input is measured (the kernel's layer).
        end: The layer (or op) whose output is measured.
        visible: Whether both are nodes of the model's graph (False inside
            subclassed models and composite layers).
    """

    start: Any
    end: Any
    visible: bool


class SpanMoments:
    """Per-sample s-moments at the start and the end of spans, from one pass over a batch.

    `spans` maps a key to a `Span`. Visible spans (in a Sequential or
    functional graph) come from one compiled tap model; the others (inside
    subclassed models and composite layers) from one eager pass that
    records the layers' calls. `logits` are keys whose `start` is a softmax
    or sigmoid head, measured before its activation.
    """

    def __init__(self, model, spans, moment, logits=(), compiled=False):
        self.model, self.spans, self.moment = model, spans, moment
        self._run_recorded = None
        visible = {key: span for key, span in spans.items() if span.visible}
        self.tap, self.recorded = None, [key for key, span in spans.items() if not span.visible]
        if visible and is_tappable(model):
            layers = {str(id(layer)): layer for start, end, _ in visible.values() for layer in (start, end)}
            heads = [str(id(spans[key].start)) for key in logits if key in visible]
            result = tap_model(model, layers, moment.symbolic, logits=heads)
            self.tap = result.model
            self._run_tap = stateless_function(self.tap)
            missing = set(result.untapped)
            self.recorded += [
                key for key, (start, end, _) in visible.items() if {str(id(start)), str(id(end))} & missing
            ]
        else:
            self.recorded += list(visible)
        if compiled and self.recorded:
            # Measured often (a monitor): the recording pass is compiled too.
            self._run_recorded = stateless_function(model, around=self._recording)

    def _recorded_layers(self):
        """The start and end layers of the spans measured by recording a pass of the model."""
        return [layer for key in self.recorded for layer in self.spans[key][:2]]

    def _recording(self, run):
        """Runs the model (`run()`), recording the spans' layers; their per-sample s-moments."""
        with keras_private.recording_calls(self._recorded_layers()) as calls:
            run()
        return {
            key: (
                self.moment.symbolic(calls[id(self.spans[key].start)][0]),
                self.moment.symbolic(calls[id(self.spans[key].end)][1]),
            )
            for key in self.recorded
        }

    def _recorded_moments(self, data):
        if self._run_recorded is not None:
            try:
                found = self._run_recorded(data)
                return {
                    key: tuple(np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64) for v in pair)
                    for key, pair in found.items()
                }
            except Exception:
                # a call() that cannot be traced (Python control flow on values): eager from now on
                self._run_recorded = None
        with keras.StatelessScope(), keras_private.recording_calls(self._recorded_layers()) as calls:
            self.model(data, training=False)
        return {
            key: (
                self.moment.concrete(calls[id(self.spans[key].start)][0]),
                self.moment.concrete(calls[id(self.spans[key].end)][1]),
            )
            for key in self.recorded
        }

    def __call__(self, data):
        """`{key: (input moments, output moments)}`, each a float64 array over the batch."""
        found = {}
        if self.tap is not None:
            reductions = keras.tree.map_structure(keras.ops.convert_to_numpy, self._run_tap(data))
            for key, (start, end, visible) in self.spans.items():
                if visible and key not in self.recorded:
                    found[key] = (
                        np.asarray(reductions[f"{id(start)}/input"], dtype=np.float64),
                        np.asarray(reductions[f"{id(end)}/output"], dtype=np.float64),
                    )
        if self.recorded:
            found.update(self._recorded_moments(data))
        return found
