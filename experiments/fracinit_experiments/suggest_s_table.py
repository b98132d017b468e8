"""Does the s that `suggest_s` proposes at initialization do as well as the best s?

For chosen cells of a finished regime-map sweep (`regime_map.py`; by default
the cells where a fractional scheme differs from He at p < 0.01), and for
every seed, this rebuilds the seed's He-initialized network in Keras (the
very kernels the sweep trained), runs `keras_fracinit.suggest_s` on training
mini-batches of the cell's batch size, rounds the suggestion to the nearest s
the sweep trained (He is s = 2) and reads that network's final test accuracy
from the sweep. The comparison with the cell's best scheme is paired by seed.

    python -m fracinit_experiments.suggest_s_table runs/regime_map_mnist --data-dir /path/to/mnist \\
        [--cells 4x10,16x50] [--page docs/results.md]

Writes `<sweep>/suggest_s.json` and, with `--page`, the table between the
page's `suggest_s_<dataset>` markers.
"""

import argparse
import json
import os
import pathlib
import sys

import numpy as np

from fracinit_experiments import docs_sections
from fracinit_experiments import flags
from fracinit_experiments import mnist
from fracinit_experiments import regime_map
from fracinit_experiments.flags import LazyModule

# Keras and JAX start on first use, after the flags are checked.
protocol = LazyModule("fracinit_experiments.protocol")
report = LazyModule("fracinit_experiments.regime_map_report")
side_by_side = LazyModule("fracinit_experiments.side_by_side")
stacked_dense = LazyModule("fracinit_experiments.stacked_dense")
paired = LazyModule("fracinit_experiments.paired")
keras = LazyModule("fracinit_experiments.quiet_keras", "keras")
keras_fracinit = LazyModule("keras_fracinit")
os.environ.setdefault("KERAS_BACKEND", "jax")


def he_network(width, depth, activation, seed, inputs_dim=784, classes=10):
    """The sweep's He network of `seed` as a Keras model (zero biases, linear logits)."""
    draw = side_by_side.kernel_drawer(activation, 2.0, depth)("fractional", seed)
    dims = stacked_dense.layer_dims(inputs_dim, width, depth, classes)
    layers = [keras.Input((inputs_dim,))]
    for k, (_, fan_out) in enumerate(dims):
        last = k == len(dims) - 1
        fed = None if last else protocol.keras_activation(activation)
        layers.append(keras.layers.Dense(fan_out, activation=fed, name=f"dense_{k + 1}"))
    model = keras.Sequential(layers)
    for k, (layer, dim) in enumerate(zip(model.layers, dims)):
        layer.set_weights([draw(k, *dim), np.zeros(dim[1], "float32")])
    return model


def nearest_scheme(suggested, schemes):
    """The `(name, s)` of `schemes` whose s is closest to `suggested`."""
    return min(schemes, key=lambda scheme: abs(scheme[1] - suggested))


def suggestions(cell, config, x_train, y_train, batches):
    """`suggest_s` on the He network of every seed of `cell`, over `batches` mini-batches."""
    width, depth, batch_size, _ = cell
    found = []
    for seed in range(config["seeds"]):
        model = he_network(width, depth, config["activation"], seed, inputs_dim=x_train.shape[1])
        order = np.random.default_rng(seed).permutation(len(x_train))[: batches * batch_size]
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        found.append(
            keras_fracinit.suggest_s(
                model, (x_train[order], y_train[order]), loss, batches=batches, batch_size=batch_size
            )
        )
    return found


def compare(per_scheme, suggested, config):
    """The row of one cell: the suggestion, its rounding, and its accuracy against the best scheme's."""
    schemes = [("he", 2.0)] + [(f"s={s:g}", s) for s in config["s"]]
    chosen = [nearest_scheme(value, schemes)[0] for value in suggested]
    accuracy = {name: report.final_accuracy(per_scheme[name]) for name, _ in schemes}
    picked = np.array([accuracy[name][seed] for seed, name in enumerate(chosen)])
    best = max(accuracy, key=lambda name: accuracy[name].mean())
    difference, sd, p = paired.paired_test(picked, accuracy[best])
    return {
        "suggested_s": [float(v) for v in suggested],
        "chosen": chosen,
        "accuracy_chosen": [float(v) for v in picked],
        "best": best,
        "accuracy_best": [float(v) for v in accuracy[best]],
        "accuracy_he": [float(v) for v in accuracy["he"]],
        "difference": difference,
        "difference_sd": sd,
        "p": p,
    }


