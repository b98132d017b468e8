"""A kernel's route: what its output reaches, read along every path of a model's graph.

A kernel's gain is exact when every path from its layer's output reaches
the same activation of the paper's class through steps whose effect on the
law is known (`look_through.LOOK_THROUGH`), or reaches a linear map (another
kernel) or the model's output with no nonlinearity (linear). Every consumer
is followed, into and out of nested models. A path that meets anything else
(an unknown layer or op, an activation outside the class, a max pooling
before a linear map), or paths that disagree, make the kernel outside the
class: `Route.exact` is False and `Route.reason` says why. There is no default.
"""

import dataclasses
from typing import Any

from keras_fracinit._backend import keras_private
from keras_fracinit._graph import fans
from keras_fracinit._graph import look_through
from keras_fracinit._graph import model_layers

_MODEL_OUTPUT = "model output"


@dataclasses.dataclass(frozen=True)
class Graph:
    """How a model's layers connect: its own graph and those of its nested models.

    Attributes:
        node_keys: The keys of the graphs' nodes (other calls of the same
            layers, such as a monitor's tap model, are not part of them), or
            None where Keras hides them.
        outputs: `{id(tensor): (model, index)}` for the output tensors of the
            model and of every nested graph (or traced) model.
        top: The model itself.
        traced: The keys of the nodes of subclassed models' traced
            `call()`s: read for routes, but not run by the model's graph
            (their layers cannot be tapped).
        traced_models: `id`s of the subclassed models whose call() was traced.
    """

    node_keys: set | None
    outputs: dict
    top: Any
    traced: frozenset = frozenset()
    traced_models: frozenset = frozenset()

    @classmethod
    def of(cls, model):
        models = [model, *model_layers.nested_models(model)]
        outputs, traced, traced_models = {}, set(), set()
        for inner in models:
            if keras_private.is_graph_model(inner):
                function = keras_private.graph_function(inner)
            else:
                function = keras_private.traced_call(inner)
                if function is not None:
                    traced |= keras_private.function_node_keys(function)
                    traced_models.add(id(inner))
            for index, tensor in enumerate(getattr(function, "outputs", None) or []):
                outputs[id(tensor)] = (inner, index)
        keys = keras_private.graph_node_keys(models)
        return cls(keys, outputs, model, frozenset(traced), frozenset(traced_models))

    @property
    def read_keys(self):
        """The node keys routes are read over: the graphs' and the traced calls'."""
        return None if self.node_keys is None else self.node_keys | self.traced

    def exits(self, tensor):
        """Where a tensor goes as an output: the model output, a nested model's outer tensors, or `[]`."""
        found = self.outputs.get(id(tensor))
        if found is None:
            return []
        model, index = found
        if model is self.top:
            return [_MODEL_OUTPUT]
        return [node.outputs[index] for node in keras_private.layer_calls(model, self.read_keys)]

    def consumers(self, tensor):
        return keras_private.tensor_consumers(tensor, self.read_keys)


@dataclasses.dataclass(frozen=True)
class Route:
    """A kernel's route: the activation its output feeds, and where that was read.

    Attributes:
        activation: `relu`, `leaky_relu`, `linear`, another activation's name,
            `mixed` (paths disagree) or `unknown` (a step of unknown law).
        negative_slope: The Leaky ReLU slope, if any.
        dropout: Dropout rate on the activation's output (rates compound).
        found_in: `"layer"` or the layers read (`"bn > add > relu"`).
        end: The layer (or op) whose output is the activation's output, the
            kernel's own layer for a linear path, None when unknown.
        normalized: Whether a normalization lies on the path: in training
            it, not the kernel's scale, sets the scale the activation sees.
        head: Whether the kernel makes a softmax or sigmoid head's logits.
        reason: Why the kernel is outside the class (empty when exact).
    """

    activation: str
    negative_slope: float | None
    dropout: float
    found_in: str
    end: Any
    normalized: bool = False
    head: bool = False
    reason: str = ""

    @property
    def exact(self):
        """Whether the exact gain holds: a known law and an activation of the class."""
        return not self.reason and look_through.in_class(self.activation, self.negative_slope)


@dataclasses.dataclass(frozen=True)
class _Step:
    """One path's end."""

    activation: str
    negative_slope: float | None
    keep: float
    names: tuple
    end: Any
    normalized: bool = False
    problem: str = ""
    head: bool = False


@dataclasses.dataclass(frozen=True)
class _State:
    names: tuple = ()
    keep: float = 1.0
    normalized: bool = False
    saw_max: bool = False


def read(layer, graph):
    """The `Route` of `layer`'s kernel in `graph` (`Graph.of(model)`)."""
    activation, slope = look_through.own_activation(layer)
    calls = [] if graph.node_keys is None else keras_private.layer_calls(layer, graph.read_keys)
    outputs = [tensor for node in calls for tensor in node.outputs]
    if not outputs:
        # Inside a subclassed model or a composite layer: the layer's own
        # activation is seen, what its caller does with the output is not.
        hidden = (
            ""
            if activation != "linear"
            else "what a subclassed model's call() applies after it cannot be seen"
        )
        return Route(activation, slope, 0.0, "layer", layer, reason=hidden)
    if activation != "linear":
        if activation in look_through.HEAD_ACTIVATIONS and _only_outputs(outputs, graph):
            return Route("linear", None, 0.0, f"layer ({activation} head: logits)", layer, head=True)
        return _with_dropout_after(Route(activation, slope, 0.0, "layer", layer), outputs, graph)
    steps, seen = [], set()
    for tensor in outputs:
        _walk(tensor, _State(), layer, graph, steps, seen)
    return _combine(layer, steps)


def _only_outputs(tensors, graph):
    return all(graph.exits(t) == [_MODEL_OUTPUT] and not graph.consumers(t) for t in tensors)


