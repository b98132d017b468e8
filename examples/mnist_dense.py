"""The paper's MNIST experiment: a 20-layer ReLU Dense stack under He, s = 0.8 and Glorot.

Gürbüzbalaban & Hu's protocol: 784 -> 64, 18 x (64 -> 64), 64 -> 10, every
kernel drawn by the scheme under test; inputs (x/255 - 0.5)/0.5; plain SGD,
learning rate 0.01, batch 128. Each init trains once per seed (a seed gives
every init the same mini-batches). The script prints each init's test accuracy
(mean ± sd over the seeds) and its difference from He's, paired by seed, and
writes summary.md, metrics.json and curves.png to `--out`.

    python examples/mnist_dense.py --dataset fashion_mnist \\
        --data-dir /usr/share/datasets/fashion-mnist --out runs/fashion_mnist

`--data-dir` holds the four IDX files, `mnist.pkl.gz` or an npz; without it
the data come from `keras.datasets` (which downloads them).

Reference: M. Gürbüzbalaban and Y. Hu, Fractional moment-preserving
initialization schemes for training deep neural networks, AISTATS 2021,
https://arxiv.org/abs/2005.11878
"""

import argparse
import json
import pathlib

import numpy as np
from scipy import stats


def integer(minimum):
    def parse(text):
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}; got {text!r}")
        return int(text)

    return parse


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="fashion_mnist")
    parser.add_argument("--data-dir", help="folder with the dataset's files (default: keras.datasets)")
    parser.add_argument("--s", type=float, default=0.8, help="the fractional init's moment order, in (0, 2]")
    parser.add_argument("--depth", type=integer(2), default=20, help="Dense layers in all")
    parser.add_argument("--width", type=integer(1), default=64, help="units per hidden layer")
    parser.add_argument("--epochs", type=integer(1), default=3)
    parser.add_argument(
        "--seeds",
        type=integer(1),
        default=2,
        help="runs per init: seeds 0, 1, ... (the sd and the paired statistics need 2 or more)",
    )
    parser.add_argument("--out", default="runs/mnist_dense", help="folder for the outputs")
    args = parser.parse_args()
    if not 0 < args.s <= 2:
        parser.error(f"argument --s: must be in (0, 2]; got {args.s:g}")
    return args


def train(init, seed, data, args):
    """Keras' History.history of the paper's stack with every kernel drawn by `init`."""
    import keras

    import keras_fracinit

    def kernel_initializer(activation):  # untruncated normals, as the theory has them
        if init == "glorot":
            return keras.initializers.VarianceScaling(1.0, "fan_avg", "untruncated_normal")
        return keras_fracinit.FractionalMomentNormal(2.0 if init == "he" else args.s, activation)

    (x_train, y_train), test = data
    keras.utils.set_random_seed(seed)  # the draws and the shuffling
    hidden = [
        keras.layers.Dense(args.width, "relu", kernel_initializer=kernel_initializer("relu"))
        for _ in range(args.depth - 1)
    ]
    logits = keras.layers.Dense(int(y_train.max()) + 1, kernel_initializer=kernel_initializer("linear"))
    model = keras.Sequential([keras.Input(x_train.shape[1:]), *hidden, logits])
    model.compile(
        keras.optimizers.SGD(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    print(f"== {init}, seed {seed}", flush=True)
    return model.fit(
        x_train, y_train, batch_size=128, epochs=args.epochs, validation_data=test, verbose=2
    ).history


def heading(args, seeds):
    """The summary's first line: the set-up, with `seeds` (" over 2 seeds", ", one seed") after the epochs."""
    return (
        f"{args.dataset}: {args.depth} Dense layers of {args.width} (ReLU), SGD lr 0.01, batch 128; "
        f"test accuracy after {args.epochs} epochs{seeds} (fractional: s = {args.s:g})"
    )


def summary(histories, args):
    """Final test accuracy per init (mean ± sd) and minus He's, paired by seed."""
    final = {init: np.array([h["val_accuracy"][-1] for h in runs]) for init, runs in histories.items()}
    if args.seeds == 1:
        return one_seed_summary(final, args)
    lines = [
        heading(args, f" over {args.seeds} seeds"),
        "| init | test accuracy | minus He's, paired by seed | paired t-test p |",
        "|---|---:|---:|---:|",
    ]
    for init, accuracy in final.items():
        difference = accuracy - final["he"]
        paired, p = "", ""
        if init != "he":
            paired = f"{difference.mean():+.4f} ± {difference.std(ddof=1):.4f}"
            # The t-test needs differences that vary; identical runs have none.
            p = f"{stats.ttest_rel(accuracy, final['he']).pvalue:.2g}" if difference.std() > 0 else "-"
        lines.append(f"| {init} | {accuracy.mean():.4f} ± {accuracy.std(ddof=1):.4f} | {paired} | {p} |")
    return "\n".join(lines)


def one_seed_summary(final, args):
    """Final test accuracy per init from a single run each: no spread, so no statistics."""
    lines = [
        heading(args, ", one seed"),
        "| init | test accuracy | minus He's |",
        "|---|---:|---:|",
    ]
    for init, accuracy in final.items():
        difference = "" if init == "he" else f"{accuracy[0] - final['he'][0]:+.4f}"
        lines.append(f"| {init} | {accuracy[0]:.4f} | {difference} |")
    lines.append(
        "One run per init gives no spread, so no sd and no paired t-test: how much of each difference "
        "is seed-to-seed chance is not measured. Run --seeds 2 or more for them."
    )
    return "\n".join(lines)


def plot(histories, path, args):
    """Test accuracy and train loss per epoch, mean over the seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for init, runs in histories.items():
        for axis, metric in zip(axes, ("val_accuracy", "loss")):
            mean = np.mean([run[metric] for run in runs], axis=0)
            epochs = range(1, len(mean) + 1)
            axis.plot(epochs, mean, marker="o", label=init)
            axis.set(
                xlabel="epoch",
                xticks=epochs,
                title={"val_accuracy": "test accuracy", "loss": "train loss"}[metric],
            )
    axes[0].legend()
    seeds = f"mean over {len(runs)} seeds" if len(runs) > 1 else "one seed"
    figure.suptitle(f"{args.dataset}: He, fractional (s = {args.s:g}) and Glorot; {seeds}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def load(args):
    """The data set from `--data-dir` (checked to be the one named) or keras.datasets; one line if not."""
    import keras_fracinit  # the package alone starts no backend: a missing folder is told at once

    if args.data_dir:
        try:
            return keras_fracinit.datasets.load_mnist(args.data_dir, args.dataset)
        except (keras_fracinit.datasets.DataNotFoundError, ValueError) as error:
            raise SystemExit(f"mnist_dense.py: {error}") from None
    import keras

    return getattr(keras.datasets, args.dataset).load_data()


def main():
    args = parse_args()
    (x_train, y_train), (x_test, y_test) = load(args)
    x_train, x_test = ((x.reshape(len(x), -1) / 255.0 - 0.5) / 0.5 for x in (x_train, x_test))
    data = ((x_train, y_train), (x_test, y_test))
    histories = {
        init: [train(init, seed, data, args) for seed in range(args.seeds)]
        for init in ("he", "fractional", "glorot")
    }

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = summary(histories, args)
    (out / "summary.md").write_text(table + "\n")
    (out / "metrics.json").write_text(json.dumps({"config": vars(args), "histories": histories}, indent=1))
    plot(histories, out / "curves.png", args)
    print(f"\n{table}\n\nwrote {out}/: summary.md, metrics.json, curves.png")


if __name__ == "__main__":
    main()