def markdown(rows, config, batches):
    lines = [
        f"{config['dataset']}: suggest_s on each seed's He network at initialization ({batches} "
        "mini-batches of the cell's batch size): the verdicts over seeds, the tail index (median "
        "and range over seeds) against what Gaussian noise with the same per-entry scales reads "
        "(the null, median over seeds), and the suggested s rounded to the nearest s trained; "
        "final test accuracy after the sweep's training, mean ± sd over seeds; the difference to "
        "the cell's best scheme is paired by seed (t-test p).",
        "",
        "| width | depth | batch | lr | verdicts | tail index (median, range) | null | rounded to "
        "| accuracy | best scheme | its accuracy | He | suggested − best (p) |",
        "|---:|---:|---:|---:|---|---:|---:|---|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        alpha = np.array(row["alpha"])
        chosen = ", ".join(f"{name} ×{row['chosen'].count(name)}" for name in dict.fromkeys(row["chosen"]))
        verdicts = ", ".join(f"{v} ×{row['verdicts'].count(v)}" for v in dict.fromkeys(row["verdicts"]))

        def mean_sd(values):
            return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"

        lines.append(
            f"| {row['width']} | {row['depth']} | {row['batch_size']} | {row['lr']:g} | "
            f"{verdicts} | {np.median(alpha):.2f} ({alpha.min():.2f}–{alpha.max():.2f}) | "
            f"{np.median(row['null_alpha']):.2f} | {chosen} | "
            f"{mean_sd(row['accuracy_chosen'])} | {row['best']} | {mean_sd(row['accuracy_best'])} | "
            f"{mean_sd(row['accuracy_he'])} | {row['difference']:+.3f} (p {row['p']:.2g}) |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=pathlib.Path, help="the regime-map sweep's --out folder")
    parser.add_argument("--data-dir", default=None, help="folder with the sweep's dataset")
    parser.add_argument(
        "--cells",
        type=regime_map.cell_list,
        default=None,
        help="WIDTHxDEPTH list (default: the significant cells)",
    )
    parser.add_argument(
        "--batches",
        type=flags.integer_at_least(16),
        default=32,
        help="mini-batches per suggest_s call",
    )
    parser.add_argument("--page", default=None, help="a documentation page with suggest_s_<dataset> markers")
    args = parser.parse_args(argv)
    results = json.loads((args.sweep / "regime_map.json").read_text())
    config = results["config"]
    table = report.by_cell(results)
    if args.cells is None:
        chosen = sorted({row[0] for row in report.significant_cells(table)})
    else:
        chosen = sorted(cell for cell in table if cell[:2] in args.cells)
    try:
        (x_train, y_train), _ = mnist.load_data(config["dataset"], args.data_dir or config["data_dir"])
    except flags.DataUnavailable as error:
        flags.fail(str(error))
    if config.get("limit_train"):
        x_train, y_train = x_train[: config["limit_train"]], y_train[: config["limit_train"]]
    x_train, y_train = mnist.preprocess(x_train), y_train.astype("int32")
    rows = []
    for cell in chosen:
        found = suggestions(cell, config, x_train, y_train, args.batches)
        row = dict(zip(("width", "depth", "batch_size", "lr"), cell))
        row.update(compare(table[cell], [value.s for value in found], config))
        row["alpha"] = [float(value.alpha) for value in found]
        row["interval"] = [[float(end) for end in value.interval] for value in found]
        row["null_alpha"] = [float(value.null_alpha) for value in found]
        row["verdicts"] = [value.verdict for value in found]
        rows.append(row)
        print(f"{cell}: suggest_s {np.round(row['suggested_s'], 2).tolist()}", file=sys.stderr)
    written = {"config": config, "batches": args.batches, "rows": rows}
    (args.sweep / "suggest_s.json").write_text(json.dumps(written, indent=1))
    text = markdown(rows, config, args.batches) if rows else "No cell to compare."
    print(text)
    if args.page:
        docs_sections.replace_section(args.page, f"suggest_s_{config['dataset']}", text)
    return rows


if __name__ == "__main__":
    main()
