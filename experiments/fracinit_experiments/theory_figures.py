"""Regenerates the paper-style figures of docs/theory.md as PNG files.

    python -m fracinit_experiments.theory_figures [--out docs/figures] [--networks 20000]

1. `gain.png`: the weight scale sigma * sqrt(fan_in) against s (width 64)
   and against the width (s = 0.8): exact, the authors' large-width
   approximation, and He.
2. `moment_vs_depth.png`: E[(r_k / r_0)^s] over depth for the s-moment
   scheme and for He, s = 0.5, 1, 1.5 (simulated, with 95% bands).
3. `log_norm_histogram.png`: log(||x_100|| / ||x_0||) simulated against the
   predicted Gaussian (ReLU, width 64), He and s = 1.
4. `small_outputs.png`: P(||x_L|| <= 0.1 ||x_0||) against depth, predicted
   (lines) and simulated (dots), He, s = 1 and s = 0.5.

Uses only the public API of keras_fracinit.
"""

import argparse
import os
import pathlib

import numpy as np

from fracinit_experiments import flags
from fracinit_experiments.flags import LazyModule

# Matplotlib and Keras (TensorFlow's notices filtered) start on first use, after the flags.
os.environ.setdefault("MPLBACKEND", "Agg")
plt = LazyModule("matplotlib.pyplot")
keras_fracinit = LazyModule("keras_fracinit")
simulate = LazyModule("keras_fracinit.simulate")
theory = LazyModule("keras_fracinit.theory")

COLORS = {2.0: "black", 1.5: "tab:blue", 1.0: "tab:orange", 0.8: "tab:orange", 0.5: "tab:green"}


def _label(s):
    return "He (s = 2)" if s == 2.0 else f"s = {s:g}"


def gain_figure(path):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    orders = np.linspace(0.05, 2.0, 80)
    for activation, color in [("relu", "tab:red"), ("linear", "tab:purple")]:
        exact = [np.sqrt(theory.moment_gain(s, activation, width=64)) for s in orders]
        approx = [np.sqrt(theory.large_width_gain(s, activation, width=64)) for s in orders]
        classical = np.sqrt(theory.moment_gain(2.0, activation, width=64))
        left.plot(orders, exact, color=color, label=f"{activation}: exact")
        left.plot(orders, approx, color=color, ls="--", label=f"{activation}: authors' approx.")
        left.axhline(classical, color=color, ls=":", label=f"{activation}: He/LeCun")
    left.set(xlabel="s", ylabel=r"$\sigma\sqrt{\mathrm{fan_{in}}}$", title="width 64")
    left.legend(fontsize=7)

    widths = np.unique(np.logspace(0, 4, 60).astype(int))
    exact = [np.sqrt(theory.moment_gain(0.8, "relu", width=int(m))) for m in widths]
    approx = [np.sqrt(theory.large_width_gain(0.8, "relu", width=int(m))) for m in widths]
    right.semilogx(widths, exact, color="tab:red", label="exact, s = 0.8")
    right.semilogx(widths, approx, color="tab:red", ls="--", label="authors' approx., s = 0.8")
    right.axhline(np.sqrt(2.0), color="black", ls=":", label="He")
    right.set(xlabel="width m", ylabel=r"$\sigma\sqrt{\mathrm{fan_{in}}}$", title="ReLU, square layers")
    right.set_ylim(1.3, 3.2)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def moment_figure(path, networks, width=16, depth=100):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
    layers = np.arange(depth + 1)
    for axis, s in zip(axes, (0.5, 1.0, 1.5)):
        for scheme in (s, 2.0):
            sim = simulate.propagate(
                keras_fracinit.FractionalMomentNormal(scheme),
                {"width": width, "depth": depth},
                networks=networks,
                seed=0,
            )
            values = (sim.rms / sim.rms[:, :1]) ** s
            mean = values.mean(axis=0)
            band = 1.96 * values.std(axis=0, ddof=1) / np.sqrt(networks)
            axis.plot(layers, mean, color=COLORS[scheme], label=_label(scheme) + " init")
            axis.fill_between(layers, mean - band, mean + band, color=COLORS[scheme], alpha=0.2)
        axis.axhline(1.0, color="grey", lw=0.5)
        axis.set(xlabel="layer k", title=f"s-th moment, s = {s:g}")
    axes[0].set_ylabel(r"$E[(r_k / r_0)^s]$")
    axes[0].legend()
    fig.suptitle(
        f"ReLU, width {width}, {networks} random networks; shaded: 95% Monte-Carlo band of the mean",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def histogram_figure(path, networks, width=64, depth=100):
    fig, axis = plt.subplots(figsize=(6, 4))
    grid = np.linspace(-8, 4, 400)
    for s in (2.0, 1.0):
        sim = simulate.propagate(
            keras_fracinit.FractionalMomentNormal(s),
            {"width": width, "depth": depth},
            networks=networks,
            seed=1,
        )
        limit = theory.log_norm_limit(s, "relu", width=width, depth=depth)
        axis.hist(
            sim.log_norm_ratio(),
            bins=60,
            density=True,
            alpha=0.35,
            color=COLORS[s],
            label=f"{_label(s)}: simulated",
        )
        density = np.exp(-0.5 * ((grid - limit.mean) / limit.std) ** 2) / (limit.std * np.sqrt(2 * np.pi))
        axis.plot(grid, density, color=COLORS[s], label=f"{_label(s)}: N({limit.mean:.2f}, {limit.std:.2f}²)")
    axis.set(
        xlabel=r"$\log(\|x_{100}\| / \|x_0\|)$", ylabel="density", title=f"ReLU, width {width}, depth {depth}"
    )
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def small_output_figure(path, networks, width=64, depth=200, eps=0.1):
    fig, axis = plt.subplots(figsize=(6, 4))
    layers = np.arange(1, depth + 1)
    for s in (2.0, 1.0, 0.5):
        predicted = [theory.small_output_probability(s, eps=eps, width=width, depth=int(k)) for k in layers]
        sim = simulate.propagate(
            keras_fracinit.FractionalMomentNormal(s),
            {"width": width, "depth": depth},
            networks=networks,
            seed=2,
        )
        observed = (sim.norms[:, 1:] <= eps * sim.norms[:, :1]).mean(axis=0)
        axis.plot(layers, predicted, color=COLORS[s], label=f"{_label(s)}: predicted")
        axis.plot(layers[::10], observed[::10], "o", ms=3, color=COLORS[s], label=f"{_label(s)}: simulated")
    axis.set(xlabel="depth L", ylabel=rf"$P(\|x_L\| \leq {eps:g}\,\|x_0\|)$", title=f"ReLU, width {width}")
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        default="docs/figures",
        help="folder for the PNGs",
    )
    parser.add_argument(
        "--networks", type=flags.positive_int, default=20_000, help="simulated networks per curve"
    )
    args = parser.parse_args(argv)
    import fracinit_experiments.quiet_keras  # noqa: F401  (Keras starts with TensorFlow's notices filtered)

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gain_figure(out / "gain.png")
    moment_figure(out / "moment_vs_depth.png", args.networks)
    histogram_figure(out / "log_norm_histogram.png", args.networks)
    small_output_figure(out / "small_outputs.png", args.networks)
    print(f"wrote 4 figures to {out}")


if __name__ == "__main__":
    main()