def _walk(tensor, state, producer, graph, steps, seen):
    key = (id(tensor), state.keep, state.normalized, state.saw_max)
    if key in seen:
        return
    seen.add(key)
    for outer in graph.exits(tensor):
        if outer is _MODEL_OUTPUT:
            steps.append(_linear_step(state, _MODEL_OUTPUT, producer))
        else:
            _walk(outer, state, producer, graph, steps, seen)
    for node in graph.consumers(tensor):
        operation = node.operation
        names = (*state.names, operation.name)
        if keras_private.is_graph_model(operation):
            # into a nested model: its input in the same position
            index = next(i for i, t in enumerate(node.input_tensors) if t is tensor)
            inner = keras_private.graph_function(operation).inputs[index]
            _walk(inner, dataclasses.replace(state, names=names), producer, graph, steps, seen)
            continue
        entry = look_through.entry_for(operation)
        if entry is not None and entry.category == look_through.MERGE and len(node.input_tensors) < 2:
            steps.append(_problem(state, names, f"'{operation.name}' with a constant (a shift)"))
            continue
        if entry is not None:
            if entry.category == look_through.AVERAGE_POOLING and (
                state.saw_max or not fans.is_per_location(producer)
            ):
                steps.append(_problem(state, names, f"'{operation.name}' averages over locations here"))
                continue
            keep = (
                state.keep * (1 - float(operation.rate))
                if entry.category == look_through.DROPOUT
                else state.keep
            )
            moved = _State(
                names,
                keep,
                state.normalized or entry.category == look_through.NORMALIZATION,
                state.saw_max or entry.category == look_through.MAX_POOLING,
            )
            for output in node.outputs:
                _walk(output, moved, producer, graph, steps, seen)
            continue
        found = look_through.activation_layer(operation)
        if found is not None:
            steps.append(_activation_step(found, operation, node, names, state, producer, graph))
        elif fans.is_kernel_layer(operation):
            steps.append(_linear_step(state, f"{operation.name} (linear map)", producer))
        else:
            steps.append(
                _problem(state, names, f"{type(operation).__name__} '{operation.name}' (law not known)")
            )


def _linear_step(state, where, producer, head=False):
    if state.saw_max:
        return _problem(state, (*state.names, where), "a max pooling before a linear map")
    return _Step("linear", None, state.keep, (*state.names, where), producer, state.normalized, head=head)


def _problem(state, names, why):
    return _Step("unknown", None, state.keep, names, None, state.normalized, problem=why)


def _activation_step(found, operation, node, names, state, producer, graph):
    activation, slope = found
    if activation in look_through.HEAD_ACTIVATIONS and _only_outputs(node.outputs, graph):
        # a softmax or sigmoid output: the kernel makes its logits
        return _linear_step(state, f"{names[-1]} ({activation} head: logits)", producer, head=True)
    if state.saw_max and activation not in look_through.MONOTONE:
        return _problem(state, names, f"a max pooling before '{activation}', which is not monotone")
    after = _dropout_after(node.outputs, graph)
    if len(after) > 1:
        return _problem(state, names, f"dropout after '{operation.name}' on some paths only")
    keep = state.keep * (after.pop() if after else 1.0)
    return _Step(activation, slope, keep, names, operation, state.normalized)


def _dropout_after(tensors, graph, keep=1.0):
    """The set of keep probabilities of the dropout on an activation's output, path by path."""
    keeps = set()
    for tensor in tensors:
        if graph.exits(tensor):
            keeps.add(keep)
        for node in graph.consumers(tensor):
            entry = look_through.entry_for(node.operation)
            if entry is not None and entry.category == look_through.DROPOUT:
                keeps |= _dropout_after(node.outputs, graph, keep * (1 - float(node.operation.rate)))
            elif entry is not None and entry.category == look_through.REARRANGE:
                keeps |= _dropout_after(node.outputs, graph, keep)
            else:
                keeps.add(keep)
    return keeps


def _with_dropout_after(route, outputs, graph):
    after = _dropout_after(outputs, graph)
    if len(after) > 1:
        return dataclasses.replace(route, reason="dropout on the activation's output on some paths only")
    return dataclasses.replace(route, dropout=1 - after.pop() if after else 0.0)


def _combine(layer, steps):
    if not steps:
        return Route("linear", None, 0.0, "layer", layer, reason="no consumer in the model's graph")
    first = steps[0]
    more = f" (+{len(steps) - 1} more paths)" if len(steps) > 1 else ""
    problems = [step for step in steps if step.problem]
    if problems:
        bad = problems[0]
        return Route(
            "unknown",
            None,
            0.0,
            " > ".join(bad.names),
            None,
            bad.normalized,
            reason=f"the path {' > '.join(bad.names)} meets {bad.problem}",
        )
    kinds = {}
    for step in steps:
        kinds.setdefault((step.activation, step.negative_slope, step.keep), step)
    found_in = " > ".join(first.names) + more
    normalized = any(step.normalized for step in steps)
    if len(kinds) > 1:
        described = "; ".join(
            f"{_describe(activation, slope, keep)} via {' > '.join(step.names)}"
            for (activation, slope, keep), step in kinds.items()
        )
        return Route(
            "mixed", None, 0.0, found_in, None, normalized, reason=f"its paths disagree: {described}"
        )
    return Route(
        first.activation,
        first.negative_slope,
        1 - first.keep if first.keep < 1 else 0.0,
        found_in,
        first.end,
        normalized,
        head=any(step.head for step in steps),
    )


def _describe(activation, slope, keep):
    text = activation + (f"({slope:g})" if slope is not None else "")
    return text + (f"+dropout({1 - keep:g})" if keep < 1 else "")
