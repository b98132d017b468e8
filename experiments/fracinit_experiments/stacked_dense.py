"""Many Dense stacks of one shape, trained side by side in one compiled JAX program.

The paper's experiments train the same Dense stack (784 -> width -> ... -> 10,
plain SGD) under several initializations and seeds. Each network is small, so
training them one at a time spends most of the time in per-step overhead.
Here every weight carries two leading axes, `(scheme, seed)`, and one
`jax.lax.scan` runs a whole epoch of SGD for all networks at once. The loss is
the sum of the networks' own mean cross-entropies, so each network receives
exactly its own gradient: side by side is the same computation as alone
(`experiments/tests/test_regime_map.py` checks it against each network trained alone).

Data order: network (scheme g, seed k) sees the mini-batches of seed k's
permutation in every epoch, so schemes with the same seed see the same batches
(a paired comparison). The last partial batch of each epoch is dropped.

Kernels are drawn by Keras initializers, one `keras.random.SeedGenerator(seed)`
per network as in `protocol.dense_stack`; biases start at zero.
"""

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from fracinit_experiments.flags import LEAKY_SLOPE
from fracinit_experiments.flags import METRICS


def activation_fn(name):
    if name == "relu":
        return jax.nn.relu
    if name == "leaky_relu":
        return lambda x: jnp.where(x >= 0, x, LEAKY_SLOPE * x)
    if name == "linear":
        return lambda x: x
    raise ValueError(f"Unknown activation {name!r}: relu, leaky_relu or linear")


def layer_dims(inputs_dim, width, depth, classes):
    """`(fan_in, fan_out)` of the stack's `depth` Dense layers (depth >= 3)."""
    if depth < 3:
        raise ValueError(f"Argument `depth` must be at least 3. Received: depth={depth}")
    return [(inputs_dim, width)] + [(width, width)] * (depth - 2) + [(width, classes)]


def init_params(draw_kernel, *, schemes, seeds, dims):
    """Weights for `len(schemes) x len(seeds)` networks.

    `draw_kernel(scheme, seed)` returns a function `(k, fan_in, fan_out) ->
    array` that draws layer k's kernel of that network; it is called once per
    network, then once per layer in order (so one seed generator can serve a
    whole network). Returns `{"first", "middle", "last"}`, each `(kernel,
    bias)` with leading axes `(scheme, seed)`; `middle` has a further leading
    layer axis.
    """
    kernels = [[[] for _ in seeds] for _ in schemes]
    for g, scheme in enumerate(schemes):
        for j, seed in enumerate(seeds):
            draw = draw_kernel(scheme, seed)
            kernels[g][j] = [np.asarray(draw(k, *dim), dtype=np.float32) for k, dim in enumerate(dims)]
    stacked = [
        np.stack([np.stack([kernels[g][j][k] for j in range(len(seeds))]) for g in range(len(schemes))])
        for k in range(len(dims))
    ]

    def bias(kernel):
        return jnp.zeros(kernel.shape[:-2] + kernel.shape[-1:], jnp.float32)

    middle = jnp.asarray(np.stack(stacked[1:-1], axis=0))
    return {
        "first": (jnp.asarray(stacked[0]), bias(stacked[0])),
        "middle": (middle, bias(middle)),
        "last": (jnp.asarray(stacked[-1]), bias(stacked[-1])),
    }


def _dense(h, weights, spec="gsbi,gsio->gsbo"):
    """One Dense layer of every network: `h @ kernel + bias` per (scheme, seed)."""
    kernel, bias = weights
    return jnp.einsum(spec, h, kernel) + bias[:, :, None, :]


def hidden_states(params, x, activation):
    """`(h_1, h_{L-1})`: the first and the last hidden layer's outputs.

    `x` is `(batch, d)` (shared by every network) or `(seeds, batch, d)`.
    Outputs have shape `(schemes, seeds, batch, width)`.
    """
    act = activation_fn(activation)
    first = act(_dense(x, params["first"], "bi,gsio->gsbo" if x.ndim == 2 else "sbi,gsio->gsbo"))
    last_hidden, _ = jax.lax.scan(lambda h, weights: (act(_dense(h, weights)), None), first, params["middle"])
    return first, last_hidden


def logits(params, x, activation):
    _, h = hidden_states(params, x, activation)
    return _dense(h, params["last"])


def _losses(params, x, y, activation):
    """Per-network mean cross-entropy `(schemes, seeds)` and accuracy."""
    z = logits(params, x, activation)
    labels = jnp.broadcast_to(y, z.shape[:-1])
    log_p = jax.nn.log_softmax(z, axis=-1)
    loss = -jnp.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0].mean(axis=-1)
    accuracy = (jnp.argmax(z, axis=-1) == labels).mean(axis=-1)
    return loss, accuracy


@functools.partial(jax.jit, static_argnames=("activation",))
def train_epoch(params, x_train, y_train, batches, lr, activation):
    """One epoch of plain SGD for every network.

    `batches` is `(steps, seeds, batch)` indices into the training set.
    Returns the new params and the epoch's running means of loss and accuracy
    per network (as Keras' progress reports them).
    """

    def total_loss(p, x, y):
        loss, accuracy = _losses(p, x, y, activation)
        return loss.sum(), (loss, accuracy)

    def step(p, idx):
        x, y = x_train[idx], y_train[idx][None]
        grads, (loss, accuracy) = jax.grad(total_loss, has_aux=True)(p, x, y)
        p = jax.tree_util.tree_map(lambda w, g: w - lr * g, p, grads)
        return p, (loss, accuracy)

    params, (loss, accuracy) = jax.lax.scan(step, params, batches)
    return params, loss.mean(axis=0), accuracy.mean(axis=0)


