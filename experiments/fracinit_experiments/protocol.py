"""Shared parts of the paper's experiments (Gurbuzbalaban & Hu, AISTATS 2021).

The Dense stack, the initializers compared, several seeds, and the outputs:
metrics as JSON and CSV, mean +/- sd curves as PNG, a printed summary. Used
by `mnist` and `cifar10`; only keras_fracinit's public API.
"""

import csv
import json
import math
import pathlib
import time

import numpy as np

import keras_fracinit
from fracinit_experiments.flags import LEAKY_SLOPE
from fracinit_experiments.flags import METRICS
from fracinit_experiments.flags import PAPER_S
from fracinit_experiments.flags import STABLE_INITS
from fracinit_experiments.flags import pyplot
from fracinit_experiments.paired import paired_test
from fracinit_experiments.quiet_keras import keras


def _slope(activation):
    return LEAKY_SLOPE if activation == "leaky_relu" else None


def keras_activation(activation):
    """The Keras activation of the protocol's name (Leaky ReLU with the paper's slope)."""
    if activation == "leaky_relu":
        # A layer object, not a lambda: it serializes, and initialize() reads its slope.
        return keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE)
    return activation


def random_walk_stddev(fan_in, activation):
    """Sussillo & Abbott (2014): gain * exp(1.2 / (N - 2.4)) / sqrt(N) for
    ReLU-type units (gain = sqrt(2 / (1 + a^2))), exp(1 / (2N)) / sqrt(N) for
    linear ones."""
    if activation == "linear":
        return math.exp(1.0 / (2.0 * fan_in)) / math.sqrt(fan_in)
    slope = _slope(activation) or 0.0
    gain = math.sqrt(2.0 / (1.0 + slope**2))
    return gain * math.exp(1.2 / (fan_in - 2.4)) / math.sqrt(fan_in)


def kernel_initializer(init, activation, s, fan_in, seed):
    """The initializer of one Dense kernel that feeds `activation`."""
    slope = _slope(activation)
    if init == "fractional":
        return keras_fracinit.FractionalMomentNormal(s, activation, negative_slope=slope, seed=seed)
    if init in STABLE_INITS:
        return keras_fracinit.FractionalMomentStable(
            s, STABLE_INITS[init], activation, negative_slope=slope, seed=seed
        )
    if init == "he":
        # untruncated, as the theory (and PyTorch's kaiming_normal_) has it
        return keras_fracinit.FractionalMomentNormal(2.0, activation, negative_slope=slope, seed=seed)
    if init == "glorot":
        return keras.initializers.VarianceScaling(1.0, "fan_avg", "untruncated_normal", seed=seed)
    return keras.initializers.RandomNormal(stddev=random_walk_stddev(fan_in, activation), seed=seed)


def moment_order(args):
    """The run's s: `--s`, or the paper's choice for the activation."""
    return PAPER_S[args.activation] if args.s is None else args.s


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch, and the clock when training began.

    An epoch's time includes its validation and the callbacks listed before
    the timer (put it last to time them all).
    """

    def on_train_begin(self, logs=None):
        self.seconds = []
        self.train_begin = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def dense_stack(x, *, inputs_dim, classes, init, args, seed):
    """The paper's Dense stack on tensor `x`: depth layers, the last to logits."""
    s = moment_order(args)
    generator = keras.random.SeedGenerator(seed)
    widths = [inputs_dim] + [args.width] * (args.depth - 1) + [classes]
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        last = k == args.depth - 1
        activation = args.activation if (not last or args.logit_activation) else "linear"
        x = keras.layers.Dense(
            n_out,
            activation=keras_activation(activation),
            kernel_initializer=kernel_initializer(init, activation, s, n_in, generator),
            name=f"dense_{k + 1}",
        )(x)
    return x


