"""Speed of the exact gain and of drawing kernels (prints figures; not a test).

    python benchmarks/bench_initializers.py [--repeats 9]

Gain: cold (cache cleared) and warm (cached) time of
`keras_fracinit.theory.moment_gain` per activation and width, median of the
repeats. Targets: warm <= 10 us; cold <= 5 ms for relu, leaky_relu, linear and
<= 50 ms for rrelu at any width up to 10^6.

Drawing: a 4096 x 4096 float32 kernel with `FractionalMomentNormal`, with
`keras.random.normal` at a fixed standard deviation, and with Keras'
`HeNormal`, each timed in the same run (median of the repeats) and reported as
a ratio to `keras.random.normal`. Target: <= 1.05.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import keras_fracinit  # noqa: E402
from keras_fracinit.theory import moments  # noqa: E402

WIDTHS = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
ACTIVATIONS = ("relu", "leaky_relu", "rrelu", "linear")


def _median_seconds(fn, repeats, setup=None):
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_gain(repeats, s=0.8):
    print(f"## Gain g_s(m), s = {s}: median of {repeats} (cold: cache cleared)\n")
    print("| activation | width | cold (ms) | warm (us) |")
    print("|---|---:|---:|---:|")
    worst = {}
    for activation in ACTIVATIONS:
        for width in WIDTHS:
            call = lambda a=activation, m=width: moments.moment_gain(s, a, width=m)  # noqa: E731
            cold = _median_seconds(call, repeats, moments.log_gain_for_law.cache_clear)
            call()
            warm = statistics.median(
                _median_seconds(call, 1) for _ in range(max(repeats, 101))
            )
            old_cold, old_warm = worst.get(activation, (0.0, 0.0))
            worst[activation] = (max(old_cold, cold), max(old_warm, warm))
            print(f"| {activation} | {width:,} | {cold * 1e3:.3f} | {warm * 1e6:.2f} |")
    print()
    return worst


def _block(x):
    # JAX dispatches asynchronously; TF and torch on the CPU are eager.
    if hasattr(x, "block_until_ready"):
        x.block_until_ready()
    return x


def bench_draw(repeats, shape=(4096, 4096)):
    ours = keras_fracinit.FractionalMomentNormal(0.8, seed=1)
    stddev = ours.stddev(shape)
    he = keras.initializers.HeNormal(seed=1)
    candidates = {
        "keras.random.normal (fixed stddev)": lambda: keras.random.normal(
            shape, stddev=stddev, dtype="float32", seed=1
        ),
        "FractionalMomentNormal(s=0.8)": lambda: ours(shape, dtype="float32"),
        "HeNormal (truncated)": lambda: he(shape, dtype="float32"),
    }
    for fn in candidates.values():  # warm up kernels and the gain cache
        _block(fn())
    # Interleave the candidates so that machine noise hits all alike.
    times = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            _block(fn())
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["keras.random.normal (fixed stddev)"])
    print(
        f"## Drawing a {shape[0]}x{shape[1]} float32 kernel, backend "
        f"{keras.backend.backend()}: median of {repeats}\n"
    )
    print("| initializer | median (ms) | ratio to keras.random.normal |")
    print("|---|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median * 1e3:.2f} | {median / base:.3f} |")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    worst = bench_gain(args.repeats)
    print("Worst case over widths: " + "; ".join(
        f"{name} cold {cold * 1e3:.2f} ms, warm {warm * 1e6:.1f} us"
        for name, (cold, warm) in worst.items()
    ))
    print()
    bench_draw(args.repeats)


if __name__ == "__main__":
    main()
