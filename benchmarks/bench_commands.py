"""Wall time of the README's two commands, without their installs (prints figures).

    python benchmarks/bench_commands.py [--only tests|main_job|monitor_example] [--repeats 2]

`tests` is the README's test command (`python -m pytest`), `main_job` the
README's Fashion-MNIST example and `monitor_example` the worked example of
docs/monitoring.md (both need Debian's `dataset-fashion-mnist`).
Each runs `--repeats` times in a fresh process from the repository root;
the time is given as the range over the runs. `python tools/publish.py benchmarks/bench_commands.py`
puts the times into README.md and docs/benchmarks.md (see report.py).
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile
import time

import report

COMMANDS = {
    "tests": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
    "main_job": [
        sys.executable,
        "examples/mnist_dense.py",
        "--dataset",
        "fashion_mnist",
        "--data-dir",
        "/usr/share/datasets/fashion-mnist",
        "--out",
        "runs/fashion_mnist",
    ],
    "monitor_example": [
        sys.executable,
        "examples/monitor_fashion_mnist.py",
        "--data-dir",
        "/usr/share/datasets/fashion-mnist",
        "--out",
        "runs/monitor",
    ],
}
# The first line of each command's printed summary (the recorded output runs from there to the end).
SUMMARY_STARTS = {"main_job": "fashion_mnist: ", "monitor_example": "suggest_s at initialization"}
# Where each command's time goes besides docs/benchmarks.md.
README_QUOTES = {"tests", "main_job"}
PAGES = {"monitor_example": ["docs/monitoring.md"]}
DESCRIPTIONS = {
    "tests": "the test command (`python -m pytest`, TensorFlow backend)",
    "main_job": "the Fashion-MNIST example's training (`python examples/mnist_dense.py ...`)",
    "monitor_example": "`python examples/monitor_fashion_mnist.py ...`",
}


def _minutes(seconds):
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60} s"


def _failure(name, result):
    """What a failed run said: its assertions and summary, and where its whole output is kept.

    A failure that comes once in ten runs (a flake) must be readable from
    this run: the `E` lines of every failing test are kept, not only the
    output's tail, and the whole output is written to a file.
    """
    log = pathlib.Path(tempfile.mkdtemp(prefix="bench_commands_")) / f"{name}.log"
    log.write_text(result.stdout + "\n--- stderr ---\n" + result.stderr)
    lines = result.stdout.splitlines()
    kept = [line for line in lines if line.startswith(("E ", "FAILED", "ERROR", "_____"))]
    return (
        f"{name} failed (exit status {result.returncode}); its whole output is in {log}.\n"
        + "\n".join(kept[-200:])
        + "\n"
        + "\n".join(lines[-5:])
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=sorted(COMMANDS),
        action="append",
        help="time only this command (repeatable; default: both)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs per command (a range is reported)")
    parser.add_argument("--sections", metavar="FILE", help=report.SECTIONS_HELP)
    args = parser.parse_args()
    where = report.machine()
    for name in args.only or COMMANDS:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = subprocess.run(COMMANDS[name], cwd=report.ROOT, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if result.returncode != 0:
                sys.exit(_failure(name, result))
        tail = result.stdout.strip().splitlines()[-1]  # pytest's closing line (last run)
        span = " to ".join(dict.fromkeys(_minutes(seconds) for seconds in (min(times), max(times))))
        command = f"python benchmarks/bench_commands.py --only {name} --repeats {args.repeats}"
        text = f"{DESCRIPTIONS[name]} took {span} in {args.repeats} runs ({where}; `{command}`)."
        if name == "tests":
            text = text[:-1] + f"; the last printed {tail.strip('= ')}."
        else:  # what the run printed last: its summary, from its first line on
            lines = result.stdout.strip().splitlines()
            start = max(i for i, line in enumerate(lines) if line.startswith(SUMMARY_STARTS[name]))
            summary = lines[start:]
            text += " The last run printed, at its end:\n\n```text\n" + "\n".join(summary) + "\n```"
        report.publish(
            f"time_{name}",
            text,
            readme=text if name in README_QUOTES else None,
            pages=PAGES.get(name, ()),
            sections=args.sections,
        )


if __name__ == "__main__":
    main()