def run_all(args, build_model, compile_model, data, *, dataset, callbacks=()):
    """Trains every init x seed; returns rows of per-epoch metrics."""
    (x_train, y_train), (x_test, y_test) = data
    rows = []
    for init in args.inits:
        for seed in range(args.seeds):
            keras.utils.set_random_seed(seed)
            model = build_model(init, seed)
            compile_model(model)
            print(f"== {dataset}: init={init} seed={seed} (run {seed + 1} of {args.seeds})", flush=True)
            monitor = None
            if args.monitor and seed == 0:
                monitor = keras_fracinit.FractionalMomentMonitor(moment_order(args))
            timer = EpochTimer()
            history = model.fit(
                x_train,
                y_train,
                batch_size=args.batch_size,
                epochs=args.epochs,
                validation_data=(x_test, y_test),
                verbose=args.verbose,
                callbacks=([monitor] if monitor else []) + [timer] + list(callbacks),
            ).history
            if monitor is not None:
                write_monitor(monitor, pathlib.Path(args.out), init, moment_order(args))
            for epoch in range(args.epochs):
                rows.append(
                    {
                        "init": init,
                        "seed": seed,
                        "epoch": epoch + 1,
                        "train_loss": float(history["loss"][epoch]),
                        "train_accuracy": float(history["accuracy"][epoch]),
                        "test_loss": float(history["val_loss"][epoch]),
                        "test_accuracy": float(history["val_accuracy"][epoch]),
                        "seconds": timer.seconds[epoch],
                    }
                )
    return rows


# Under the plot: why the epoch-0 depth profile falls under every init.
DEPTH_PROFILE_NOTE = (
    "Epoch 0 is before training. Each layer's ratio is one random draw around its expected value "
    "(1 for the fractional init); along the depth of one network these draws multiply, and their "
    "typical product shrinks even when its mean is preserved (the log-normal depth limit), so "
    "s_moment falls with depth at epoch 0 under every init."
)


