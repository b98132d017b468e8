"""Tail-index estimators on noise of known law: bias, spread and verdicts (prints a table).

    python benchmarks/tail_index_validation.py [--seeds 20]

Noise comes as draws (one per mini-batch) of many entries, at the sizes the
library uses: the monitor's (8 mini-batches x 65,536 kept entries) and
`suggest_s`'s default on a 64 x 64 kernel (32 mini-batches x 4,096 entries).
For every law and seed it reports

- block sum, pooled: `block_sum_tail_index` of the noise centred per entry
  and pooled over entries (what the library computed before);
- block sum, per entry: `per_entry_tail_index` (after standardization);
- Hill, pooled and Hill, per entry: `hill_tail_index` of the same two samples
  (`standardized_noise` for the second);
- the verdict of `assess_heavy_tails`, counted over seeds, and its run time.

The block-sum estimators target the stable index `min(tail index, 2)`; Hill
targets the tail index of `|X|` itself (infinite for Gaussian laws).
`python tools/publish.py benchmarks/tail_index_validation.py` puts the table into docs/monitoring.md.
"""

import argparse
import math
import statistics
import time

import numpy as np
import report
from scipy import stats

from keras_fracinit import tails

SIZES = {"monitor": (8, 65536), "suggest_s": (32, 4096)}


def _stable(alpha):
    def draw(rng, shape):
        if alpha == 2:
            return rng.standard_normal(shape)
        return stats.levy_stable.rvs(alpha, 0.0, size=shape, random_state=rng)

    return draw


def _student(nu):
    return lambda rng, shape: rng.standard_t(nu, shape)


def _scaled(draw, spread):
    """Each entry (column) of `draw` times its own log-normal scale exp(N(0, spread^2))."""
    return lambda rng, shape: draw(rng, shape) * np.exp(spread * rng.standard_normal(shape[1]))


def _sparse(draw, fraction):
    """`draw` set exactly to zero on a random `fraction` of (mini-batch, entry) cells."""

    def sparse(rng, shape):
        values = draw(rng, shape)
        values[rng.random(shape) < fraction] = 0.0
        return values

    return sparse


def _correlated(rho):
    """Gaussian draws whose entries share a common factor per draw (correlation rho)."""
    return lambda rng, shape: (
        math.sqrt(rho) * rng.standard_normal((shape[0], 1)) + math.sqrt(1 - rho) * rng.standard_normal(shape)
    )


# name -> (draw(rng, (draws, entries)), stable-index target, tail index of |X|)
LAWS = {
    "Gaussian (α-stable, α = 2)": (_stable(2), 2.0, math.inf),
    "α-stable, α = 1.8": (_stable(1.8), 1.8, 1.8),
    "α-stable, α = 1.5": (_stable(1.5), 1.5, 1.5),
    "α-stable, α = 1": (_stable(1.0), 1.0, 1.0),
    "Student t, ν = 1.5": (_student(1.5), 1.5, 1.5),
    "Student t, ν = 3": (_student(3), 2.0, 3.0),
    "Student t, ν = 10": (_student(10), 2.0, 10.0),
    "Gaussian × per-entry scale exp(N(0, 0.5²))": (_scaled(_stable(2), 0.5), 2.0, math.inf),
    "Gaussian × per-entry scale exp(N(0, 1))": (_scaled(_stable(2), 1.0), 2.0, math.inf),
    "Gaussian × per-entry scale exp(N(0, 2²))": (_scaled(_stable(2), 2.0), 2.0, math.inf),
    "α-stable 1.5 × per-entry scale exp(N(0, 1))": (_scaled(_stable(1.5), 1.0), 1.5, 1.5),
    "Gaussian, mean 1, sd 1": (lambda rng, shape: 1.0 + rng.standard_normal(shape), 2.0, math.inf),
    "Gaussian, zero on 40% of mini-batches (inactive units)": (_sparse(_stable(2), 0.4), 2.0, math.inf),
    "α-stable 1.5, zero on 40% of mini-batches": (_sparse(_stable(1.5), 0.4), 1.5, 1.5),
    "Gaussian, correlation 0.1 between entries": (_correlated(0.1), 2.0, math.inf),
    "Gaussian, correlation 0.5 between entries": (_correlated(0.5), 2.0, math.inf),
}


def estimates(draws, seed):
    noise = draws - draws.mean(axis=0)
    standardized = tails.standardized_noise(draws)
    start = time.perf_counter()
    verdict = tails.assess_heavy_tails(draws, seed=seed).verdict
    seconds = time.perf_counter() - start
    values = {
        "block sum, pooled": tails.block_sum_tail_index(noise),
        "block sum, per entry": tails.per_entry_tail_index(draws),
        "Hill, pooled": tails.hill_tail_index(noise),
        "Hill, per entry": tails.hill_tail_index(standardized),
    }
    return values, verdict, seconds


def cell(values, target):
    values = np.asarray(values)
    if math.isinf(target):
        return f"{values.mean():.2f} ({values.std(ddof=1):.2f})"
    return f"{values.mean() - target:+.2f} ({values.std(ddof=1):.2f})"


def table(size, seeds):
    count, entries = SIZES[size]
    lines = [
        f"**{size}**: {count} mini-batches × {entries:,} entries, {seeds} seeds. Block-sum "
        "columns: bias against min(tail index, 2), then sd over seeds; Hill columns: bias against "
        "the tail index of |X|, or the mean where that is infinite (Gaussian laws, shown in "
        "italics). Verdicts of `assess_heavy_tails`: heavy-tailed / not heavy-tailed / inconclusive.",
        "",
        "| law | block sum, pooled | block sum, per entry | Hill, pooled | Hill, per entry | verdicts |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    times = []
    for name, (draw, target, hill_target) in LAWS.items():
        found, verdicts = {}, []
        for seed in range(seeds):
            draws = draw(np.random.default_rng(seed), (count, entries))
            values, verdict, seconds = estimates(draws, seed)
            for key, value in values.items():
                found.setdefault(key, []).append(value)
            verdicts.append(verdict)
            times.append(seconds)
        hill = [cell(found[key], hill_target) for key in ("Hill, pooled", "Hill, per entry")]
        if math.isinf(hill_target):
            hill = [f"*{value}*" for value in hill]
        counts = " / ".join(str(verdicts.count(v)) for v in tails.VERDICTS)
        lines.append(
            f"| {name} | {cell(found['block sum, pooled'], target)} | "
            f"{cell(found['block sum, per entry'], target)} | {hill[0]} | {hill[1]} | {counts} |"
        )
        print(f"{size}: {name} done", flush=True)
    lines += ["", f"`assess_heavy_tails` (20 null replicates) took {statistics.median(times):.2f} s median."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds per law and size")
    parser.add_argument("--sections", metavar="FILE", help=report.SECTIONS_HELP)
    args = parser.parse_args()
    if args.seeds < 2:
        parser.error(f"argument --seeds: must be at least 2 (an sd over seeds). Received: {args.seeds}")
    parts = [
        f"Measured {report.machine()} with `python benchmarks/tail_index_validation.py --seeds {args.seeds}`."
    ]
    parts += [table(size, args.seeds) for size in SIZES]
    markdown = "\n\n".join(parts)
    report.publish(
        "tail_index_validation",
        markdown,
        pages=["docs/monitoring.md"],
        sections=args.sections,
        benchmarks_page=False,
    )


if __name__ == "__main__":
    main()
