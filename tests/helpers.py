"""Helpers several test modules share: statistical bounds and data sources."""

import json
import math
import os
import pathlib
import runpy
import subprocess
import sys
import textwrap

import keras


def ks_critical_value(n, alpha=1e-3):
    """Kolmogorov-Smirnov critical value at level `alpha` for `n` samples (asymptotic)."""
    return math.sqrt(-math.log(alpha / 2) / 2) / math.sqrt(n)


def block_sum_sd(alpha, samples, block):
    """Standard deviation of the block-sum tail-index estimate for symmetric alpha-stable samples.

    Var log|X| = pi^2/6 (1/alpha^2 + 1/2) for symmetric alpha-stable X (and
    for the block sums, also alpha-stable); the two means are correlated, so
    their standard deviations are added. Delta method for alpha = 1/(1/alpha).
    """
    sd_log = math.sqrt(math.pi**2 / 6 * (1 / alpha**2 + 0.5))
    sd_inverse = sd_log * (1 / math.sqrt(samples // block) + 1 / math.sqrt(samples)) / math.log(block)
    return alpha**2 * sd_inverse


def per_entry_sd(alpha, terms, block):
    """Upper bound on the standard deviation of `per_entry_tail_index` for iid symmetric alpha-stable draws.

    Each of the `terms` independent terms is `log|Y| - mean of block log|d|`
    with `Y` and the `d` symmetric alpha-stable, so its sd is at most
    `sigma (1 + 1/sqrt(block))` (Minkowski), `sigma^2 = Var log|X| =
    pi^2/6 (1/alpha^2 + 1/2)`; delta method for `alpha = 1/(1/alpha)`.
    """
    sd_log = math.sqrt(math.pi**2 / 6 * (1 / alpha**2 + 0.5))
    sd_inverse = sd_log * (1 + 1 / math.sqrt(block)) / math.sqrt(terms) / math.log(block)
    return alpha**2 * sd_inverse


def batches_py_dataset(x, y, batch_size):
    """A `keras.utils.PyDataset` of the full `(x, y)` batches, in order."""

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return len(x) // batch_size

        def __getitem__(self, i):
            return x[i * batch_size : (i + 1) * batch_size], y[i * batch_size : (i + 1) * batch_size]

    return Batches()


def run_fresh_python(code, *args, backend=None, env=None, timeout=600):
    """Runs `code` (dedented) in a new interpreter; returns its stdout.

    On `backend` (default: the current one), with `env` added to the
    environment; the run must succeed.
    """
    environment = dict(os.environ, KERAS_BACKEND=backend or keras.backend.backend(), **(env or {}))
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def last_json_line(stdout):
    """The JSON object on the last line a fresh interpreter printed."""
    return json.loads(stdout.strip().splitlines()[-1])


EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def run_example(name, args, monkeypatch):
    """Runs examples/<name>.py as `python examples/<name>.py args` would, in this process."""
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / f"{name}.py"), *map(str, args)])
    runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="__main__")


HEAVY = ("keras", "tensorflow", "jax", "torch", "matplotlib", "scipy")
# Runs each command (a module's name, or a script's path) with its arguments in
# one interpreter and reports the exit status, stderr's last line and which
# heavy modules were imported.
_RUNNER = """
import contextlib, io, json, runpy, sys
results = []
for command, args in json.loads(sys.argv[1]):
    sys.argv = [command, *args]
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            if command.endswith(".py"):
                runpy.run_path(command, run_name="__main__")
            else:
                runpy.run_module(command, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            code = stop.code
    heavy = sorted(name for name in sys.modules if name.split(".")[0] in HEAVY)
    results.append([code, (err.getvalue().strip().splitlines() or [""])[-1], heavy])
print(json.dumps(results))
""".replace("HEAVY", repr(HEAVY))


def run_without_keras(cases):
    """`[exit status, stderr's last line, heavy modules imported]` of each `[command, args]`."""
    result = subprocess.run(
        [sys.executable, "-c", _RUNNER, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return last_json_line(result.stdout)
