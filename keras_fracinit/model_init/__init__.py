"""`initialize(model, s)`: re-initialize every kernel of a built model.

An initializer cannot see its layer's activation; this function can. For
every kernel (Dense, convolutions of every kind, EinsumDense, attention) it
reads the activation the kernel feeds, counts the fans the way the layer
uses its kernel, and draws the kernel with the s-moment standard deviation
for that activation. With a batch of data it also calibrates the layers the
paper's class does not cover.
"""

import dataclasses
import warnings
from typing import Any

import keras

from keras_fracinit import _calibration
from keras_fracinit import _checks
from keras_fracinit import initializers
from keras_fracinit._backend import kernel_draws
from keras_fracinit._backend import taps
from keras_fracinit._graph import kernel_plan
from keras_fracinit._graph import model_layers
from keras_fracinit._graph import routes
from keras_fracinit.model_init import accounting
from keras_fracinit.model_init.report import InitializationReport
from keras_fracinit.model_init.report import KernelReport
from keras_fracinit.model_init.report import LayerReport  # noqa: F401  (deprecated name)
from keras_fracinit.model_init.report import WeightOutcome  # noqa: F401  (public through the package)
from keras_fracinit.model_init.report import WeightReport  # noqa: F401
from keras_fracinit.model_init.report import WeightRole  # noqa: F401

_ON_UNSUPPORTED = ("raise", "warn")


class UnsupportedActivationError(ValueError):
    """A kernel feeds an activation outside the paper's class, or a weight's use is not understood."""


