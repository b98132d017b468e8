"""Speed of `keras_fracinit.simulate.propagate` (prints figures; not a test).

    python benchmarks/bench_simulate.py [--repeats 3]

2,000 networks x 100 layers x width 64, median of the repeats, for a Gaussian
law (exact, by rotational invariance: no weight matrices) and for laws that
need the matrices (Keras' truncated `HeNormal`, `GlorotUniform`).
`python tools/publish.py benchmarks/bench_simulate.py` puts the table into docs/benchmarks.md (see report.py).
"""

import argparse
import statistics
import time

import keras
import report

import keras_fracinit
from keras_fracinit import simulate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timings per figure (medians)")
    parser.add_argument("--sections", metavar="FILE", help=report.SECTIONS_HELP)
    args = parser.parse_args()
    cases = {
        "FractionalMomentNormal(s=1)": keras_fracinit.FractionalMomentNormal(1.0),
        "he_normal (truncated)": "he_normal",
        "glorot_uniform": "glorot_uniform",
    }
    lines = [
        f"Measured {report.machine(keras.backend.backend())} with "
        f"`python benchmarks/bench_simulate.py --repeats {args.repeats}`: 2,000 networks × 100 "
        f"layers × width 64, median of {args.repeats}.",
        "",
        "| kernel initializer | seconds |",
        "|---|---:|",
    ]
    for name, init in cases.items():
        times = []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            simulate.propagate(init, {"width": 64, "depth": 100}, networks=2000, seed=repeat)
            times.append(time.perf_counter() - start)
        lines.append(f"| {name} | {statistics.median(times):.2f} |")
    report.publish("bench_simulate", "\n".join(lines), sections=args.sections)


if __name__ == "__main__":
    main()
