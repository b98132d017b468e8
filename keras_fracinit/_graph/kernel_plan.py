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
    """

    name: str
    layer: Any
    start: Any
    kernel: Any
    route: Any
    visible: bool
    skip: str = ""
    variable: Any = None

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
    def span(self):
        """The `taps.Span` the kernel's s-moment ratio is measured over."""
        return taps.Span(self.start, self.end, self.visible)


def _name(prefix, kernel_name):
    return prefix if kernel_name == "kernel" else f"{prefix}/{kernel_name}"


def plan_model(model, include_frozen=False):
    """`KernelPlan`s for every kernel of `model`, in model order."""
    graph = routes.Graph.of(model)
    plans = []
    for name, layer in model_layers.named_layers(model):
        if not fans.kernel_weights(layer):
            continue
        kernels, reason = fans.layer_kernels(layer)
        if reason:
            plans += _skipped(name, layer, layer, reason)
            continue
        route = routes.read(layer, graph)
        visible = _seen(layer, graph)
        if kernels:
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
                        visible and start is layer,
                        variable=kernel.variable,
                    )
                )
            continue
        for sub_name, sublayer, sub_kernels, sub_reason in fans.composite_kernels(layer, name):
            if sub_reason:
                plans += _skipped(sub_name, layer, sublayer, sub_reason)
                continue
            sub_route = _hidden(sublayer, layer)
            for kernel in sub_kernels:
                plans.append(
                    KernelPlan(
                        _name(sub_name, kernel.name),
                        layer,
                        kernel.applied_by or sublayer,
                        kernel,
                        _linear_map(kernel) if kernel.feeds_linear else sub_route,
                        False,
                        variable=kernel.variable,
                    )
                )
    if not include_frozen:
        plans = [
            dataclasses.replace(plan, skip=FROZEN_REASON)
            if not plan.skip and not plan.variable.trainable
            else plan
            for plan in plans
        ]
    return plans


def _skipped(prefix, holder, layer, reason):
    """Plans for the kernels of `layer` left as they are, with the reason."""
    return [
        KernelPlan(f"{prefix}/{kernel_name}", holder, layer, None, None, False, reason, variable)
        for kernel_name, variable in fans.named_kernel_weights(layer)
    ]


def _seen(layer, graph):
    return graph.node_keys is not None and bool(keras_private.layer_calls(layer, graph.node_keys))


def _linear_map(kernel):
    return routes.Route("linear", None, 0.0, f"{kernel.name} (linear map)", kernel.applied_by)


def _hidden(sublayer, composite):
    """The route of a sublayer run by a composite layer's call(), which no graph shows."""
    route = routes.read(sublayer, routes.Graph(None, {}, None))
    reason = (
        route.reason and f"inside {type(composite).__name__} '{composite.name}', whose call() is not read"
    )
    if not fans.is_kernel_layer(sublayer):
        # a kernel the unknown layer holds itself: its own activation says
        # nothing about how its call() uses the kernel
        reason = f"how {type(sublayer).__name__} '{sublayer.name}' uses its kernel is not known"
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
