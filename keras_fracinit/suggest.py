"""`suggest_s`: a data-driven `s` from the tail index of the gradient noise."""

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import keras

from keras_fracinit import _checks
from keras_fracinit._backend import batching
from keras_fracinit._graph import kernel_plan
from keras_fracinit.tails import estimators
from keras_fracinit.tails._gradient_noise import NOISE_ENTRIES
from keras_fracinit.tails._gradient_noise import KernelGradients
from keras_fracinit.tails._gradient_noise import resolve_loss
from keras_fracinit.tails.assessment import HeavyTailAssessment
from keras_fracinit.tails.assessment import assess_layers


@dataclasses.dataclass(frozen=True)
class SuggestedS:
    """A data-driven choice of `s`: 2 unless the gradient noise is heavy-tailed.

    Attributes:
        s: The moment order to preserve: `min(alpha, 2)` when the noise is
            heavy-tailed, else 2 (He).
        reason: One sentence on why `s` is what it is.
        assessment: The `HeavyTailAssessment` of all measured kernels pooled
            (each layer weighted equally).
        per_layer: Dict `{kernel name: HeavyTailAssessment}`, named as
            `initialize` reports the kernels.
        batches: Number of mini-batches the noise was measured on.
    """

    s: float
    reason: str
    assessment: HeavyTailAssessment
    per_layer: dict[str, HeavyTailAssessment]
    batches: int

    @property
    def verdict(self) -> str:
        """`"heavy-tailed"`, `"not heavy-tailed"` or `"inconclusive"`."""
        return self.assessment.verdict

    @property
    def alpha(self) -> float:
        """The pooled tail-index estimate (not clipped)."""
        return self.assessment.alpha

    @property
    def interval(self) -> tuple[float, float]:
        """The estimate's confidence interval at `1 - level`."""
        return self.assessment.interval

    @property
    def null_alpha(self) -> float:
        """The estimate on Gaussian noise with the measured per-entry scales."""
        return self.assessment.null_alpha


def _measured_kernels(model, layers):
    """`{kernel name: variable}` of the trainable kernels `initialize` and the monitor see.

    The same selection as theirs (`kernel_plan.select`): attention's and
    composite layers' kernels included. Kernels that are not trainable
    (frozen, or a LoRA base kernel) have no gradient: they are named in one
    warning, or refused when `layers` names them.
    """
    try:
        chosen = kernel_plan.select(model, layers)
    except ValueError as error:
        if layers is None:
            raise ValueError(
                "Argument `model` must have a layer with a trainable kernel. "
                f"Received: model={model.name!r}: {error}"
            ) from error
        raise ValueError(f"Argument `layers` must name layers with a trainable kernel. {error}") from error
    frozen = [name for name, plan in chosen.items() if not plan.variable.trainable]
    kernels = {name: plan.variable for name, plan in chosen.items() if plan.variable.trainable}
    if frozen and layers is not None:
        raise ValueError(
            "Argument `layers` must name layers with a trainable kernel. "
            f"Received: layers={list(layers)!r}, of which {frozen} are not trainable"
        )
    if not kernels:
        raise ValueError(
            "Argument `model` must have a layer with a trainable kernel. "
            f"Received: model={model.name!r}, whose kernels {frozen} are all frozen"
        )
    if frozen:
        warnings.warn(
            f"suggest_s: kernels {frozen} are left out: they are not trainable (frozen, or the base "
            "kernel of a LoRA layer), so they have no gradient noise.",
            stacklevel=3,
        )
    return kernels


def _reason(assessment):
    if assessment.verdict == "heavy-tailed":
        return f"s = {min(assessment.alpha, 2.0):.2f}, the tail index: {assessment.reason}"
    return f"s = 2 (He), because heavy tails are not established: {assessment.reason}"


