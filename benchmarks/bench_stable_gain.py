"""The alpha-stable gain: its accuracy against each independent check, and its cost.

    python benchmarks/bench_stable_gain.py [--repeats 9]

Accuracy (largest relative difference over the cases listed):

- the alpha = 2 identity: the Mellin-Barnes route, forced at alpha = 2,
  against the Gaussian code's `moment_gain / 2` (two methods that share
  nothing), every activation of the class and dropout, widths 1 to 10^6,
  s from 0.05 to 1.99;
- closed forms at width 1, `E|z|^s` of SaS(1), for alpha from 0.3 to 1.95;
- the second quadrature of `tests/make_reference_stable_gains.py` (QUADPACK
  on the Chambers-Mallows-Stuck double integral), with its own error bound;
- Cauchy's `psi(t)` (sine and cosine integrals), absolute, t from 1e-3 to 1e12.

Cost: a cold gain (caches cleared) and a cached one, median of `--repeats`.
`python tools/publish.py benchmarks/bench_stable_gain.py` puts the table into
docs/theory.md.
"""

import argparse
import json
import math
import pathlib
import statistics
import time

import numpy as np
import report
from scipy import special

from keras_fracinit.theory import ActivationSpec
from keras_fracinit.theory import moment_gain
from keras_fracinit.theory import stable_laplace
from keras_fracinit.theory import stable_moment_gain
from keras_fracinit.theory import stable_moments

ROOT = pathlib.Path(__file__).resolve().parents[1]
SPECS = [
    ActivationSpec("relu"),
    ActivationSpec("linear"),
    ActivationSpec("leaky_relu", negative_slope=0.2),
    ActivationSpec("rrelu"),
    ActivationSpec("relu", dropout=0.3),
]


def _forced_alpha_two(s, spec, width):
    p = 0.5 * s
    return math.exp(math.log(width) - stable_moments.log_moment(p, spec.law, 2.0, width) / p)


def alpha_two_identity():
    worst, cases = 0.0, 0
    for spec in SPECS:
        for width in (1, 2, 7, 64, 1000, 10**6):
            for s in (0.05, 0.8, 1.5, 1.99):
                expected = moment_gain(s, spec, width=width) / 2
                worst = max(worst, abs(_forced_alpha_two(s, spec, width) / expected - 1))
                cases += 1
    return worst, cases


def _abs_moment(s, alpha):
    return (
        2**s
        * special.gamma((1 + s) / 2)
        * special.gamma(1 - s / alpha)
        / (special.gamma(1 - s / 2) * math.sqrt(math.pi))
    )


def width_one_closed_forms():
    worst, cases = 0.0, 0
    for alpha in (0.3, 0.9, 1.0, 1.5, 1.95):
        for s in (0.05 * alpha, 0.5 * alpha, 0.97 * alpha):
            for spec in SPECS:
                law = spec.law
                if law.lower == law.upper:
                    slope = law.lower**s
                else:
                    slope = (law.upper ** (s + 1) - law.lower ** (s + 1)) / (
                        (s + 1) * (law.upper - law.lower)
                    )
                moment = law.keep ** (1 - s) * 0.5 * (1 + slope) * _abs_moment(s, alpha)
                got = stable_moment_gain(s, alpha, spec, width=1)
                worst = max(worst, abs(got / moment ** (-alpha / s) - 1))
                cases += 1
    return worst, cases


def second_quadrature():
    rows = json.loads((ROOT / "tests" / "data" / "reference_stable_gains.json").read_text())["rows"]
    worst, bound = 0.0, 0.0
    for row in rows:
        spec = ActivationSpec(row["activation"], **row["kwargs"])
        got = stable_moment_gain(row["s"], row["alpha"], spec, width=row["width"])
        worst = max(worst, abs(got / row["gain"] - 1))
        bound = max(bound, row["tolerance"])
    return worst, len(rows), bound


def cauchy_laplace():
    t = np.logspace(-3, 12, 301)
    si, ci = special.sici(t)
    exact = 2 / math.pi * (ci * np.sin(t) + (math.pi / 2 - si) * np.cos(t))
    got = stable_laplace.laplace(t, ActivationSpec("linear").law, 1.0)
    return float(np.max(np.abs(got - exact))), t.size


def timings(repeats):
    cold, warm = [], []
    for index in range(repeats):
        for cache in (stable_laplace._lines, stable_moments.sum_law, stable_moments.log_moment):
            cache.cache_clear()
        width = (64, 1000, 10**6)[index % 3]
        start = time.perf_counter()
        stable_moment_gain(0.8, 1.5, "rrelu", width=width)
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        stable_moment_gain(0.8, 1.5, "rrelu", width=width)
        warm.append(time.perf_counter() - start)
    return statistics.median(cold), max(cold), statistics.median(warm)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--sections", metavar="FILE", help=report.SECTIONS_HELP)
    args = parser.parse_args(argv)
    identity, identity_cases = alpha_two_identity()
    closed, closed_cases = width_one_closed_forms()
    quadrature, quadrature_cases, quadrature_bound = second_quadrature()
    cauchy, cauchy_points = cauchy_laplace()
    cold, coldest, warm = timings(args.repeats)
    markdown = (
        f"Measured {report.machine()} (`python tools/publish.py benchmarks/bench_stable_gain.py`):\n\n"
        "| check | cases | largest difference |\n|---|---:|---:|\n"
        f"| alpha = 2: the stable route against `moment_gain / 2` | {identity_cases} "
        f"| {identity:.1e} (relative) |\n"
        f"| width 1: closed forms, alpha 0.3 to 1.95 | {closed_cases} | {closed:.1e} (relative) |\n"
        f"| second quadrature (QUADPACK, its own bound {quadrature_bound:.0e}) | {quadrature_cases} "
        f"| {quadrature:.1e} (relative) |\n"
        f"| Cauchy `psi(t)`, t from 1e-3 to 1e12 | {cauchy_points} | {cauchy:.1e} (absolute) |\n\n"
        f"A cold gain (randomized Leaky ReLU, alpha = 1.5, widths 64 to 10^6) takes {cold * 1e3:.1f} ms "
        f"(median of {args.repeats}; at most {coldest * 1e3:.1f} ms), a cached one {warm * 1e6:.1f} µs."
    )
    report.publish(
        "bench_stable_gain", markdown, pages=[pathlib.Path("docs/theory.md")], sections=args.sections
    )


if __name__ == "__main__":
    main()