def initialize(
    model: keras.Model,
    s: float,
    *,
    alpha: float = 2.0,
    mode: str = "fan_in",
    seed: int | keras.random.SeedGenerator | None = None,
    on_unsupported: str = "raise",
    calibrate_with: Any = None,
    tolerance: float = 0.02,
    max_iterations: int = 10,
    include_frozen: bool = False,
) -> InitializationReport:
    """Re-initializes every kernel of a model with the s-moment scheme.

    Each kernel is drawn from `N(0, sigma^2)`, `sigma^2 = g_s(n) / fan_in`,
    with `g_s` the exact s-moment gain for the activation the kernel feeds
    (with `alpha < 2`, from the symmetric alpha-stable law SaS(sigma),
    `sigma^alpha = G_{alpha,s}(n) / fan_in`, as `FractionalMomentStable`),
    `n` the output units at one location and `fan_in` the inputs summed
    into one output unit (counted for the layer type: Keras' fans for Dense
    and ConvND, per channel for depthwise kernels, both kernels of a
    separable convolution, the overlap of a transposed convolution, the
    einsum axes of `EinsumDense` and attention).

    The activation is read along every path from the kernel's output,
    through layers whose effect on the law is known (normalization, dropout,
    residual merges, reshapes, max pooling before ReLU, ...; the list is in
    the docs). A kernel is drawn exactly when every path reaches the same
    activation of the class (ReLU, Leaky ReLU, linear), where linear means
    reaching another kernel, a softmax or sigmoid head's logits or the
    model's output. Otherwise it is outside the class: an activation such as
    GELU, paths that disagree, a step of unknown law, and the kernels of
    composite layers (keras_hub blocks) whose `call()` no graph shows. Such
    kernels are calibrated on data with `calibrate_with`; without it
    `on_unsupported="raise"` (default) raises before any kernel changes,
    naming them, and `"warn"` skips them with one warning. Recurrent and
    frozen kernels are left as they are.

    Calibration (`calibrate_with=x`, a batch of inputs), after LSUV (Mishkin
    and Matas, ICLR 2016) for the s-th moment: each such kernel is drawn as
    linear, then rescaled until `mean ||y||^s / mean ||x||^s` is within
    `tolerance` of 1 on the batch (norms per unit, `||y|| / sqrt(n)`), `x`
    its layer's input and `y` the output at the end of its path (the
    layer's own output when a normalization lies on the path, or inside a
    composite layer). Kernels are calibrated in the order they run, during
    one pass. A ratio that stops following the scale (a sigmoid gate) keeps
    the best finite scale found, and one warning names such kernels.

    Everything the arguments can get wrong is checked before the first
    draw, `calibrate_with` by one pass through the model: such an error
    leaves every weight untouched. Kernels are then drawn one at a time on
    the devices that hold them, in their layout (sharded or not), without a
    copy of the model: the extra memory is about one kernel. The values
    depend on the seed and the kernels' order and shapes, not on where
    they live. An error after the first draw (out of memory, an interrupt)
    leaves the kernels drawn so far with their new values, puts the kernels
    being calibrated back at their linear draw, and says so.

    Every weight of the model is accounted for once, found through Keras'
    tracking rather than by name (`report.weights`, summed by role under
    the table): kernels are drawn, calibrated or left with a reason; biases,
    normalization weights, embeddings, LoRA factors (after `enable_lora`
    the base kernel is drawn and the factors are left, so the adapted model
    equals its base), recurrent weights and buffers are left as they are.
    Any other matrix is a kernel whose use is not read (stacked experts
    `(experts, in, out)` get each expert's fans), outside the class; a
    weight whose use cannot be read at all is refused like an activation
    outside the class (`on_unsupported`). A kernel shared by several layers
    (tied weights) is drawn once and lists its other uses; uses that want
    different gains put it outside the class.

    Args:
        model: A built Keras model (Sequential, functional, nested or subclassed).
        s: Moment order, in (0, 2] (below `alpha` when `alpha < 2`).
        alpha: Stability index of the weights, in (0, 2]: 2 (default)
            draws Gaussian weights, below 2 heavy-tailed symmetric
            alpha-stable ones. Calibration then preserves the s-th moment
            of the l_alpha size `||y||_alpha / n^(1/alpha)`, their natural
            size.
        mode: `"fan_in"` or `"fan_out"`.
        seed: An integer (reproducible), `None`, or a
            `keras.random.SeedGenerator`; every kernel gets different draws.
        on_unsupported: `"raise"` or `"warn"` (without `calibrate_with`).
        calibrate_with: A batch of model inputs (array or structure of arrays)
            to calibrate the kernels the class does not cover, or `None`.
        tolerance: Largest `|ratio - 1|` a calibration accepts.
        max_iterations: Most rescaling steps per calibrated kernel.
        include_frozen: Whether to re-draw kernels that are not trainable
            (`layer.trainable = False`, e.g. a frozen base in transfer
            learning); by default they are reported as skipped.

    Returns:
        An `InitializationReport`: a list of `KernelReport`, one per kernel,
            that prints as a table; `.counts()` tallies the statuses.

    Raises:
        UnsupportedActivationError: for kernels outside the class, with
            `on_unsupported="raise"` and no `calibrate_with`.
        ValueError: for invalid arguments, an unbuilt model, or a
            `calibrate_with` the model cannot run.

    Examples:
        >>> import keras, keras_fracinit
        >>> model = keras.Sequential([keras.Input((8,)),
        ...                           keras.layers.Dense(4, activation="relu"),
        ...                           keras.layers.Dense(2)])
        >>> report = keras_fracinit.initialize(model, s=0.8, seed=0)
        >>> print(*(r.activation for r in report))
        relu linear

    Reference:
        M. Gurbuzbalaban and Y. Hu, AISTATS 2021.
    """
    s = _check_arguments(model, s, mode, on_unsupported, tolerance, max_iterations)
    law = kernel_draws.WeightLaw(_checks.check_stability_index(alpha))
    _checks.check_order_below_index(s, law.alpha)
    # One reading of the graph (a subclassed model's call() traced) serves every step.
    graph = routes.Graph.of(model)
    calibrating = calibrate_with is not None
    _warn_hidden_graphs(model, graph, calibrating)
    plans, report = _plan_report(model, graph, (s, law), mode, on_unsupported, calibrating, include_frozen)
    report.weights = accounting.account(model, plans, report)
    _refuse_not_understood(model, report.weights, on_unsupported)
    moment = taps.SizeMoment(s, law.alpha)
    return _apply(model, graph, plans, report, seed, calibrate_with, moment, tolerance, max_iterations)


def _refuse_not_understood(model, weights, on_unsupported):
    unread = accounting.not_understood(weights)
    if not unread:
        return
    listing = _first_few([f"'{w.path}' {w.shape} in {w.layer}" for w in unread], ", ")
    listing += (
        " (not the kernel of a known layer, nor a bias, a normalization's, a scale's or an "
        "embedding's: their layer's call() is not read)"
    )
    if on_unsupported == "raise":
        raise UnsupportedActivationError(
            f"{len(unread)} weight(s) of model {model.name!r} are not understood, so no draw can be "
            f"claimed right for them: {listing}. Pass on_unsupported='warn' to leave them as they are "
            "(the report lists them), or give them a known layer."
        )
    warnings.warn(
        f"keras_fracinit.initialize: left {len(unread)} weight(s) that are not understood as they were: "
        + listing,
        stacklevel=3,
    )


