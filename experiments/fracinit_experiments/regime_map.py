"""Where s < 2 helps: a width x depth x s sweep of the paper's Dense stacks.

For every cell (width, depth, batch size) the sweep trains He (s = 2) and the
fractional scheme for each s, with several seeds, side by side in one compiled
JAX program (`stacked_dense`), and records per network:

- at initialization, on a batch of 512 training images: the median over the
  batch of log(||h_{L-1}|| / ||h_1||) through the depth - 2 square hidden
  layers, next to `theory.log_norm_limit`'s prediction, and whether the
  logits are identically zero;
- after every epoch: train loss/accuracy (running means) and test loss/accuracy.

Schemes with the same seed see the same mini-batches and the same underlying
normal draws, so fractional - He differences are paired by seed.

    python -m fracinit_experiments.regime_map --dataset mnist --data-dir /tmp/mnist \\
        --out runs/regime_map_mnist

Resumable: the sweep checkpoints every cell after every epoch under
`<out>/checkpoints/`; run the same command again after a stop and it goes on
where it stopped. Outputs: `<out>/regime_map.json` (one record per cell,
scheme and seed), `heatmaps.png`, `log_norm.png` and `summary.md`
(`regime_map_report`). JAX comes with this package.
"""

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

from fracinit_experiments import flags
from fracinit_experiments import mnist
from fracinit_experiments.flags import LazyModule

# Keras and JAX start on first use, after the flags are checked.
protocol = LazyModule("fracinit_experiments.protocol")
report = LazyModule("fracinit_experiments.regime_map_report")
side_by_side = LazyModule("fracinit_experiments.side_by_side")
stacked_dense = LazyModule("fracinit_experiments.stacked_dense")
keras = LazyModule("fracinit_experiments.quiet_keras", "keras")
theory = LazyModule("keras_fracinit.theory")
os.environ.setdefault("KERAS_BACKEND", "jax")

PROBE_SIZE = 512


widths = flags.comma_list(flags.positive_int)
depths = flags.comma_list(flags.integer_at_least(2))


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="mnist")
    parser.add_argument("--data-dir", default=None, help="folder with the dataset's files")
    parser.add_argument("--widths", type=widths, default=[4, 8, 16, 32, 64], help="hidden widths")
    parser.add_argument("--depths", type=depths, default=[10, 25, 50, 100], help="Dense layers in all")
    parser.add_argument(
        "--s",
        type=flags.comma_list(flags.moment_order),
        default=[0.25, 0.5, 1.0, 1.5],
        help="fractional s values",
    )
    parser.add_argument("--seeds", type=flags.positive_int, default=5, help="runs per scheme")
    parser.add_argument("--epochs", type=flags.positive_int, default=10, help="epochs per run")
    parser.add_argument("--batch-size", type=flags.positive_int, default=128, help="SGD batch size")
    parser.add_argument(
        "--small-batch",
        type=flags.integer_at_least(0),
        default=16,
        help="batch size of the extra slice (0: no slice)",
    )
    parser.add_argument("--small-batch-widths", type=widths, default=[8, 16])
    parser.add_argument("--small-batch-depths", type=depths, default=[25, 50])
    parser.add_argument(
        "--lr",
        type=flags.comma_list(flags.positive_float),
        default=[0.01],
        help="SGD learning rates (comma list)",
    )
    parser.add_argument("--activation", choices=("relu", "leaky_relu"), default="relu")
    parser.add_argument("--out", default="runs/regime_map")
    parser.add_argument(
        "--limit-train",
        type=flags.positive_int,
        default=None,
        help="use only the first N training images",
    )
    return parser


def cells(args):
    """`(width, depth, batch_size, lr)` of every cell, cheapest first."""
    grid = [(w, d, args.batch_size, lr) for w in args.widths for d in args.depths for lr in args.lr]
    if args.small_batch:
        grid += [
            (w, d, args.small_batch, lr)
            for w in args.small_batch_widths
            for d in args.small_batch_depths
            for lr in args.lr
        ]
    return sorted(dict.fromkeys(grid), key=cell_cost)


def cell_cost(cell):
    width, depth, batch_size, _ = cell
    # multiply-adds per example plus a per-step overhead of about 2,000 examples' worth
    return 784 * width + (depth - 2) * width * width + 10 * width + 2e6 / batch_size


def cell_key(cell):
    width, depth, batch_size, lr = cell
    return f"w{width}_d{depth}_b{batch_size}_lr{lr:g}"


def schemes(args):
    return [("he", 2.0)] + [(f"s={s:g}", s) for s in args.s]


def predicted_log_norm(s, activation, width, depth):
    spec = theory.ActivationSpec(
        activation, negative_slope=flags.LEAKY_SLOPE if activation == "leaky_relu" else None
    )
    return theory.log_norm_limit(s, spec, width=width, depth=depth - 2).mean


def init_cell(cell, args, x_train):
    """`(params, (median, mean, zero))`: the cell's networks (schemes x seeds) and
    their statistics at initialization on the first `PROBE_SIZE` training images."""
    width, depth, _, _ = cell
    orders = dict(schemes(args))

    def draw_kernel(scheme, seed):
        # He is the scheme at s = 2: every scheme is `fractional` with its own s
        return side_by_side.kernel_drawer(args.activation, orders[scheme], depth)("fractional", seed)

    dims = stacked_dense.layer_dims(x_train.shape[1], width, depth, 10)
    seeds = list(range(args.seeds))
    params = stacked_dense.init_params(draw_kernel, schemes=list(orders), seeds=seeds, dims=dims)
    return params, stacked_dense.init_statistics(params, x_train[:PROBE_SIZE], args.activation)


