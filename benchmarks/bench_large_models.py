"""`initialize` on large models: peak extra memory and time against a plain per-kernel loop.

    python benchmarks/bench_large_models.py [--sizes 201M,1B] [--backends tensorflow,jax] [--alpha 1.5]

(`--sizes` also takes LAYERSxWIDTH, e.g. 4x2048; `--json` prints the rows as
JSON instead of the table, for tests, and with it `--method CALL`, repeated,
measures only those calls.)

The model: a stack of square Dense ReLU layers (12 of width 4096, 201 M
parameters, 768 MiB of float32 kernels; or 16 of width 8192, 1.07 B
parameters, 4 GiB) and a small GELU head, a kernel outside the paper's
class, so that `calibrate_with` has one kernel to calibrate. Each row runs
in a fresh process: the same call on a 2-layer model first (so that the
backend's one-off start-up, its thread pools and compiler, is not counted),
then the model is built and one call is measured (compiling for its shapes
included), with the process's resident memory sampled every millisecond;
the peak extra memory is the highest sample minus the one before the call.

- plain loop: `variable.assign(VarianceScaling(2.0,
  distribution="untruncated_normal")(shape))` for every kernel, Keras' own
  way;
- initialize: `keras_fracinit.initialize(model, 1.0, seed=0,
  calibrate_with=x)` (8 inputs);
- initialize, failing: the same with a batch of the wrong width, which must
  fail before the first draw and cost no copy of the model.

With `--alpha A` (below 2) every call draws symmetric alpha-stable weights
(`initialize(..., alpha=A)`; the plain loop assigns `FractionalMomentStable(1.0, A)`'s
draws), and one more row times the Gaussian `initialize` of the same model.

The goals: peak extra memory at most 1.5 x the largest kernel plus a few
MiB, and initialize's time at most 1.25 x the plain loop's; stable draws
also at most 2 x the Gaussian initialize's time.
`python tools/publish.py benchmarks/bench_large_models.py` puts the table into
docs/benchmarks.md and docs/large-models.md.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import report

SIZES = {"201M": (12, 4096), "1B": (16, 8192)}
METHODS = ("plain loop", "initialize", "initialize, failing")
MIB = 2**20

CHILD = """
import json, os, sys, threading, time, warnings
import numpy as np
import keras
import keras_fracinit

layers, width, method, alpha = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
page = os.sysconf("SC_PAGE_SIZE")


def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * page


def build(layers, width):
    return keras.Sequential(
        [keras.Input((width,))]
        + [keras.layers.Dense(width, activation="relu", use_bias=False) for _ in range(layers)]
        + [keras.layers.Dense(16, activation="gelu")]
    )


if alpha == 2.0:
    plain = keras.initializers.VarianceScaling(2.0, distribution="untruncated_normal", seed=0)
else:
    plain = keras_fracinit.FractionalMomentStable(1.0, alpha, seed=keras.random.SeedGenerator(0))


def call(model, x):
    kernels = [w for w in model.weights if w.name == "kernel"]
    if method == "plain loop":
        for kernel in kernels:
            kernel.assign(plain(tuple(kernel.shape)))
    elif method == "initialize":
        keras_fracinit.initialize(model, 1.0, alpha=alpha, seed=0, calibrate_with=x)
    elif method == "Gaussian initialize":
        keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)
    else:
        try:
            keras_fracinit.initialize(model, 1.0, alpha=alpha, seed=0, calibrate_with=x[:, :-1])
        except ValueError:
            pass
        else:
            raise SystemExit("the failing call did not fail")
    settle(kernels)


def settle(kernels):
    # waits for asynchronous work on the kernels (JAX), reading one entry of each: no temporary
    return [float(keras.ops.convert_to_numpy(k[:1, :1])[0, 0]) for k in kernels]


peak = [rss()]
running = True


def sample():
    while running:
        peak[0] = max(peak[0], rss())
        time.sleep(0.001)


# The same call on a small model first: the backend's one-off start-up
# (thread pools, the compiler) is not the model's memory.
small = build(2, 64)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    call(small, np.ones((8, 64), "float32"))
model = build(layers, width)
x = np.random.default_rng(0).normal(size=(8, width)).astype("float32")
kernels = [w for w in model.weights if w.name == "kernel"]
settle(kernels)  # the model's own initialization is done
before = rss()
peak[0] = before
sampler = threading.Thread(target=sample)
sampler.start()
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    call(model, x)
seconds = time.perf_counter() - start
running = False
sampler.join()
peak[0] = max(peak[0], rss())
print(json.dumps({"seconds": seconds, "extra": peak[0] - before,
                  "parameters": sum(int(np.prod(k.shape)) for k in kernels),
                  "largest": max(int(np.prod(k.shape)) * 4 for k in kernels)}))
"""


def measure(backend, layers, width, method, alpha=2.0):
    """One row: a fresh process builds the model and measures one call."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(layers), str(width), method, str(alpha)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{backend} {method} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows):
    stable = any("Gaussian initialize" in measured for measured in rows.values())
    lines = [
        "| backend | parameters | largest kernel | call | time | peak extra memory "
        "| ÷ largest kernel | time ÷ plain loop |" + (" time ÷ Gaussian initialize |" if stable else ""),
        "|---|---:|---:|---|---:|---:|---:|---:|" + ("---:|" if stable else ""),
    ]
    for (backend, _size), measured in rows.items():
        plain = measured["plain loop"]["seconds"]
        for method, row in measured.items():
            lines.append(
                f"| {backend} | {row['parameters'] / 1e6:,.0f} M | {row['largest'] / MIB:,.0f} MiB "
                f"| {method} | {row['seconds']:.2f} s | {row['extra'] / MIB:,.0f} MiB "
                f"| {row['extra'] / row['largest']:.2f} | {row['seconds'] / plain:.2f} |"
                + (f" {row['seconds'] / measured['Gaussian initialize']['seconds']:.2f} |" if stable else "")
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="201M,1B", help=f"comma-separated, of {sorted(SIZES)} or LAYERSxWIDTH"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--alpha", type=float, default=2.0, help="stability index of the weights, in (0, 2]")
    parser.add_argument("--sections", metavar="FILE", help=report.SECTIONS_HELP)
    parser.add_argument(
        "--method",
        action="append",
        choices=(*METHODS, "Gaussian initialize"),
        help="measure only this call (repeatable; with --json: the table's ratios need every call)",
    )
    args = parser.parse_args(argv)
    if args.method and not args.json:
        parser.error("--method goes with --json: the table's ratios need every call")
    methods = args.method or (METHODS if args.alpha == 2.0 else (*METHODS, "Gaussian initialize"))
    rows = {}
    for backend in args.backends.split(","):
        for size in args.sizes.split(","):
            layers, width = SIZES[size] if size in SIZES else map(int, size.split("x"))
            rows[backend, size] = {m: measure(backend, layers, width, m, args.alpha) for m in methods}
            print(f"{backend} {size}: " + json.dumps(rows[backend, size]), file=sys.stderr)
    if args.json:
        print(json.dumps({f"{backend} {size}": measured for (backend, size), measured in rows.items()}))
        return
    flags = "" if args.alpha == 2.0 else f" --alpha {args.alpha:g}"
    markdown = (
        f"Measured {report.machine()}; each row in a fresh process "
        f"(`python tools/publish.py benchmarks/bench_large_models.py{flags}`):\n\n" + table(rows)
    )
    name = "bench_large_models" if args.alpha == 2.0 else "bench_large_models_stable"
    report.publish(name, markdown, pages=[pathlib.Path("docs/large-models.md")], sections=args.sections)


if __name__ == "__main__":
    main()