def _warn_hidden_graphs(model, graph, calibrating):
    # a subclassed model whose call() traces symbolically is read like a functional one
    hidden, _ = model_layers.hidden_graphs(model, readable=graph.traced_models)
    if hidden:
        warnings.warn(
            "keras_fracinit.initialize: the graph of subclassed model(s) "
            f"{hidden} cannot be seen (their call() does not run on symbolic inputs), so what their "
            "call() applies after a layer "
            "(e.g. a ReLU after a linear Dense) is not read; their linear layers are outside the class"
            + (
                " and are calibrated at their own output only: the report marks them end_seen=False, "
                "since the s-moment through what call() applies next is not measured."
                if calibrating
                else " (pass calibrate_with= to calibrate them at their own output)."
            ),
            stacklevel=3,
        )


def _plan_report(model, graph, scheme, mode, on_unsupported, calibrating, include_frozen):
    """`(plans, report)`: what every kernel gets, decided before anything is drawn."""
    # Plan every kernel first: any error leaves the model untouched.
    plans = kernel_plan.plan_model(model, include_frozen, graph)
    entries = [_entry(plan, scheme, mode, calibrating) for plan in plans]
    outside = [entry for entry in entries if entry.status == "outside"]
    if outside and not calibrating:
        if on_unsupported == "raise":
            raise UnsupportedActivationError(
                f"{len(outside)} kernel(s) of model {model.name!r} are outside the paper's class (relu, "
                "leaky_relu, rrelu, linear) or their path is not known: "
                + _listing(outside)
                + ". Pass calibrate_with=<a batch of inputs> to calibrate them on data, or "
                "on_unsupported='warn' to skip them."
            )
        warnings.warn(
            f"keras_fracinit.initialize: skipped {len(outside)} kernel(s) outside the paper's class: "
            + _listing(outside),
            stacklevel=3,
        )
        entries = [
            dataclasses.replace(e, status="skipped", stddev=None, stable_scale=None)
            if e.status == "outside"
            else e
            for e in entries
        ]
    skipped = [e for e, plan in zip(entries, plans) if plan.skip and plan.skip != kernel_plan.FROZEN_REASON]
    if skipped:
        warnings.warn(
            f"keras_fracinit.initialize: left {len(skipped)} kernel(s) as they were: " + _listing(skipped),
            stacklevel=3,
        )
    return plans, InitializationReport(entries)


def _apply(model, graph, plans, report, seed, calibrate_with, moment, tolerance, max_iterations):
    """Draws the planned kernels, then calibrates those the report marks."""
    if not isinstance(seed, keras.random.SeedGenerator):
        seed = keras.random.SeedGenerator(seed)
    drawn = [(plan.variable, e.drawn_scale) for plan, e in zip(plans, report) if e.drawn_scale is not None]
    targets = _calibration_targets(plans, report) if calibrate_with is not None else []
    if calibrate_with is not None:
        # What the data can get wrong (a batch the model cannot take, a
        # non-finite signal, a layer it never reaches) fails here, before
        # the first draw, so that no copy of the weights is needed to put
        # them back; also when nothing needs calibrating, so that a wrong
        # batch is never accepted.
        _calibration.dry_run(model, targets, calibrate_with)
    kernel_draws.draw(drawn, seed, kernel_draws.WeightLaw(moment.order))
    if not targets:
        return report
    try:
        return _calibrated(model, graph, report, targets, calibrate_with, moment, tolerance, max_iterations)
    except BaseException as error:
        error.add_note(
            f"keras_fracinit.initialize: this error came after the {len(drawn)} kernel(s) of model "
            f"{model.name!r} were drawn; they keep their new values (no copy of the old weights is "
            f"kept); the {len(targets)} kernel(s) to calibrate were put back at their linear draw."
        )
        raise


def _check_arguments(model, s, mode, on_unsupported, tolerance, max_iterations):
    """Raises for a bad argument; returns `s` as a float."""
    if not isinstance(model, keras.Model):
        raise ValueError(
            "Argument `model` must be a keras.Model (Sequential, functional or subclassed). "
            f"Received: model={model!r} of type {type(model).__name__}"
        )
    _checks.check_choice(on_unsupported, "on_unsupported", _ON_UNSUPPORTED)
    if not model.built:
        raise ValueError(
            "Argument `model` must be built before `initialize` (call it on data "
            f"or give it an `Input`). Received: model={model.name!r}, not built"
        )
    _checks.check_open_fraction(tolerance, "tolerance")
    _checks.check_positive_int(max_iterations, "max_iterations")
    _checks.check_choice(mode, "mode", initializers.MODES)
    return _checks.check_moment_order(s)


