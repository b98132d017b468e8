"""Estimated wall time of the default regime-map sweep on this machine (prints figures).

    KERAS_BACKEND=jax python benchmarks/bench_regime_map.py [--fraction 0.2] [--check 8x10,16x50]

For every cell of `fracinit_experiments.regime_map`'s default sweep this draws the
cell's networks (5 schemes x 5 seeds) as the sweep does, then times one
training pass over `--fraction` of an epoch's mini-batches twice (the first
call compiles) and the test evaluation twice. A cell's estimate is
set-up + compilation + epochs x (pass / fraction + evaluation). The data are
random arrays of MNIST's shapes (60,000 + 10,000 images of 784 values): the
time does not depend on the values. `--check` also trains the listed
cells (WIDTHxDEPTH at batch 128) in full through the sweep's own code, with
its checkpoints, and prints the time they took next to their estimate. Run
it on an otherwise idle machine. `python tools/publish.py benchmarks/bench_regime_map.py` puts the
tables into docs/benchmarks.md (see report.py).
"""

import argparse
import pathlib
import sys
import time

import numpy as np
import report

from fracinit_experiments import regime_map
from fracinit_experiments import stacked_dense

TARGET_MINUTES = 90


def _seconds(function):
    start = time.perf_counter()
    result = function()
    np.asarray(result[-1] if isinstance(result, tuple) else result)  # waits for the device
    return time.perf_counter() - start, result


def time_cell(cell, args, data, fraction):
    """`{setup, compile, train_epoch, evaluate, estimate}` seconds of one cell."""
    _, _, batch_size, lr = cell
    (x_train, y_train), (x_test, y_test) = data
    seeds = list(range(args.seeds))

    def setup():
        params, (_, _, zero) = regime_map.init_cell(cell, args, x_train)
        return params, zero

    setup_seconds, (params, _) = _seconds(setup)
    all_batches = stacked_dense.epoch_batches(len(x_train), batch_size, seeds, 0)
    batches = all_batches[: max(1, int(round(fraction * len(all_batches))))]

    def train_pass():
        return stacked_dense.train_epoch(params, x_train, y_train, batches, lr, activation=args.activation)

    def evaluate():
        return stacked_dense.evaluate(params, x_test, y_test, args.activation)

    first_train, _ = _seconds(train_pass)
    train_seconds, _ = _seconds(train_pass)
    first_eval, _ = _seconds(evaluate)
    eval_seconds, _ = _seconds(evaluate)
    epoch = train_seconds * len(all_batches) / len(batches) + eval_seconds
    compile_seconds = max(first_train - train_seconds, 0.0) + max(first_eval - eval_seconds, 0.0)
    return {
        "setup": setup_seconds,
        "compile": compile_seconds,
        "epoch": epoch,
        "estimate": setup_seconds + compile_seconds + args.epochs * epoch,
    }


def run_cell(cell, args, data):
    """Seconds the sweep's own code takes to train `cell` in full (checkpoints included)."""
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        regime_map.run_cell(cell, args, data, pathlib.Path(out), regime_map.Progress([cell], args.epochs))
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.2, help="share of an epoch's mini-batches timed")
    parser.add_argument(
        "--check", type=regime_map.cell_list, default=[], help="WIDTHxDEPTH cells to train in full as a check"
    )
    parser.add_argument("--sections", metavar="FILE", help=report.SECTIONS_HELP)
    options = parser.parse_args()
    import jax
    import jax.numpy as jnp

    args = regime_map.build_parser().parse_args([])  # the default sweep
    rng = np.random.default_rng(0)
    x_train = jnp.asarray(rng.uniform(-1, 1, (60000, 784)).astype("float32"))
    y_train = jnp.asarray(rng.integers(0, 10, 60000).astype("int32"))
    x_test = rng.uniform(-1, 1, (10000, 784)).astype("float32")
    data = ((x_train, y_train), (x_test, rng.integers(0, 10, 10000).astype("int32")))
    lines = [
        "| cell | set-up (s) | compilation (s) | one epoch (s) | 10 epochs, estimated (min) |",
        "|---|---:|---:|---:|---:|",
    ]
    total, estimates = 0.0, {}
    for cell in regime_map.cells(args):
        timing = time_cell(cell, args, data, options.fraction)
        total += timing["estimate"]
        estimates[cell[:3]] = timing["estimate"]
        lines.append(
            f"| {regime_map.cell_key(cell)} | {timing['setup']:.1f} | {timing['compile']:.1f} | "
            f"{timing['epoch']:.1f} | {timing['estimate'] / 60:.1f} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    verdict = "within" if total / 60 <= TARGET_MINUTES else "over"
    lines += [
        "",
        f"Default sweep ({len(regime_map.cells(args))} cells, {args.seeds} seeds, 5 schemes, "
        f"{args.epochs} epochs), estimated: **{total / 60:.0f} min**, {verdict} the "
        f"{TARGET_MINUTES}-minute target. Measured {report.machine()}, JAX {jax.__version__} on the CPU, "
        f"timing {options.fraction:g} of each epoch's mini-batches; "
        "`python benchmarks/bench_regime_map.py`.",
    ]
    if options.check:
        lines += ["", "| cell | estimated (s) | trained in full by the sweep's code (s) |", "|---|---:|---:|"]
        for width, depth in options.check:
            cell = (width, depth, args.batch_size, args.lr[0])
            seconds = run_cell(cell, args, ((np.asarray(x_train), np.asarray(y_train)), data[1]))
            lines.append(f"| {regime_map.cell_key(cell)} | {estimates[cell[:3]]:.0f} | {seconds:.0f} |")
    report.publish("bench_regime_map", "\n".join(lines), sections=options.sections)


if __name__ == "__main__":
    main()
