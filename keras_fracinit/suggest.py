"""`suggest_s`: a data-driven `s` from the tail index of the gradient noise."""

import dataclasses
import numbers
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_fracinit import _data
from keras_fracinit import _layers
from keras_fracinit._gradient_noise import KernelGradients
from keras_fracinit._gradient_noise import noise_tail_index
from keras_fracinit._gradient_noise import resolve_loss


@dataclasses.dataclass(frozen=True)
class SuggestedS:
    """A data-driven choice of `s` from the gradient-noise tail index.

    Attributes:
        s: `alpha` clipped into (0, 2]: the moment order to preserve.
        alpha: Median over layers of the estimated tail index (not clipped).
        spread: Standard deviation of the per-layer estimates.
        per_layer: Dict `{layer path: alpha}`.
        batches: Number of mini-batches the noise was measured on.
    """

    s: float
    alpha: float
    spread: float
    per_layer: dict
    batches: int


def suggest_s(
    model: keras.Model,
    dataset: Any,
    loss: Any,
    *,
    batches: int = 32,
    batch_size: int = 32,
    layers: Sequence[str | keras.layers.Layer] | None = None,
) -> SuggestedS:
    """Suggests `s` as the tail index of the model's stochastic-gradient noise.

    For each kernel, the gradients of `loss` on `batches` mini-batches minus
    their mean give noise samples; the block-sum estimator (Mohammadi et al.
    2015, as used by Simsekli et al. 2019) gives the layer's tail index
    `alpha`. Under the paper's Kesten model the depth limit's tail index
    equals `s`, so `s = min(median alpha, 2)` preserves the moment the
    gradient noise still has.

    Args:
        model: A built Keras model.
        dataset: Training data: a tuple `(x, y)` of arrays (cut into
            `batch_size` batches), or anything iterable that yields `(x, y)`
            or `(x, y, sample_weight)` batches (a `tf.data.Dataset`, a
            `keras.utils.PyDataset`, a generator).
        loss: A loss name, a `keras.losses.Loss` or a function of
            `(y_true, y_pred)`.
        batches: Number of mini-batches to measure (at least 2).
        batch_size: Batch size when `dataset` is a tuple of arrays.
        layers: Layer paths to measure (`"outer/inner"` inside nested models); default
            every layer with a trainable `kernel`.

    Returns:
        A `SuggestedS`.

    Example:

    >>> import keras, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(1)])
    >>> x = rng.standard_cauchy((2048, 64)).astype("float32")
    >>> y = np.zeros((2048, 1), "float32")
    >>> suggestion = suggest_s(model, (x, y), lambda t, p: p, batches=64)
    >>> abs(suggestion.s - 1.0) < 0.25  # Cauchy noise: alpha = 1
    True

    Reference:
        Gurbuzbalaban and Hu (2021); Simsekli, Sagun and Gurbuzbalaban (2019).
    """
    if isinstance(batches, bool) or not isinstance(batches, numbers.Integral) or batches < 2:
        raise ValueError(f"Argument `batches` must be an integer >= 2. Received: batches={batches!r}")
    loss = resolve_loss(loss)
    chosen = {
        path: layer
        for path, layer in _layers.named_layers(model)
        if getattr(layer, "kernel", None) is not None and layer.kernel.trainable
    }
    if layers is not None:
        unknown = [path for path in layers if path not in chosen]
        if unknown:
            raise ValueError(
                "Argument `layers` must name layers with a trainable kernel. "
                f"Received: layers={list(layers)!r}, of which {unknown} have none. "
                f"Available: {sorted(chosen)}"
            )
        chosen = {path: chosen[path] for path in layers}
    if not chosen:
        raise ValueError(
            "Argument `model` must have a layer with a trainable kernel. "
            f"Received: model={model.name!r}, which has no layer with a trainable kernel"
        )
    data = _data.take_batches(dataset, batches, batch_size)
    if any(y is None for _, y in data):
        raise ValueError(
            "Argument `dataset` must yield targets: (x, y) batches. Received: batches without targets"
        )
    gradients = KernelGradients(model, [layer.kernel for layer in chosen.values()], loss)
    noise = gradients.noise(data)
    per_layer = {path: noise_tail_index(n) for path, n in zip(chosen, noise)}
    estimates = np.array([a for a in per_layer.values() if np.isfinite(a)])
    if estimates.size == 0:
        raise ValueError("The gradient noise is zero in every layer: no tail index to estimate.")
    alpha = float(np.median(estimates))
    return SuggestedS(
        s=min(alpha, 2.0),
        alpha=alpha,
        spread=float(np.std(estimates)),
        per_layer=per_layer,
        batches=len(data),
    )