def _first_few(texts, separator="; ", most=12):
    """The first `most` of `texts`, joined, and how many more there are."""
    shown = separator.join(texts[:most])
    return shown + (f"{separator}and {len(texts) - most} more" if len(texts) > most else "")


def _listing(entries):
    return _first_few([f"'{e.layer}' ({e.layer_type}: {e.reason})" for e in entries])


def _entry(plan, scheme, mode, calibrating):
    """The `KernelReport` of one plan; status `"outside"` marks a kernel outside the class (to be decided)."""
    fans = (plan.kernel.fan_in, plan.kernel.fan_out) if plan.kernel is not None else None
    if fans is None:
        fans = initializers.kernel_fans(tuple(plan.variable.shape))
    common = dict(
        layer=plan.name,
        layer_type=type(plan.start).__name__,
        fan_in=fans[0],
        fan_out=fans[1],
        uses=plan.uses,
        end_seen=plan.end_seen,
    )
    if plan.skip:
        return KernelReport(
            activation="-",
            negative_slope=None,
            dropout=0.0,
            found_in="-",
            stddev=None,
            status="skipped",
            reason=plan.skip,
            **common,
        )
    route, kernel = plan.route, plan.kernel
    if route.exact:
        init = _initializer(scheme, route.activation, mode, route.negative_slope, route.dropout)
        status, reason = "initialized", ""
    else:
        # drawn as linear, then rescaled on the data
        init = _initializer(scheme, "linear", mode)
        status = "calibrated" if calibrating else "outside"
        reason = route.reason or f"activation '{route.activation}' is outside the paper's class"
    # The gain is computed here: an overflow raises before anything is drawn.
    fans = (kernel.fan_in, kernel.fan_out)
    stable = isinstance(init, initializers.FractionalMomentStable) and init.alpha < 2.0
    return KernelReport(
        activation=route.activation,
        negative_slope=route.negative_slope,
        dropout=route.dropout,
        found_in=route.found_in,
        stddev=None if stable else init.stddev_for(fans, kernel.widths),
        stable_scale=init.scale_for(fans, kernel.widths) if stable else None,
        alpha=scheme[1].alpha,
        status=status,
        reason=reason,
        rule=kernel.rule,
        **common,
    )


def _initializer(scheme, activation, mode, negative_slope=None, dropout=0.0):
    """The initializer whose scale a kernel gets: Gaussian, or alpha-stable for alpha < 2."""
    s, law = scheme
    spec = dict(negative_slope=negative_slope, dropout=dropout, mode=mode, seed=0)
    if law.alpha < 2.0:
        return initializers.FractionalMomentStable(s, law.alpha, activation, **spec)
    return initializers.FractionalMomentNormal(s, activation, **spec)


def _calibration_targets(plans, report):
    """A `_calibration.Target` for each kernel the report marks as calibrated, keyed by its index."""
    targets = []
    for index, (plan, entry) in enumerate(zip(plans, report)):
        if entry.status != "calibrated":
            continue
        # In training a normalization on the path sets the scale the
        # activation sees, so the kernel's own output is what it can hold.
        end = plan.start if plan.route.normalized else plan.end
        targets.append(_calibration.Target(index, plan.name, plan.variable, plan.start, end, plan.visible))
    return targets


def _calibrated(model, graph, report, targets, data, moment, tolerance, max_iterations):
    ends = {target.key: target.end.name for target in targets}
    outcomes = _calibration.calibrate(model, targets, data, moment, tolerance, max_iterations, graph)
    short = []
    for index, outcome in outcomes.items():
        entry = report[index]
        reason = entry.reason + (
            f"; stopped at ratio {outcome.ratio:.4g}: {outcome.stopped}" if outcome.stopped else ""
        )
        report[index] = dataclasses.replace(
            entry,
            ratio=outcome.ratio,
            iterations=outcome.steps,
            scale=outcome.scale,
            reason=reason,
            measured_to=ends[index],
        )
        if outcome.stopped:
            short.append(report[index])
    if short:
        warnings.warn(
            f"keras_fracinit.initialize: {len(short)} calibration(s) stopped short of |ratio - 1| <= "
            f"{tolerance:g}, keeping the best finite scale found: "
            + _first_few([f"'{e.layer}' (ratio {e.ratio:.4g}, scale {e.scale:.3g})" for e in short]),
            stacklevel=4,
        )
    return report
