"""The paper's MNIST experiment: a 20-layer Dense stack, several inits and seeds.

Gurbuzbalaban & Hu (AISTATS 2021), protocol of the authors' code: 784 -> 64,
18 x (64 -> 64), 64 -> 10; every kernel initialized by the chosen scheme;
inputs (x/255 - 0.5)/0.5; plain SGD (no momentum), lr 0.01, batch 128. Linear
networks have 30 layers and lr 0.001 (the defaults with `--activation linear`).

Short default run (3 epochs, 2 seeds, he/fractional/glorot; a few minutes on
2 CPU cores):

    python -m fracinit_experiments.mnist --dataset fashion_mnist \\
        --data-dir /usr/share/datasets/fashion-mnist

The paper's full protocol (30 epochs, 20 seeds):

    python -m fracinit_experiments.mnist --dataset mnist --epochs 30 --seeds 20 \\
        --inits he,glorot,fractional,random_walk

Data: `keras.datasets` (cached under $KERAS_HOME/datasets), or `--data-dir`
holding the four IDX files (`train-images-idx3-ubyte[.gz]`,
`train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]`,
`t10k-labels-idx1-ubyte[.gz]`) or an npz with `x_train, y_train, x_test,
y_test`. Debian's `dataset-fashion-mnist` package installs the real
Fashion-MNIST IDX files in /usr/share/datasets/fashion-mnist. Without data the
example stops; it never falls back to synthetic data.
"""

import argparse

from fracinit_experiments import flags


def load_from_dir(data_dir, dataset):
    """The four IDX files, the classic mnist.pkl.gz or an npz in `data_dir`, checked to hold `dataset`."""
    from keras_fracinit import datasets

    try:
        return datasets.load_mnist(data_dir, dataset)
    except (datasets.DataNotFoundError, ValueError) as error:
        raise flags.DataUnavailable(f"--data-dir: {error}") from None


def load_data(dataset, data_dir):
    if data_dir is not None:
        return load_from_dir(data_dir, dataset)
    from fracinit_experiments.quiet_keras import keras  # Keras starts only once the flags are checked

    loader = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[dataset]
    try:
        return loader.load_data()
    except Exception as error:  # offline: keras tries to download
        hint = (
            " (Debian: apt-get install dataset-fashion-mnist, then "
            "--data-dir /usr/share/datasets/fashion-mnist)"
            if dataset == "fashion_mnist"
            else ""
        )
        raise flags.DataUnavailable(
            f"cannot load {dataset} through keras.datasets ({type(error).__name__}); "
            f"no cached copy under $KERAS_HOME/datasets and no network. Pass --data-dir "
            f"with the IDX files or an npz{hint}"
        ) from None


def preprocess(x):
    """Flattens and scales pixels to [-1, 1]: (x/255 - 0.5)/0.5."""
    x = x.reshape(len(x), -1).astype("float32")
    return (x / 255.0 - 0.5) / 0.5


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="fashion_mnist")
    flags.add_common_flags(parser, epochs=3, seeds=2, batch_size=128, lr=None, depth=None)
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="train every init and seed at once in one compiled JAX program (needs jax; resumable; "
        "no monitor): see fracinit_experiments.side_by_side",
    )
    return parser


# The authors' settings per activation: (layers in all, learning rate).
PROTOCOL = {"relu": (20, 0.01), "leaky_relu": (20, 0.01), "linear": (30, 0.001)}


def apply_protocol_defaults(args):
    """Fills `--depth` and `--lr` left unset with the authors' settings for the activation."""
    depth, lr = PROTOCOL[args.activation]
    args.depth = depth if args.depth is None else args.depth
    args.lr = lr if args.lr is None else args.lr
    return args


def main(argv=None):
    args = apply_protocol_defaults(build_parser().parse_args(argv))
    from fracinit_experiments import protocol
    from fracinit_experiments.quiet_keras import keras

    try:
        (x_train, y_train), (x_test, y_test) = load_data(args.dataset, args.data_dir)
    except flags.DataUnavailable as error:
        flags.fail(str(error))
    x_train, x_test = preprocess(x_train), preprocess(x_test)
    y_train, y_test = y_train.astype("int32"), y_test.astype("int32")
    classes = int(max(y_train.max(), y_test.max())) + 1

    def build_model(init, seed):
        inputs = keras.Input((x_train.shape[1],))
        outputs = protocol.dense_stack(
            inputs, inputs_dim=x_train.shape[1], classes=classes, init=init, args=args, seed=seed
        )
        return keras.Model(inputs, outputs, name=f"{init}_{seed}")

    def compile_model(model):
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=args.lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )

    data = ((x_train, y_train), (x_test, y_test))
    if args.side_by_side:
        from fracinit_experiments import side_by_side

        args.monitor = False
        rows = side_by_side.run_side_by_side(args, data, dataset=args.dataset)
    else:
        rows = protocol.run_all(args, build_model, compile_model, data, dataset=args.dataset)
    title = (
        f"{args.dataset}: {args.depth} Dense layers of {args.width}, {args.activation}, "
        f"SGD lr {args.lr}, batch {args.batch_size}, {args.epochs} epochs"
    )
    protocol.write_outputs(rows, args, dataset=args.dataset, title=title)
    return rows


if __name__ == "__main__":
    main()
