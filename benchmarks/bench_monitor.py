"""Epoch-time overhead of `FractionalMomentMonitor` (prints figures; not a test).

    python benchmarks/bench_monitor.py [--rounds 3] [--epochs 4]
    KERAS_BACKEND=jax python benchmarks/bench_monitor.py

The paper's MNIST-shaped stack (784 -> 20 Dense(64, relu) -> 10), 60,000
samples of random data (timing does not depend on the values), batch 128,
SGD. Each configuration trains a fresh model for `--epochs` epochs in each of
`--rounds` interleaved rounds; the first epoch of every fit (which traces the
train function) is left out, and the median of the rest is reported with its
ratio to training without callbacks. Epoch time runs from `on_epoch_begin` to
the end of every callback's `on_epoch_end`, so the monitor's measurement and
TensorBoard's histograms are inside it. The monitor's one-off set-up (probe,
tap model, first measurement in `on_train_begin`) is outside epochs and is
reported on its own. The monitor also times its own epoch-end work, the
overhead proper, which whole-epoch differences (noisy at the percent level on
a shared machine) can only bound. `python tools/publish.py benchmarks/bench_monitor.py` puts the backend's
table into docs/benchmarks.md (see report.py).
"""

import argparse
import os
import statistics
import tempfile
import time

import keras
import numpy as np
import report

import keras_fracinit
from fracinit_experiments.protocol import EpochTimer


class TimedMonitor(keras_fracinit.FractionalMomentMonitor):
    """The monitor, timing its own epoch-end work."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seconds = []

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        super().on_epoch_end(epoch, logs)
        self.seconds.append(time.perf_counter() - start)


def paper_stack(s=1.0):
    # One generator for all layers: distinct kernels, reproducible.
    init = keras_fracinit.FractionalMomentNormal(s, seed=keras.random.SeedGenerator(0))
    layers = [keras.Input((784,))]
    layers += [keras.layers.Dense(64, "relu", kernel_initializer=init) for _ in range(20)]
    layers += [keras.layers.Dense(10)]
    model = keras.Sequential(layers)
    model.compile(
        keras.optimizers.SGD(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every configuration")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fit (the first is left out)")
    parser.add_argument("--sections", metavar="FILE", help=report.SECTIONS_HELP)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((60_000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 60_000)
    log_root = tempfile.mkdtemp(prefix="bench_monitor_")
    configs = {
        "no callback": lambda: [],
        "FractionalMomentMonitor() (defaults)": lambda: [TimedMonitor()],
        # The same as the first row: how far two identical runs differ here.
        "no callback (again)": lambda: [],
        "TensorBoard(histogram_freq=1)": lambda: [
            keras.callbacks.TensorBoard(os.path.join(log_root, str(time.time())), histogram_freq=1)
        ],
    }
    epochs = {name: [] for name in configs}
    setup, own = [], []
    for _ in range(args.rounds):
        for name, make in configs.items():
            model = paper_stack()
            callbacks = make()
            timer = EpochTimer()
            start = time.perf_counter()
            model.fit(x, y, batch_size=128, epochs=args.epochs, verbose=0, callbacks=[*callbacks, timer])
            if callbacks and isinstance(callbacks[0], TimedMonitor):
                setup.append(timer.train_begin - start)
                own.extend(callbacks[0].seconds[1:])
            epochs[name].extend(timer.seconds[1:])
    base = statistics.median(epochs["no callback"])
    backend = keras.backend.backend()
    lines = [
        f"Measured {report.machine(backend)} with `KERAS_BACKEND={backend} python "
        f"benchmarks/bench_monitor.py --rounds {args.rounds} --epochs {args.epochs}`: "
        f"784 → 20 × 64 → 10, 60,000 samples, batch 128; median of {args.rounds} rounds × "
        f"{args.epochs - 1} epochs.",
        "",
        "| callbacks | median epoch (s) | ratio to none | overhead |",
        "|---|---:|---:|---:|",
    ]
    for name, times in epochs.items():
        median = statistics.median(times)
        lines.append(f"| {name} | {median:.3f} | {median / base:.3f} | {100 * (median / base - 1):+.1f}% |")
    work = statistics.median(own)
    lines += [
        "",
        f"Monitor's own epoch-end work: {1e3 * work:.1f} ms, {100 * work / base:.2f}% of an "
        f"epoch without callbacks (median of {len(own)}). Fit set-up until the first "
        f"epoch with the monitor (probe, tap model, first measurement, and Keras' own "
        f"set-up): {statistics.median(setup):.2f} s.",
    ]
    report.publish(f"bench_monitor_{backend}", "\n".join(lines), sections=args.sections)


if __name__ == "__main__":
    main()