def write_monitor(monitor, out, init, init_s=None):
    """Saves the monitor's plot and table as monitor_<init>.png / .json."""
    plt = pyplot()

    out.mkdir(parents=True, exist_ok=True)
    figure = monitor.plot()
    scheme = f"{init} init" + (f" (s = {init_s:g})" if init == "fractional" and init_s is not None else "")
    figure.suptitle(
        f"{scheme}: per-layer statistics on the probe batch, moments of order s = {monitor.s:g}",
        fontsize=10,
    )
    figure.text(0.01, -0.01, DEPTH_PROFILE_NOTE, fontsize=7, wrap=True, va="top")
    figure.savefig(out / f"monitor_{init}.png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    # Epochs trained, as on the plot's axis and in metrics.csv; "initial" is epoch 0.
    table = {
        "s": monitor.s,
        "epochs": [epoch + 1 for epoch in monitor.epochs],
        "initial": monitor.initial,
        "history": monitor.history,
    }
    (out / f"monitor_{init}.json").write_text(json.dumps(table, indent=1))


def summarize(rows, epochs):
    """`{init: {epoch: {metric: (mean, sd)}}}` over seeds."""
    summary = {}
    for init in dict.fromkeys(row["init"] for row in rows):
        summary[init] = {}
        for epoch in epochs:
            chosen = [r for r in rows if r["init"] == init and r["epoch"] == epoch]
            summary[init][epoch] = {
                metric: (
                    float(np.mean([r[metric] for r in chosen])),
                    float(np.std([r[metric] for r in chosen], ddof=1)) if len(chosen) > 1 else 0.0,
                )
                for metric in METRICS
            }
    return summary


def summary_table(summary):
    epochs = sorted({e for per_init in summary.values() for e in per_init})
    header = (
        "| init | "
        + " | ".join(f"test acc. epoch {e}" for e in epochs)
        + " | "
        + " | ".join(f"train loss epoch {e}" for e in epochs)
        + " |"
    )
    lines = [header, "|" + "---|" * (1 + 2 * len(epochs))]
    for init, per_epoch in summary.items():
        acc = [
            f"{per_epoch[e]['test_accuracy'][0]:.4f} ± {per_epoch[e]['test_accuracy'][1]:.4f}" for e in epochs
        ]
        loss = [f"{per_epoch[e]['train_loss'][0]:.4f} ± {per_epoch[e]['train_loss'][1]:.4f}" for e in epochs]
        lines.append(f"| {init} | " + " | ".join(acc + loss) + " |")
    return "\n".join(lines)


def paired_differences(rows, epochs, baseline="he"):
    """`{init: {epoch: (mean, sd, p)}}` of init − baseline test accuracy, paired by seed.

    p is the paired t-test's two-sided p-value (1 for identical runs).
    """

    def accuracy(init, epoch):
        chosen = sorted(
            (r for r in rows if r["init"] == init and r["epoch"] == epoch), key=lambda r: r["seed"]
        )
        return np.array([r["test_accuracy"] for r in chosen])

    table = {}
    for init in dict.fromkeys(row["init"] for row in rows):
        if init == baseline:
            continue
        table[init] = {}
        for epoch in epochs:
            table[init][epoch] = paired_test(accuracy(init, epoch), accuracy(baseline, epoch))
    return table


def paired_table(differences, baseline="he"):
    epochs = sorted({e for per_init in differences.values() for e in per_init})
    lines = [
        f"| test acc. − {baseline} | " + " | ".join(f"epoch {e}" for e in epochs) + " |",
        "|---|" + "---:|" * len(epochs),
    ]
    for init, per_epoch in differences.items():
        entries = [f"{m:+.4f} ± {sd:.4f} (p {p:.2g})" for m, sd, p in (per_epoch[e] for e in epochs)]
        lines.append(f"| {init} | " + " | ".join(entries) + " |")
    return "\n".join(lines)


def results_markdown(rows, epochs):
    """The mean ± sd table at epochs 1, 5 and `epochs` (the last) and, where He
    and several seeds were run, every init's test accuracy minus He's, paired by seed."""
    reported = sorted({e for e in (1, 5, epochs) if e <= epochs})
    text = summary_table(summarize(rows, reported))
    inits, seeds = {row["init"] for row in rows}, {row["seed"] for row in rows}
    if "he" in inits and len(inits) > 1 and len(seeds) > 1:
        differences = paired_table(paired_differences(rows, reported))
        text += (
            "\n\nTest accuracy minus He's, paired by seed: mean ± sd of the differences "
            f"(paired t-test p):\n\n{differences}"
        )
    return text


def plot_curves(rows, path, title, s=None):
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    for init in dict.fromkeys(row["init"] for row in rows):
        epochs = sorted({r["epoch"] for r in rows if r["init"] == init})
        for axis, metric in zip(axes, METRICS):
            values = np.array(
                [[r[metric] for r in rows if r["init"] == init and r["epoch"] == e] for e in epochs]
            )
            mean, sd = values.mean(axis=1), values.std(axis=1)
            label = f"{init} (s = {s:g})" if init == "fractional" and s is not None else init
            axis.plot(epochs, mean, marker="o", ms=3, label=label)
            axis.fill_between(epochs, mean - sd, mean + sd, alpha=0.2)
            axis.set(xlabel="epoch", title=metric.replace("_", " "))
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend()
    fig.suptitle(f"{title}; lines: mean, shaded: ± 1 sd over the seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(rows, args, *, dataset, title):
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = dict(vars(args), s=moment_order(args))
    title = f"{title} (mean ± sd over {args.seeds} seeds; fractional init s = {config['s']:g})"
    (out / "metrics.json").write_text(
        json.dumps({"dataset": dataset, "config": config, "rows": rows}, indent=1)
    )
    with open(out / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot_curves(rows, out / "curves.png", title, config["s"])
    table = results_markdown(rows, args.epochs)
    (out / "summary.md").write_text(f"{title}\n\n{table}\n")
    written = ["metrics.json", "metrics.csv", "curves.png", "summary.md"]
    if args.monitor:
        written += [f"monitor_{init}.{suffix}" for init in args.inits for suffix in ("png", "json")]
    print(f"\n{title}\n{table}\n\nwrote {out}/: {', '.join(written)}")
