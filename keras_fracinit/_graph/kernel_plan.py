"""One plan per kernel of a model: where it is, how its fans count, what its output reaches.

`initialize` draws and calibrates from these plans and the monitor measures
them, so both name, find and read every kernel the same way.
"""

import dataclasses
from typing import Any

from keras_fracinit._backend import keras_private
from keras_fracinit._backend import taps
from keras_fracinit._graph import fans
from keras_fracinit._graph import model_layers
from keras_fracinit._graph import routes

FROZEN_REASON = "frozen (trainable=False); pass include_frozen=True to re-draw it"


@dataclasses.dataclass(frozen=True)
class KernelPlan:
    """What is known about one kernel before anything is drawn.

    Attributes:
        name: The kernel's path in the model (`block/conv`, `mha/query`,
            `transformer_layer_0/self_attention/query`).
        layer: The graph layer that holds it (a composite layer for the
            kernels of its sublayers).
        start: The layer whose call applies the kernel; its input starts
            the kernel's route.
        kernel: Its `fans.Kernel` (None for a kernel not drawn).
        route: Its `routes.Route` (None for a kernel not drawn).
        visible: Whether `start` is a node of the model's graph (False
            inside subclassed models and composite layers).
        skip: Why the kernel is left as it is (recurrent, frozen), or empty.
        variable: The kernel variable.
        uses: The paths of its other uses, when the variable is shared or
            tied (this plan is its first use).
    """

    name: str
    layer: Any
    start: Any
    kernel: Any
    route: Any
    visible: bool
    skip: str = ""
    variable: Any = None
    uses: tuple[str, ...] = ()

    @property
    def end(self):
        """The layer (or op) whose output ends the kernel's route: the route's end, or `start`'s output."""
        if (
            self.visible
            and self.route is not None
            and self.route.end is not None
            and self.start is self.layer
        ):
            return self.route.end
        return self.start

    @property
    def end_seen(self):
        """Whether a ratio measured over `span` reaches the end of the kernel's path.

        False for a kernel outside the class inside a call() that is not a
        graph, whose own layer applies no activation: what follows it there
        (the SiLU of a gated MLP in a composite layer, an op a subclassed
        model's call() applies that could not be traced) is not tapped, so
        its output is measured before it.
        """
        if self.visible or self.route is None or self.route.exact:
            return True
        if self.kernel is not None and self.kernel.feeds_linear:
            return True
        return fans.is_kernel_layer(self.start) and self.route.activation not in ("linear", "unknown")

    @property
    def span(self):
        """The `taps.Span` the kernel's s-moment ratio is measured over."""
        return taps.Span(self.start, self.end, self.visible)


def _name(prefix, kernel_name):
    return prefix if kernel_name == "kernel" else f"{prefix}/{kernel_name}"


def plan_model(model, include_frozen=False, graph=None):
    """`KernelPlan`s for every kernel of `model`, in model order, one per variable.

    `graph` is `routes.Graph.of(model)`, built here when not given.
    """
    graph = routes.Graph.of(model) if graph is None else graph
    plans = []
    for name, layer in model_layers.named_layers(model):
        if not fans.kernel_weights(layer):
            continue
        kernels, reason = fans.layer_kernels(layer)
        visible = _seen(layer, graph)
        if reason:
            # a recurrent layer of the graph: its input and output can be tapped
            plans += _skipped(name, layer, layer, reason, visible)
            continue
        route = routes.read(layer, graph)
        for kernel in kernels:
            start = kernel.applied_by or layer
            kernel_route = _linear_map(kernel) if kernel.feeds_linear else route
            plans.append(
                KernelPlan(
                    _name(name, kernel.name),
                    layer,
                    start,
                    kernel,
                    kernel_route,
                    # attention's projections: re-applied to the layer's inputs in a tap
                    visible and (start is layer or fans.is_attention(layer)),
                    variable=kernel.variable,
                )
            )
        if not kernels:
            plans += _composite_plans(name, layer, route if visible else None, graph)
    plans = _merge_shared(plans)
    if not include_frozen:
        plans = [
            dataclasses.replace(plan, skip=FROZEN_REASON) if not plan.skip and _frozen(plan) else plan
            for plan in plans
        ]
    return plans


def _frozen(plan):
    """Frozen by the user: a LoRA base kernel, frozen by `enable_lora`, is not."""
    if plan.variable.trainable:
        return False
    return not (keras_private.lora_enabled(plan.start) and plan.start.trainable)


