"""The monitor's cost on a small LSTM + attention model (prints figures; not a test).

    python benchmarks/bench_monitor_recurrent.py [--rounds 5]
    KERAS_BACKEND=jax python benchmarks/bench_monitor_recurrent.py

A recurrent layer feeding a self-attention block and a dense head
(inputs (20, 8) -> LSTM(32) -> MultiHeadAttention(2 heads of 16) -> average
pooling -> Dense(4)), 512 samples in batches of 32: 16 steps per epoch, 3
epochs, Adam. `initialize` leaves the LSTM's kernels alone; the monitor
still measures them, over their layer, and attention's query, key and value
kernels, which run inside the attention layer's call(). Each round fits a
fresh model with and without the monitor (interleaved); whole fits
(tracing included) are timed, and the median ratio is the overhead. One
measurement (`monitor.measure()` after the fit) is timed against one
training step (an epoch after the first, divided by its 16 steps).
Goals: whole-fit ratio at most 1.25; one measurement at most 5 steps.
`python tools/publish.py benchmarks/bench_monitor_recurrent.py` puts the
table into docs/benchmarks.md.
"""

import argparse
import statistics
import time

import keras
import numpy as np
import report

import keras_fracinit
from fracinit_experiments.protocol import EpochTimer

STEPS, EPOCHS, BATCH = 16, 3, 32


def lstm_attention(seed):
    inputs = keras.Input((20, 8))
    x = keras.layers.LSTM(32, return_sequences=True, seed=seed)(inputs)
    x = keras.layers.MultiHeadAttention(2, 16, seed=seed)(x, x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def one_round(x, y, seed, monitored):
    model = lstm_attention(seed)
    timer = EpochTimer()
    callbacks = [keras_fracinit.FractionalMomentMonitor(1.0)] if monitored else []
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[*callbacks, timer])
    fit = time.perf_counter() - start
    step = statistics.median(timer.seconds[1:]) / STEPS
    measures = []
    if monitored:
        for _ in range(5):
            begin = time.perf_counter()
            callbacks[0].measure()
            measures.append(time.perf_counter() - begin)
    return fit, step, measures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of both configurations")
    parser.add_argument("--sections", metavar="FILE", help=report.SECTIONS_HELP)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 20, 8)).astype("float32")
    y = rng.integers(0, 4, len(x))
    fits = {False: [], True: []}
    steps, measures = [], []
    for round_index in range(args.rounds):
        for monitored in (False, True):
            fit, step, measured = one_round(x, y, round_index, monitored)
            fits[monitored].append(fit)
            steps.append(step)
            measures += measured
    ratio = statistics.median(a / b for a, b in zip(fits[True], fits[False]))
    step, measure = statistics.median(steps), statistics.median(measures)
    backend = keras.backend.backend()
    text = "\n".join(
        [
            f"Measured {report.machine(backend)} with `KERAS_BACKEND={backend} python "
            f"benchmarks/bench_monitor_recurrent.py --rounds {args.rounds}`: (20, 8) → LSTM(32) → "
            f"MultiHeadAttention(2 × 16) → pooling → Dense(4), {EPOCHS} epochs of {STEPS} steps of "
            f"{BATCH}; medians of {args.rounds} rounds.",
            "",
            "| figure | value | goal |",
            "|---|---:|---:|",
            f"| whole fit without the monitor (s) | {statistics.median(fits[False]):.2f} | |",
            f"| whole fit with the monitor (s) | {statistics.median(fits[True]):.2f} | |",
            f"| ratio (median of per-round ratios) | {ratio:.3f} | ≤ 1.25 |",
            f"| one training step (ms) | {1e3 * step:.1f} | |",
            f"| one measurement (ms) | {1e3 * measure:.1f} | |",
            f"| one measurement in training steps | {measure / step:.2f} | ≤ 5 |",
        ]
    )
    report.publish(f"bench_monitor_recurrent_{backend}", text, sections=args.sections)


if __name__ == "__main__":
    main()