_evaluate_chunk = jax.jit(_losses, static_argnames=("activation",))


def evaluate(params, x, y, activation, chunk=2000):
    """Mean loss and accuracy of every network on `(x, y)`, `(schemes, seeds)` each."""
    totals = None
    for start in range(0, len(x), chunk):
        xs, ys = jnp.asarray(x[start : start + chunk]), jnp.asarray(y[start : start + chunk])
        loss, accuracy = _evaluate_chunk(params, xs, ys, activation=activation)
        part = np.stack([np.asarray(loss), np.asarray(accuracy)]) * len(xs)
        totals = part if totals is None else totals + part
    return totals[0] / len(x), totals[1] / len(x)


@functools.partial(jax.jit, static_argnames=("activation",))
def _init_statistics(params, x, activation):
    first, last_hidden = hidden_states(params, x, activation)
    log_ratio = jnp.log(jnp.linalg.norm(last_hidden, axis=-1)) - jnp.log(jnp.linalg.norm(first, axis=-1))
    z = _dense(last_hidden, params["last"])
    return log_ratio, jnp.all(z == 0, axis=(-2, -1))


def init_statistics(params, x, activation):
    """At initialization, per network, over the batch `x`: the median and the
    mean (over the samples whose output is not zero) of `log(||h_{L-1}|| /
    ||h_1||)` through the `depth - 2` square layers, and whether the logits
    are identically zero on the batch."""
    log_ratio, zero = _init_statistics(params, jnp.asarray(x), activation=activation)
    log_ratio = np.asarray(log_ratio, dtype=np.float64)
    # a sample whose first hidden layer is zero has no ratio (0/0): left out
    defined = ~np.isnan(log_ratio)
    median = np.array(
        [
            np.median(row[ok]) if ok.any() else np.nan
            for row, ok in zip(
                log_ratio.reshape(-1, log_ratio.shape[-1]), defined.reshape(-1, defined.shape[-1])
            )
        ]
    ).reshape(log_ratio.shape[:-1])
    finite = np.isfinite(log_ratio)
    alive_mean = np.where(finite, log_ratio, 0.0).sum(axis=-1) / np.maximum(finite.sum(axis=-1), 1)
    alive_mean[~finite.any(axis=-1)] = -np.inf
    return median, alive_mean, np.asarray(zero)


def epoch_batches(n_train, batch_size, seeds, epoch):
    """`(steps, seeds, batch)` indices: seed k's shuffled order for `epoch`."""
    steps = n_train // batch_size
    orders = [
        np.random.default_rng([seed, epoch]).permutation(n_train)[: steps * batch_size] for seed in seeds
    ]
    return np.stack(orders).reshape(len(seeds), steps, batch_size).transpose(1, 0, 2)


def train(params, data, *, seeds, epochs, batch_size, lr, activation, on_epoch=None, first_epoch=0):
    """Trains every network for `epochs` epochs; returns the final params.

    `on_epoch(epoch, params, metrics)` is called after each epoch (1-based)
    with `metrics = {name: (schemes, seeds) array}` for `train_loss`,
    `train_accuracy`, `test_loss` and `test_accuracy`.
    """
    (x_train, y_train), (x_test, y_test) = data
    if len(x_train) < batch_size:
        raise ValueError(f"{len(x_train)} training examples cannot fill one batch of {batch_size}")
    x_dev, y_dev = jnp.asarray(x_train), jnp.asarray(y_train)
    for epoch in range(first_epoch, epochs):
        batches = jnp.asarray(epoch_batches(len(x_train), batch_size, seeds, epoch))
        params, loss, accuracy = train_epoch(params, x_dev, y_dev, batches, lr, activation=activation)
        test_loss, test_accuracy = evaluate(params, x_test, y_test, activation)
        metrics = {
            "train_loss": np.asarray(loss),
            "train_accuracy": np.asarray(accuracy),
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
        }
        if on_epoch is not None:
            on_epoch(epoch + 1, params, metrics)
    return params


def save_checkpoint(path, state):
    """Writes `state` atomically: `params`, `history` (a list of per-epoch
    metric dicts) and any further arrays or numbers (saved as they are)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"{key}_{i}": np.asarray(value[i]) for key, value in state["params"].items() for i in (0, 1)}
    for e, epoch in enumerate(state["history"]):
        arrays.update({f"history_{e}_{name}": np.asarray(value) for name, value in epoch.items()})
    arrays.update(
        {name: np.asarray(value) for name, value in state.items() if name not in ("params", "history")}
    )
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(path)  # a stop mid-write keeps the previous checkpoint


def load_checkpoint(path):
    """The state `save_checkpoint` wrote, or None if there is none."""
    path = pathlib.Path(path)
    if not path.exists():
        return None
    with np.load(path) as arrays:
        state = {
            "params": {key: (arrays[f"{key}_0"], arrays[f"{key}_1"]) for key in ("first", "middle", "last")}
        }
        epochs = sorted({int(name.split("_")[1]) for name in arrays.files if name.startswith("history_")})
        state["history"] = [{name: arrays[f"history_{e}_{name}"] for name in METRICS} for e in epochs]
        for name in arrays.files:
            if not name.startswith("history_") and name.rsplit("_", 1)[0] not in state["params"]:
                state[name] = arrays[name][()] if arrays[name].ndim == 0 else arrays[name]
        return state
