"""The paper's protocol with every init and seed trained side by side (`--side-by-side`).

Same stack, same kernels (each network's kernels are drawn by the same Keras
initializers from the same `SeedGenerator(seed)` as `protocol.dense_stack`),
same SGD; one compiled JAX program trains all `inits x seeds` networks at
once (`stacked_dense`). Differences from the Keras path: network (init,
seed) sees seed's own shuffled order, shared by every init; the last partial
batch of each epoch is dropped; the monitor is not attached. Resumable: a
checkpoint is written after every epoch (`<out>/checkpoint.npz`) and the same
command goes on from it.
"""

import json
import pathlib
import time

import numpy as np

from fracinit_experiments import flags
from fracinit_experiments import protocol
from fracinit_experiments import stacked_dense
from fracinit_experiments.quiet_keras import keras


def kernel_drawer(activation, s, depth, logit_activation=False):
    """`draw_kernel(init, seed)` for `stacked_dense.init_params`: one
    `SeedGenerator(seed)` per network, the initializers of
    `protocol.dense_stack` layer by layer (the logits linear unless
    `logit_activation`)."""

    def draw_kernel(init, seed):
        generator = keras.random.SeedGenerator(seed)

        def draw(k, fan_in, fan_out):
            last = k == depth - 1
            fed = activation if (not last or logit_activation) else "linear"
            initializer = protocol.kernel_initializer(init, fed, s, fan_in, generator)
            return keras.ops.convert_to_numpy(initializer((fan_in, fan_out)))

        return draw

    return draw_kernel


def run_side_by_side(args, data, *, dataset):
    """Trains every init x seed side by side; returns the rows of `protocol.run_all`."""
    (x_train, _), _ = data
    if args.logit_activation and args.activation != "linear":
        flags.fail("--side-by-side trains linear logits only; drop --logit-activation")
    classes = int(max(data[0][1].max(), data[1][1].max())) + 1
    seeds = list(range(args.seeds))
    dims = stacked_dense.layer_dims(x_train.shape[1], args.width, args.depth, classes)
    checkpoint = pathlib.Path(args.out) / "checkpoint.npz"
    state = _resumed_or_new(args, checkpoint, dataset=dataset, seeds=seeds, dims=dims)
    print(
        f"== {dataset}: {len(args.inits)} inits x {len(seeds)} seeds side by side (JAX), "
        f"from epoch {len(state['history']) + 1} of {args.epochs}",
        flush=True,
    )
    last = time.perf_counter()

    def on_epoch(epoch, params, metrics):
        nonlocal last
        now = time.perf_counter()
        seconds, last = now - last, now
        state["params"], state["seconds"] = params, np.append(state["seconds"], seconds)
        state["history"].append(metrics)
        stacked_dense.save_checkpoint(checkpoint, state)
        if args.verbose:
            accuracy = metrics["test_accuracy"].mean(axis=1)
            means = ", ".join(f"{init} {a:.4f}" for init, a in zip(args.inits, accuracy))
            print(f"epoch {epoch}/{args.epochs} ({seconds:.0f} s): mean test accuracy {means}", flush=True)

    stacked_dense.train(
        state["params"],
        data,
        seeds=seeds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        activation=args.activation,
        on_epoch=on_epoch,
        first_epoch=len(state["history"]),
    )
    return _rows(args.inits, seeds, state)


def _resumed_or_new(args, checkpoint, *, dataset, seeds, dims):
    """The state in `checkpoint` if this very run wrote it, else a new one (saved at once)."""
    state = stacked_dense.load_checkpoint(checkpoint)
    settings = {key: getattr(args, key) for key in ("activation", "depth", "width", "batch_size", "lr")}
    settings = json.dumps(settings | {"s": protocol.moment_order(args), "dataset": dataset})
    if state is not None and list(state["inits"]) != list(args.inits):
        flags.fail(f"{checkpoint} holds inits {list(state['inits'])}; use another --out")
    if state is not None and str(state.get("settings", settings)) != settings:
        flags.fail(f"{checkpoint} was trained with {state['settings']}; use another --out")
    if state is None:
        drawer = kernel_drawer(
            args.activation, protocol.moment_order(args), args.depth, args.logit_activation
        )
        params = stacked_dense.init_params(drawer, schemes=args.inits, seeds=seeds, dims=dims)
        state = {"params": params, "history": [], "seconds": np.zeros(0), "inits": np.array(args.inits)}
        state["settings"] = settings
        stacked_dense.save_checkpoint(checkpoint, state)
    return state


def _rows(inits, seeds, state):
    """The rows of `protocol.run_all` from the state's per-epoch metrics."""
    return [
        {
            "init": init,
            "seed": seed,
            "epoch": e + 1,
            **{metric: float(epoch[metric][g, j]) for metric in flags.METRICS},
            # the whole group's epoch: the networks train together
            "seconds": float(state["seconds"][e]),
        }
        for g, init in enumerate(inits)
        for j, seed in enumerate(seeds)
        for e, epoch in enumerate(state["history"])
    ]
