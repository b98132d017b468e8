"""Speed of `keras_fracinit.simulate.propagate` (prints figures; not a test).

    python benchmarks/bench_simulate.py [--repeats 3]

2,000 networks x 100 layers x width 64, median of the repeats, for a Gaussian
law (exact, by rotational invariance: no weight matrices) and for laws that
need the matrices (Keras' truncated `HeNormal`, `GlorotUniform`).
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_fracinit  # noqa: E402
from keras_fracinit import simulate  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = {
        "FractionalMomentNormal(s=1)": keras_fracinit.FractionalMomentNormal(1.0),
        "he_normal (truncated)": "he_normal",
        "glorot_uniform": "glorot_uniform",
    }
    print(f"## simulate.propagate: 2,000 networks x 100 layers x width 64, median of {args.repeats}\n")
    print("| kernel initializer | seconds |")
    print("|---|---:|")
    for name, init in cases.items():
        times = []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            simulate.propagate(init, {"width": 64, "depth": 100}, networks=2000, seed=repeat)
            times.append(time.perf_counter() - start)
        print(f"| {name} | {statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
