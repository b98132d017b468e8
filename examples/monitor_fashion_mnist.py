"""Watching the s-th moment layer by layer while the paper's stack trains.

The worked example of docs/monitoring.md. It builds the paper's Dense stack
(784 -> 19 x Dense(64, relu) -> 10), asks `suggest_s` for a data-driven s
from the gradient-noise tail index, then trains the stack twice, with
`initialize(model, s)` and with He (`s = 2`), each under a
`FractionalMomentMonitor(s, tail_index=True)` next to `CSVLogger` and
TensorBoard. It writes, in `--out`:

- monitor_<init>.png: `monitor.plot()`;
- <init>.csv: Keras' CSVLogger file, monitor columns included;
- tensorboard/<init>/: the monitor's own TensorBoard scalars;

and prints `suggest_s`'s verdict on the trained networks' gradient noise and
the mean and range of the per-layer ratios before and after training.

    python examples/monitor_fashion_mnist.py \\
        --data-dir /usr/share/datasets/fashion-mnist --out runs/monitor

Data as in mnist.py (`--data-dir` with the IDX files, or the
keras.datasets cache); it never falls back to synthetic data.
"""

import argparse
import pathlib

import numpy as np

from fracinit_experiments import flags
from fracinit_experiments import mnist


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="fashion_mnist")
    parser.add_argument(
        "--data-dir", default=None, help="folder with the IDX files (default: keras.datasets)"
    )
    parser.add_argument(
        "--s",
        type=flags.moment_order,
        default=0.8,
        help="moment order in (0, 2] (the paper's relu choice)",
    )
    parser.add_argument(
        "--depth", type=flags.integer_at_least(2), default=20, help="Dense layers in all, at least 2"
    )
    parser.add_argument("--width", type=flags.positive_int, default=64, help="units per hidden layer")
    parser.add_argument("--epochs", type=flags.positive_int, default=10, help="epochs per init")
    parser.add_argument("--batch-size", type=flags.positive_int, default=128, help="SGD mini-batch size")
    parser.add_argument("--lr", type=flags.positive_float, default=0.01, help="SGD learning rate")
    parser.add_argument(
        "--noise-batches",
        type=flags.integer_at_least(16),
        default=32,
        help="mini-batches for suggest_s, at least 16",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the inits and of Keras")
    parser.add_argument("--out", default="runs/monitor", help="folder for the outputs")
    return parser


def paper_stack(inputs, classes, depth, width):
    from fracinit_experiments.quiet_keras import keras

    layers = [keras.Input((inputs,))]
    layers += [keras.layers.Dense(width, "relu", name=f"dense_{k + 1}") for k in range(depth - 1)]
    layers += [keras.layers.Dense(classes, name=f"dense_{depth}")]
    return keras.Sequential(layers)


def ratio_summary(values):
    values = np.array(values)
    return f"mean {values.mean():.3f}, range [{values.min():.3f}, {values.max():.3f}]"


def main(argv=None):
    args = build_parser().parse_args(argv)
    import keras_fracinit
    from fracinit_experiments import protocol
    from fracinit_experiments.quiet_keras import keras

    try:
        (x_train, y_train), (x_test, y_test) = mnist.load_data(args.dataset, args.data_dir)
    except flags.DataUnavailable as error:
        flags.fail(str(error))
    x_train, x_test = mnist.preprocess(x_train), mnist.preprocess(x_test)
    y_train, y_test = y_train.astype("int32"), y_test.astype("int32")
    classes = int(max(y_train.max(), y_test.max())) + 1
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(args.seed)
    probe_model = paper_stack(x_train.shape[1], classes, args.depth, args.width)
    keras_fracinit.initialize(probe_model, s=args.s, seed=args.seed)
    suggestion = keras_fracinit.suggest_s(
        probe_model, (x_train, y_train), loss, batches=args.noise_batches, batch_size=args.batch_size
    )
    print(f"suggest_s at initialization ({suggestion.batches} batches): {suggestion.reason}")
    verdicts = [assessment.verdict for assessment in suggestion.per_layer.values()]
    print(
        "  per layer: "
        + ", ".join(f"{verdict} {verdicts.count(verdict)}" for verdict in dict.fromkeys(verdicts))
        + "; tail indices "
        + " ".join(f"{assessment.alpha:.2f}" for assessment in suggestion.per_layer.values())
    )

    results, trained = {}, {}
    for init, s in (("fractional", args.s), ("he", 2.0)):
        keras.utils.set_random_seed(args.seed)
        model = paper_stack(x_train.shape[1], classes, args.depth, args.width)
        keras_fracinit.initialize(model, s=s, seed=args.seed)
        model.compile(keras.optimizers.SGD(args.lr), loss, metrics=["accuracy"])
        # The monitor measures the moment of order args.s for both inits.
        monitor = keras_fracinit.FractionalMomentMonitor(
            args.s, tail_index=True, log_dir=str(out / "tensorboard" / init)
        )
        history = model.fit(
            x_train,
            y_train,
            batch_size=args.batch_size,
            epochs=args.epochs,
            validation_data=(x_test, y_test),
            verbose=0,
            callbacks=[monitor, keras.callbacks.CSVLogger(str(out / f"{init}.csv"))],
        )
        figure = monitor.plot()
        scheme = "He init (s = 2)" if init == "he" else f"fractional init (s = {s:g})"
        figure.suptitle(
            f"{scheme}: moments of order s = {args.s:g} on a probe of {args.batch_size}", fontsize=10
        )
        figure.text(0.01, -0.01, protocol.DEPTH_PROFILE_NOTE, fontsize=7, wrap=True, va="top")
        figure.savefig(out / f"monitor_{init}.png", dpi=110, bbox_inches="tight")
        flags.pyplot().close(figure)
        ratios = [key for key in monitor.history if key.startswith("s_moment_ratio/")]
        results[init] = (
            ratio_summary([monitor.initial[key] for key in ratios]),
            ratio_summary([monitor.history[key][-1] for key in ratios]),
            history.history["val_accuracy"][-1],
        )
        trained[init] = keras_fracinit.suggest_s(
            model, (x_train, y_train), loss, batches=args.noise_batches, batch_size=args.batch_size
        )

    for init, suggestion in trained.items():
        print(f"suggest_s after {args.epochs} epochs ({init}): {suggestion.reason}")

    print(f"\ns_moment_ratio per layer (s = {args.s:g}), {args.depth} layers:")
    for init, (before, after, accuracy) in results.items():
        print(
            f"  {init:10s} before training: {before};  after {args.epochs} epochs: {after}; "
            f"test accuracy {accuracy:.4f}"
        )
    print(f"\nwrote {out}/monitor_*.png, *.csv, tensorboard/")
    return results


if __name__ == "__main__":
    main()
