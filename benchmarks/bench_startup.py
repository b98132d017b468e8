"""Start-up time of the command line and of the pure-numpy half (prints figures).

    python benchmarks/bench_startup.py [--repeats 5]

Each command runs in a fresh interpreter; the figure is the median wall time
of the repeats. `keras_fracinit.theory` and the command line import numpy and
scipy only, and every example and harness command checks its flags before Keras starts, so they
start in a fraction of the time that Keras with its backend takes (the last
row, for comparison). `python tools/publish.py benchmarks/bench_startup.py` puts the
table into docs/benchmarks.md and the summary into README.md (see report.py).
"""

import argparse
import pathlib
import statistics
import subprocess
import sys
import time

import report

import fracinit_experiments

EXAMPLES = sorted(
    path.name
    for path in (report.ROOT / "examples").glob("*.py")
    if 'if __name__ == "__main__":' in path.read_text()
)
HARNESS = sorted(
    path.stem
    for path in pathlib.Path(fracinit_experiments.__file__).parent.glob("*.py")
    if 'if __name__ == "__main__":' in path.read_text()
)
COMMANDS = {
    "python -m keras_fracinit table": [sys.executable, "-m", "keras_fracinit", "table"],
    **{
        f"python examples/{name} --help": [sys.executable, str(report.ROOT / "examples" / name), "--help"]
        for name in EXAMPLES
    },
    **{
        f"python -m fracinit_experiments.{name} --help": [
            sys.executable,
            "-m",
            f"fracinit_experiments.{name}",
            "--help",
        ]
        for name in HARNESS
    },
    "python -c 'import keras_fracinit.theory'": [sys.executable, "-c", "import keras_fracinit.theory"],
    "python -c 'import keras_fracinit, keras' (Keras and its backend)": [
        sys.executable,
        "-c",
        "import keras_fracinit, keras",
    ],
}


def median_seconds(command, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (median)")
    parser.add_argument("--sections", metavar="FILE", help=report.SECTIONS_HELP)
    args = parser.parse_args()
    where = report.machine()
    lines = [
        f"Measured {where} with `python benchmarks/bench_startup.py --repeats {args.repeats}`: "
        f"wall time of a fresh interpreter, median (range) of {args.repeats} runs.",
        "",
        "| command | median (s) | range (s) |",
        "|---|---:|---:|",
    ]
    results = {}
    for name, command in COMMANDS.items():
        median, low, high = median_seconds(command, args.repeats)
        results[name] = median
        lines.append(f"| `{name}` | {median:.2f} | {low:.2f}–{high:.2f} |")
    table, keras_start = results["python -m keras_fracinit table"], list(results.values())[-1]
    helps = [seconds for name, seconds in results.items() if name.endswith(" --help")]
    readme = (
        f"`python -m keras_fracinit table` starts in {table:.2f} s (median of {args.repeats}, "
        f"measured {where}): the theory and the command line never import Keras or a backend, "
        f"which alone take {keras_start:.1f} s to start; every example's and harness command's "
        f"`--help` answers in {min(helps):.2f}–{max(helps):.2f} s."
    )
    report.publish("bench_startup", "\n".join(lines), readme=readme, sections=args.sections)


if __name__ == "__main__":
    main()
