"""Stochastic-gradient noise of a model's kernels.

The gradient of the loss on one mini-batch minus the mean gradient over
several mini-batches is the stochastic-gradient noise whose tail index
motivates `s < 2` (Simsekli et al., ICML 2019). `KernelGradients` computes
per-batch kernel gradients with the backend's own autodiff (TensorFlow,
JAX or PyTorch), always with layers in inference mode and statelessly so
that measuring never changes the model (no dropout, no batch-norm
statistics updates, no variable a `call()` updates is moved); the noise is
therefore the mini-batch sampling noise alone.
"""

import math

import keras
import numpy as np

from keras_fracinit import _checks
from keras_fracinit.tails import estimators

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

    Examples:
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
            # stateless: a call() that updates a variable is not moved by measuring
            with tf.GradientTape() as tape, keras.StatelessScope():
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

        # stateless_call passes training= to call() as given: only to a call() that takes it
        inference = {"training": False} if _checks.accepts_keyword(self.model.call, "training") else {}

        def loss(trainable_values, non_trainable_values, x, y):
            y_pred, _ = self.model.stateless_call(trainable_values, non_trainable_values, x, **inference)
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
            with keras.StatelessScope():
                loss = self._scalar_loss(y, self.model(x, training=False))
            values = torch.autograd.grad(loss, [v.value for v in self.variables])
            with torch.no_grad():
                return self._kept(list(values))

        return gradients

    def draws(self, batches):
        """Per-batch gradients over `batches` of `(x, y)`, stacked.

        Returns:
            One array per variable, of shape `(len(batches),) +
                variable.shape` (or `(len(batches), max_entries)`).
        """
        if len(batches) < 2:
            raise ValueError(
                f"Argument `batches` must hold at least 2 batches. Received: {len(batches)} batches"
            )
        per_batch = [self(x, y) for x, y in batches]
        return [np.stack(g) for g in zip(*per_batch)]


def noise_tail_index(draws):
    """`per_entry_tail_index` of one variable's per-batch gradients (`KernelGradients.draws`):
    the tail of their noise across mini-batches (`nan` where it carries no noise or is not finite)."""
    if not estimators.carries_noise(draws):
        return math.nan
    return estimators.per_entry_tail_index(draws)
