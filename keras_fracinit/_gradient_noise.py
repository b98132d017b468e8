"""Stochastic-gradient noise of a model's kernels, and `suggest_s`.

The gradient of the loss on one mini-batch minus the mean gradient over
several mini-batches is the stochastic-gradient noise whose tail index
motivates `s < 2` (Simsekli et al., ICML 2019). `KernelGradients` computes
per-batch kernel gradients with the backend's own autodiff (TensorFlow,
JAX or PyTorch), always with layers in inference mode so that measuring
never changes the model (no dropout, no batch-norm statistics updates);
the noise is therefore the mini-batch sampling noise alone.
"""

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_fracinit import _data
from keras_fracinit import _layers
from keras_fracinit import tail_index as tail_index_lib

# Entries per kernel the monitor keeps for a tail index: a fixed random subset
# of larger kernels, so that memory stays a few bytes per parameter.
NOISE_ENTRIES = 2**16


def resolve_loss(loss):
    """Returns a callable `loss(y_true, y_pred) -> scalar` for `loss`.

    Args:
        loss: A loss name (`"mse"`, `"sparse_categorical_crossentropy"`),
            a `keras.losses.Loss`, or a function of `(y_true, y_pred)`.

    Raises:
        ValueError: If `loss` is none of these (for instance a dict of
            per-output losses, which has no single gradient).
    """
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if not callable(loss):
        raise ValueError(
            "Argument `loss` must be a loss name, a `keras.losses.Loss` or a "
            f"function of (y_true, y_pred). Received: loss={loss!r}"
        )
    return loss


def _widen_half_precision(tensor):
    """float32 where the model computes in half precision (its squares
    overflow); otherwise the model's own float dtype."""
    if keras.backend.standardize_dtype(tensor.dtype) in ("float16", "bfloat16"):
        return keras.ops.cast(tensor, "float32")
    return tensor


class KernelGradients:
    """Per-batch gradients of a loss with respect to chosen variables.

    One compiled function per backend: `tf.function` over a
    `tf.GradientTape`, `jax.jit(jax.grad(...))` over `model.stateless_call`,
    or `torch.autograd.grad`.

    Gradients come back in each variable's own float dtype (float32 for a
    float32 or mixed-precision model, float64 for a float64 one). With
    `max_entries`, a variable with more entries is represented by a fixed
    random subset of that many entries, gathered before leaving the device,
    so that the memory held stays small for large models.

    Args:
        model: A built Keras model.
        variables: The variables (for instance kernels) to differentiate.
        loss: Anything `resolve_loss` accepts.
        max_entries: Most entries kept per variable (`None`: all).

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> gradients = KernelGradients(model, [model.layers[0].kernel], "mse")
    >>> (kernel_gradient,) = gradients(np.ones((4, 3)), np.zeros((4, 2)))
    >>> kernel_gradient.shape
    (3, 2)
    """

    def __init__(self, model, variables, loss, max_entries=None):
        self.model = model
        self.variables = list(variables)
        self.loss = resolve_loss(loss)
        rng = np.random.default_rng(0)
        self.entries = [
            None
            if max_entries is None or math.prod(v.shape) <= max_entries
            else np.sort(rng.choice(math.prod(v.shape), size=max_entries, replace=False))
            for v in self.variables
        ]
        self._dtypes = [
            np.float64 if keras.backend.standardize_dtype(v.dtype) == "float64" else np.float32
            for v in self.variables
        ]
        self._function = getattr(self, "_build_" + keras.backend.backend())()

    def __call__(self, x, y):
        """Returns the gradients for one batch as numpy arrays in the variables' dtypes
        (flat arrays of the kept entries where `max_entries` applies)."""
        x, y = keras.tree.map_structure(keras.ops.convert_to_tensor, (x, y))
        return [
            np.asarray(keras.ops.convert_to_numpy(g), dtype=dtype)
            for g, dtype in zip(self._function(x, y), self._dtypes)
        ]

    def _kept(self, gradients):
        """The kept entries of each gradient (inside the compiled function)."""
        return [
            g if entries is None else keras.ops.take(keras.ops.reshape(g, (-1,)), entries)
            for g, entries in zip(gradients, self.entries)
        ]

    def _scalar_loss(self, y, y_pred):
        y_pred = keras.tree.map_structure(_widen_half_precision, y_pred)
        return keras.ops.mean(self.loss(y, y_pred))

    def _build_tensorflow(self):
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def gradients(x, y):
            with tf.GradientTape() as tape:
                loss = self._scalar_loss(y, self.model(x, training=False))
            return self._kept(tape.gradient(loss, self.variables))

        return gradients

    def _build_jax(self):
        import jax

        trainable = self.model.trainable_variables
        index = {id(v): i for i, v in enumerate(trainable)}
        missing = [v.path for v in self.variables if id(v) not in index]
        if missing:
            raise ValueError(
                "Argument `variables` must be trainable variables of the model. "
                f"Received: variables including {missing}"
            )
        positions = [index[id(v)] for v in self.variables]

        def loss(trainable_values, non_trainable_values, x, y):
            y_pred, _ = self.model.stateless_call(trainable_values, non_trainable_values, x, training=False)
            return self._scalar_loss(y, y_pred)

        def selected(trainable_values, non_trainable_values, x, y):
            values = jax.grad(loss)(trainable_values, non_trainable_values, x, y)
            return self._kept([values[i] for i in positions])

        function = jax.jit(selected)

        def gradients(x, y):
            return function(
                [v.value for v in self.model.trainable_variables],
                [v.value for v in self.model.non_trainable_variables],
                x,
                y,
            )

        return gradients

    def _build_torch(self):
        import torch

        def gradients(x, y):
            loss = self._scalar_loss(y, self.model(x, training=False))
            values = torch.autograd.grad(loss, [v.value for v in self.variables])
            with torch.no_grad():
                return self._kept(list(values))

        return gradients

    def noise(self, batches):
        """Gradient noise `g_k - mean_k g_k` over `batches` of `(x, y)`.

        Returns:
            One float64 array per variable, of shape `(len(batches),) +
            variable.shape`.
        """
        if len(batches) < 2:
            raise ValueError(
                f"Argument `batches` must hold at least 2 batches. Received: {len(batches)} batches"
            )
        per_batch = [self(x, y) for x, y in batches]
        stacked = [np.stack(g) for g in zip(*per_batch)]
        return [g - g.mean(axis=0) for g in stacked]


def noise_tail_index(noise):
    """Block-sum tail index of one variable's gradient noise (`nan` if all zero)."""
    try:
        return tail_index_lib.block_sum_tail_index(noise)
    except ValueError:
        return math.nan


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
