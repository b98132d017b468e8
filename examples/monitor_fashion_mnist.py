"""Watching the s-th moment layer by layer while the paper's Dense stack trains.

Builds the paper's stack (784 -> 19 x Dense(64, relu) -> 10), asks
`suggest_s` whether the gradient noise is heavy-tailed, then trains the stack
twice, with `initialize(model, s)` and with He (s = 2), each under a
`FractionalMomentMonitor(s, tail_index=True)` next to Keras' CSVLogger. It
writes monitor_<init>.png (`monitor.plot()`), <init>.csv (the CSVLogger file,
monitor columns included) and tensorboard/<init>/ (the monitor's scalars) to
`--out`, and prints suggest_s's verdicts and the per-layer ratios before and
after training.

    python examples/monitor_fashion_mnist.py \\
        --data-dir /usr/share/datasets/fashion-mnist --out runs/monitor

`--data-dir` holds the four IDX files, `mnist.pkl.gz` or an npz; without it
the data come from `keras.datasets` (which downloads them).

Reference: M. Gürbüzbalaban and Y. Hu, Fractional moment-preserving
initialization schemes for training deep neural networks, AISTATS 2021,
https://arxiv.org/abs/2005.11878
"""

import argparse
import pathlib

import numpy as np


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
    parser.add_argument("--s", type=float, default=0.8, help="moment order in (0, 2] (the paper's for ReLU)")
    parser.add_argument("--depth", type=integer(2), default=20, help="Dense layers in all")
    parser.add_argument("--width", type=integer(1), default=64, help="units per hidden layer")
    parser.add_argument("--epochs", type=integer(1), default=10, help="epochs per init")
    parser.add_argument("--batch-size", type=integer(1), default=128, help="SGD mini-batch size")
    parser.add_argument("--noise-batches", type=integer(16), default=32, help="mini-batches for suggest_s")
    parser.add_argument("--out", default="runs/monitor", help="folder for the outputs")
    args = parser.parse_args()
    if not 0 < args.s <= 2:
        parser.error(f"argument --s: must be in (0, 2]; got {args.s:g}")
    return args


def paper_stack(inputs, classes, args):
    import keras

    hidden = [keras.layers.Dense(args.width, "relu", name=f"dense_{k + 1}") for k in range(args.depth - 1)]
    return keras.Sequential([keras.Input((inputs,)), *hidden, keras.layers.Dense(classes, name="logits")])


def ratio_summary(values):
    return f"mean {np.mean(values):.3f}, range [{np.min(values):.3f}, {np.max(values):.3f}]"


def train_and_watch(init, s, data, args):
    """Trains the stack drawn with `s` under the monitor (moments of order `args.s`).

    Returns the trained model and its line of the printed summary.
    """
    import keras

    import keras_fracinit

    (x_train, y_train), test = data
    out = pathlib.Path(args.out)
    keras.utils.set_random_seed(0)
    model = paper_stack(x_train.shape[1], int(y_train.max()) + 1, args)
    keras_fracinit.initialize(model, s=s, seed=0)
    model.compile(
        keras.optimizers.SGD(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    monitor = keras_fracinit.FractionalMomentMonitor(
        args.s, tail_index=True, log_dir=str(out / "tensorboard" / init)
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=test,
        verbose=0,
        callbacks=[monitor, keras.callbacks.CSVLogger(str(out / f"{init}.csv"))],
    )
    figure = monitor.plot()
    figure.suptitle(f"{init} init (s = {s:g}): moments of order {args.s:g} on the probe batch")
    figure.savefig(out / f"monitor_{init}.png", dpi=110, bbox_inches="tight")
    ratios = [key for key in monitor.history if key.startswith("s_moment_ratio/")]
    before = ratio_summary([monitor.initial[key] for key in ratios])
    after = ratio_summary([monitor.history[key][-1] for key in ratios])
    accuracy = history.history["val_accuracy"][-1]
    return model, (
        f"  {init:10s} before training: {before};  after {args.epochs} epochs: {after}; "
        f"test accuracy {accuracy:.4f}"
    )


def load(args):
    """The data set from `--data-dir` (checked to be the one named) or keras.datasets; one line if not."""
    import keras_fracinit  # the package alone starts no backend: a missing folder is told at once

    if args.data_dir:
        try:
            return keras_fracinit.datasets.load_mnist(args.data_dir, args.dataset)
        except (keras_fracinit.datasets.DataNotFoundError, ValueError) as error:
            raise SystemExit(f"monitor_fashion_mnist.py: {error}") from None
    import keras

    return getattr(keras.datasets, args.dataset).load_data()


def main():
    args = parse_args()
    (x_train, y_train), (x_test, y_test) = load(args)
    import keras  # after the flags and the data: those answer before TensorFlow starts

    import keras_fracinit

    x_train, x_test = ((x.reshape(len(x), -1) / 255.0 - 0.5) / 0.5 for x in (x_train, x_test))
    pathlib.Path(args.out).mkdir(parents=True, exist_ok=True)

    def noise_verdict(model):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return keras_fracinit.suggest_s(
            model, (x_train, y_train), loss, batches=args.noise_batches, batch_size=args.batch_size
        )

    keras.utils.set_random_seed(0)
    model = paper_stack(x_train.shape[1], int(y_train.max()) + 1, args)
    keras_fracinit.initialize(model, s=args.s, seed=0)
    suggestion = noise_verdict(model)
    print(f"suggest_s at initialization ({suggestion.batches} batches): {suggestion.reason}")
    verdicts = [assessment.verdict for assessment in suggestion.per_layer.values()]
    counts = ", ".join(f"{verdict} {verdicts.count(verdict)}" for verdict in dict.fromkeys(verdicts))
    alphas = " ".join(f"{assessment.alpha:.2f}" for assessment in suggestion.per_layer.values())
    print(f"  per layer: {counts}; tail indices {alphas}")

    lines = [f"\ns_moment_ratio per layer (s = {args.s:g}), {args.depth} layers:"]
    for init, s in (("fractional", args.s), ("he", 2.0)):
        model, line = train_and_watch(init, s, ((x_train, y_train), (x_test, y_test)), args)
        print(f"suggest_s after {args.epochs} epochs ({init}): {noise_verdict(model).reason}")
        lines.append(line)
    print("\n".join(lines) + f"\n\nwrote {args.out}/monitor_*.png, *.csv, tensorboard/")


if __name__ == "__main__":
    main()