def suggest_s(
    model: keras.Model,
    dataset: Any,
    loss: Any,
    *,
    batches: int = 32,
    batch_size: int = 32,
    layers: Sequence[str | keras.layers.Layer] | None = None,
    level: float = 0.05,
) -> SuggestedS:
    """Suggests `s`: the gradient noise's tail index if it is heavy-tailed, else 2.

        s = min(alpha, 2)  if the verdict is "heavy-tailed",  else  s = 2,

    with `alpha` the tail index of the model's stochastic-gradient noise and
    the verdict of `keras_fracinit.tails.assess_heavy_tails`. Each
    kernel's gradients on `batches` mini-batches (at most 65,536 fixed random
    entries per kernel) are the draws; `per_entry_tail_index` compares every
    entry with its own scale, so entries of different sizes do not read as
    heavy tails; the layers are pooled with equal weights. The interval comes
    from independent groups of mini-batches, and the null from Gaussian noise
    with the measured per-entry scales. Under the paper's Kesten model the
    depth limit's tail index equals `s`: heavy-tailed noise of index `alpha`
    suggests preserving the moment `s = alpha` it still has.

    Args:
        model: A built Keras model.
        dataset: Training data: a tuple `(x, y)` of arrays (cut into
            `batch_size` batches), or anything iterable that yields `(x, y)`
            or `(x, y, sample_weight)` batches (a `tf.data.Dataset`, a
            `keras.utils.PyDataset`, a generator).
        loss: A loss name, a `keras.losses.Loss` or a function of
            `(y_true, y_pred)`.
        batches: Number of mini-batches to measure (at least 16: four
            independent groups of 4 for the interval; with fewer, sparse
            gradients read as heavy-tailed too often).
        batch_size: Batch size when `dataset` is a tuple of arrays.
        layers: Kernel names as `initialize` reports them (`"mha/query"`),
            layer paths (`"outer/inner"` inside nested models: all of the
            layer's kernels) or layers; default every trainable kernel
            `initialize` and the monitor see (attention's and composite
            layers' included); frozen kernels are named in a warning.
        level: Level of the test against the finite-variance null.

    Returns:
        A `SuggestedS` carrying the verdict, the estimate, its interval, the
            null's value and the reason.

    Examples:
        >>> import keras, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(1)])
        >>> x = rng.standard_cauchy((2048, 64)).astype("float32")
        >>> y = np.zeros((2048, 1), "float32")
        >>> suggestion = suggest_s(model, (x, y), lambda t, p: p, batches=64)
        >>> suggestion.verdict  # Cauchy noise: alpha = 1
        'heavy-tailed'
        >>> low, high = suggestion.interval
        >>> bool(low < 1.0 < high), suggestion.s == suggestion.alpha
        (True, True)

    Reference:
        Gurbuzbalaban and Hu (2021); Simsekli, Sagun and Gurbuzbalaban
        (ICML 2019); Xie, Sato and Sugiyama (ICLR 2021).
    """
    _checks.check_int_at_least(
        batches, "batches", 16, "four independent groups of 4 mini-batches give the interval"
    )
    loss = resolve_loss(loss)
    chosen = _measured_kernels(model, layers)
    data = batching.take_batches(dataset, batches, batch_size)
    if any(y is None for _, y in data):
        raise ValueError(
            "Argument `dataset` must yield targets: (x, y) batches. Received: batches without targets"
        )
    draws = KernelGradients(model, list(chosen.values()), loss, NOISE_ENTRIES).draws(data)
    noisy = {path: d for path, d in zip(chosen, draws) if estimators.carries_noise(d)}
    if not noisy:
        raise ValueError(
            "The gradient noise is zero (or not finite) in every measured layer: no tail index to "
            f"estimate. Received: layers {list(chosen)}"
        )
    silent = [path for path in chosen if path not in noisy]
    if silent:
        warnings.warn(
            f"suggest_s: layers {silent} are left out: their gradients do not change between the "
            "mini-batches (dead units) or are not finite, so they have no tail index. The "
            "suggestion rests on the other layers.",
            stacklevel=2,
        )
    pooled, per_layer = assess_layers(list(noisy.values()), level=level)
    return SuggestedS(
        s=min(pooled.alpha, 2.0) if pooled.verdict == "heavy-tailed" else 2.0,
        reason=_reason(pooled),
        assessment=pooled,
        per_layer=dict(zip(noisy, per_layer)),
        batches=len(data),
    )