def _composite_plans(name, layer, graph_route, graph):
    """The plans of the kernels inside a layer of unknown type (`graph_route`: its route, if in a graph)."""
    plans = []
    for sub_name, sublayer, sub_kernels, sub_reason in fans.composite_kernels(layer, name):
        if sub_reason:
            plans += _skipped(sub_name, layer, sublayer, sub_reason)
            continue
        own = sublayer is layer and graph_route is not None
        # The layer's own weights, in a graph: what follows the layer is read
        # there, so a calibration measures through it; how the call uses them is not.
        sub_route = _own_use(layer, graph_route) if own else _hidden(sublayer, layer, graph)
        for kernel in sub_kernels:
            plans.append(
                KernelPlan(
                    _name(sub_name, kernel.name),
                    layer,
                    kernel.applied_by or sublayer,
                    kernel,
                    _linear_map(kernel) if kernel.feeds_linear else sub_route,
                    own,
                    variable=kernel.variable,
                )
            )
    return plans


def _merge_shared(plans):
    """One plan per variable: a shared or tied kernel keeps its first use and lists the others.

    Uses that want different gains (a ReLU and a linear one) put the kernel
    outside the class: no one draw is exact for both.
    """
    first, merged = {}, []
    for plan in plans:
        found = first.get(id(plan.variable))
        if found is None:
            first[id(plan.variable)] = len(merged)
            merged.append(plan)
            continue
        kept = merged[found]
        uses = (*kept.uses, plan.name)
        route = kept.route
        if route is not None and plan.route is not None and _gain_of(route) != _gain_of(plan.route):
            wants = f"'{kept.name}' wants {_gain_text(route)}, '{plan.name}' {_gain_text(plan.route)}"
            route = dataclasses.replace(
                route, reason=f"a shared kernel whose uses want different gains ({wants})"
            )
        merged[found] = dataclasses.replace(kept, uses=uses, route=route)
    return merged


def _gain_of(route):
    return (route.exact, route.activation, route.negative_slope, route.dropout)


def _gain_text(route):
    return route.activation if route.exact else f"an unread use ({route.reason or route.activation})"


def _skipped(prefix, holder, layer, reason, visible=False):
    """Plans for the kernels of `layer` left as they are, with the reason."""
    return [
        KernelPlan(f"{prefix}/{kernel_name}", holder, layer, None, None, visible, reason, variable)
        for kernel_name, variable in fans.named_kernel_weights(layer)
    ]


def _seen(layer, graph):
    return graph.node_keys is not None and bool(keras_private.layer_calls(layer, graph.node_keys))


def _linear_map(kernel):
    return routes.Route("linear", None, 0.0, f"{kernel.name} (linear map)", kernel.applied_by)


def _own_use(layer, route):
    """The route of a weight a graph layer of unknown type holds itself: read, but not its use."""
    reason = f"how {type(layer).__name__} '{layer.name}' uses this weight is not known"
    return dataclasses.replace(route, reason=reason)


def _hidden(sublayer, composite, graph):
    """The route of a sublayer run by a composite layer's call(), which no graph shows."""
    route = routes.read(sublayer, routes.Graph(None, {}, None))
    reason = (
        route.reason and f"inside {type(composite).__name__} '{composite.name}', whose call() is not read"
    )
    if not fans.is_kernel_layer(sublayer):
        # a kernel the unknown layer holds itself: its own activation says
        # nothing about how its call() uses the kernel
        reason = f"how {type(sublayer).__name__} '{sublayer.name}' uses its kernel is not known"
        route = dataclasses.replace(route, activation="unknown", negative_slope=None)
    elif _seen(sublayer, graph):
        # a layer of the graph that another layer also holds (a tied decoder):
        # that other layer's use of its kernel is not read
        reason = (
            f"{type(composite).__name__} '{composite.name}' also holds '{sublayer.name}', a layer of the "
            "graph: how its call() uses the kernel is not known"
        )
        route = dataclasses.replace(route, activation="unknown", negative_slope=None)
    return dataclasses.replace(route, found_in=f"layer (inside {composite.name})", reason=reason)


def select(model, items=None):
    """`{name: KernelPlan}` of the kernels `items` name (kernel names, layer paths or layers; None: all)."""
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} is not built, so it has no kernels yet: build it (give it a "
            "`keras.Input`, or call it on a batch) before the monitor measures it."
        )
    available = {plan.name: plan for plan in plan_model(model, include_frozen=True)}
    if not available:
        raise ValueError(f"Model {model.name!r} has no layer with a `kernel` to monitor.")
    if items is None:
        return available
    by_layer: dict = {}
    for plan in available.values():
        by_layer.setdefault(id(plan.layer), []).append(plan)
    paths = {path: id(layer) for path, layer in model_layers.named_layers(model)}
    chosen = {}
    for item in items:
        if isinstance(item, str) and item in available:
            found = [available[item]]
        else:
            found = by_layer.get(paths.get(item) if isinstance(item, str) else id(item))
        if not found:
            raise ValueError(
                "Argument `layers` must name layers with a `kernel` "
                f"in model {model.name!r}. Received: layers={items!r}, "
                f"with {item!r} among them. Available: {sorted(available)}"
            )
        chosen.update((plan.name, plan) for plan in found)
    return chosen