def _cell(text):
    width, _, depth = text.partition("x")
    return (flags.positive_int(width), flags.integer_at_least(2)(depth))


cell_list = flags.comma_list(_cell)
"""`[(width, depth), ...]` of a `WIDTHxDEPTH,...` flag."""


def run_cell(cell, args, data, out, progress):
    """Trains one cell, checkpointing after each epoch; returns its records."""
    width, depth, batch_size, lr = cell
    (x_train, _), _ = data
    scheme_list = schemes(args)
    seeds = list(range(args.seeds))
    checkpoint = out / "checkpoints" / f"{cell_key(cell)}.npz"
    state = stacked_dense.load_checkpoint(checkpoint)
    if state is None:
        drawing_start = time.perf_counter()
        params, (median, mean, zero) = init_cell(cell, args, x_train)
        state = {"params": params, "median": median, "mean": mean, "zero": zero, "history": []}
        state["seconds"] = time.perf_counter() - drawing_start
        stacked_dense.save_checkpoint(checkpoint, state)

    start = time.perf_counter() - state["seconds"]

    def on_epoch(epoch, params, metrics):
        state["params"] = params
        state["seconds"] = time.perf_counter() - start
        state["history"].append({name: np.asarray(value) for name, value in metrics.items()})
        stacked_dense.save_checkpoint(checkpoint, state)
        progress.advance(cell)

    stacked_dense.train(
        state["params"],
        data,
        seeds=seeds,
        epochs=args.epochs,
        batch_size=batch_size,
        lr=lr,
        activation=args.activation,
        on_epoch=on_epoch,
        first_epoch=len(state["history"]),
    )
    records = []
    for g, (name, s) in enumerate(scheme_list):
        prediction = predicted_log_norm(s, args.activation, width, depth)
        for j, seed in enumerate(seeds):
            records.append(
                {
                    "width": width,
                    "depth": depth,
                    "batch_size": batch_size,
                    "lr": lr,
                    "scheme": name,
                    "s": s,
                    "seed": seed,
                    "init": {
                        "median_log_ratio": float(state["median"][g, j]),
                        "mean_log_ratio": float(state["mean"][g, j]),
                        "predicted_log_ratio": prediction,
                        "zero_output": bool(state["zero"][g, j]),
                    },
                    "epochs": [
                        {metric: float(values[g, j]) for metric, values in epoch.items()}
                        for epoch in state["history"]
                    ],
                }
            )
    return records, state["seconds"]


class Progress:
    """One progress line for the whole sweep, weighted by each cell's cost."""

    def __init__(self, todo, epochs, done_weight=0.0):
        self.epochs = epochs
        self.total = sum(cell_cost(cell) * epochs for cell in todo) + done_weight
        self.done = done_weight
        self.start_done = done_weight
        self.start = time.perf_counter()

    def advance(self, cell):
        self.done += cell_cost(cell)
        self.show(cell)

    def show(self, cell=None):
        fraction = self.done / self.total if self.total else 1.0
        elapsed = time.perf_counter() - self.start
        rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        bar = "#" * int(30 * fraction)
        where = f" {cell_key(cell)}" if cell else ""
        print(
            f"\r[{bar:<30}] {100 * fraction:5.1f}%  {elapsed / 60:5.1f} min, "
            f"about {eta / 60:5.1f} min left{where:<28}",
            end="",
            file=sys.stderr,
            flush=True,
        )


def main(argv=None):
    args = build_parser().parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        (x_train, y_train), (x_test, y_test) = mnist.load_data(args.dataset, args.data_dir)
    except flags.DataUnavailable as error:
        flags.fail(str(error))
    if args.limit_train:
        x_train, y_train = x_train[: args.limit_train], y_train[: args.limit_train]
    data = (
        (mnist.preprocess(x_train), y_train.astype("int32")),
        (mnist.preprocess(x_test), y_test.astype("int32")),
    )
    results_path = out / "regime_map.json"
    config = {key: value for key, value in vars(args).items() if key != "out"}
    results = json.loads(results_path.read_text()) if results_path.exists() else {"cells": {}}
    if results.get("config", config) != config:
        flags.fail(f"{results_path} was written with other settings; use another --out")
    results["config"] = config
    todo = [cell for cell in cells(args) if cell_key(cell) not in results["cells"]]
    done_weight = sum(cell_cost(c) * args.epochs for c in cells(args) if c not in todo)
    progress = Progress(todo, args.epochs, done_weight)
    progress.show()
    for cell in todo:
        records, seconds = run_cell(cell, args, data, out, progress)
        results["cells"][cell_key(cell)] = {
            "records": records,
            "seconds": seconds,
            "backend": keras.backend.backend(),
        }
        partial = results_path.with_suffix(".partial.json")
        partial.write_text(json.dumps(results, indent=1))
        partial.replace(results_path)
    print(file=sys.stderr)
    report.write_report(results, out)
    return results


if __name__ == "__main__":
    main()
