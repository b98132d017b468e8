"""The paper's CIFAR-10 experiment: two small conv blocks, then the Dense stack.

Gurbuzbalaban & Hu (AISTATS 2021), protocol of the authors' code:
conv(6, 5x5) + maxpool 2, conv(16, 5x5) + maxpool 2 (ReLU, Keras' default
init), flatten (400), then the same 20-layer Dense stack initialized by the
chosen scheme; random horizontal flip and random 32x32 crop after 4-pixel
zero padding; inputs normalized with mean 0.5, sd 0.5; SGD lr 0.01, weight
decay 1e-4, lr / 10 after epoch 30, batch 512.

Short default run (2 epochs, 1 seed):

    python -m fracinit_experiments.cifar10 --data-dir DIR

The paper's full protocol (50 epochs, 10 seeds):

    python -m fracinit_experiments.cifar10 --epochs 50 --seeds 10 \\
        --inits he,glorot,fractional,random_walk

Data: `keras.datasets.cifar10` (cached under $KERAS_HOME/datasets), or
`--data-dir` holding the python-version batches (`data_batch_1` ...
`data_batch_5`, `test_batch`, as in `cifar-10-batches-py`) or an npz with
`x_train, y_train, x_test, y_test` (images `(N, 32, 32, 3)` uint8). CIFAR-10
cannot be downloaded on machines without network; the example then stops
with a one-line error and never falls back to synthetic data.
"""

import argparse
import pathlib
import pickle

import numpy as np

from fracinit_experiments import flags

WEIGHT_DECAY = 1e-4
LR_DROP_EPOCH = 30


def _read_batch(path):
    with open(path, "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data.transpose(0, 2, 3, 1), np.asarray(batch[b"labels"], dtype=np.int32)


def load_from_dir(data_dir):
    directory = pathlib.Path(data_dir)
    if not directory.is_dir():
        raise flags.DataUnavailable(f"--data-dir {data_dir} is not a directory")
    train_files = [directory / f"data_batch_{i}" for i in range(1, 6)]
    if all(p.exists() for p in train_files) and (directory / "test_batch").exists():
        batches = [_read_batch(p) for p in train_files]
        x_test, y_test = _read_batch(directory / "test_batch")
        x_train = np.concatenate([b[0] for b in batches])
        y_train = np.concatenate([b[1] for b in batches])
        return (x_train, y_train), (x_test, y_test)
    from keras_fracinit import datasets

    from_npz = datasets.load_npz(directory)
    if from_npz is not None:
        return from_npz
    raise flags.DataUnavailable(
        f"{data_dir} holds neither the CIFAR-10 python batches (data_batch_1..5, "
        "test_batch) nor an npz with x_train, y_train, x_test, y_test"
    )


def load_data(data_dir):
    if data_dir is not None:
        return load_from_dir(data_dir)
    from fracinit_experiments.quiet_keras import keras  # Keras starts only once the flags are checked

    try:
        return keras.datasets.cifar10.load_data()
    except Exception as error:  # offline: keras tries to download
        raise flags.DataUnavailable(
            f"cannot load cifar10 through keras.datasets ({type(error).__name__}); no "
            "cached copy under $KERAS_HOME/datasets and no network. Pass --data-dir with "
            "the python batches (data_batch_1..5, test_batch) or an npz"
        ) from None


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    flags.add_common_flags(parser, epochs=2, seeds=1, batch_size=512, lr=0.01)
    parser.set_defaults(inits="he,fractional")
    return parser


def pad_and_random_crop(padding, size, seed=None):
    """A layer that zero-pads by `padding` and crops back to `size`, in training only.

    Keras' `RandomCrop` alone does not undo the padding at inference, so the
    two are wrapped: at inference the image passes unchanged. (Defined here so
    that Keras starts only once the flags are checked.)
    """
    from fracinit_experiments.quiet_keras import keras

    class PadAndRandomCrop(keras.layers.Layer):
        def __init__(self, padding, size, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.pad = keras.layers.ZeroPadding2D(padding)
            self.crop = keras.layers.RandomCrop(size, size, seed=seed)

        def build(self, input_shape):
            self.pad.build(input_shape)
            self.crop.build(self.pad.compute_output_shape(input_shape))

        def compute_output_shape(self, input_shape):
            return input_shape

        def call(self, images, training=None):
            if training:
                return self.crop(self.pad(images), training=True)
            return images

    return PadAndRandomCrop(padding, size, seed=seed)


def step_decay(lr):
    """lr until epoch 30, lr / 10 after (epochs counted from 1)."""
    return lambda epoch, _: lr if epoch < LR_DROP_EPOCH else lr / 10.0


def main(argv=None):
    args = build_parser().parse_args(argv)
    from fracinit_experiments import protocol
    from fracinit_experiments.quiet_keras import keras

    try:
        (x_train, y_train), (x_test, y_test) = load_data(args.data_dir)
    except flags.DataUnavailable as error:
        flags.fail(str(error))
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0
    y_train = np.asarray(y_train, dtype="int32").reshape(-1)
    y_test = np.asarray(y_test, dtype="int32").reshape(-1)

    def build_model(init, seed):
        inputs = keras.Input((32, 32, 3))
        x = keras.layers.RandomFlip("horizontal", seed=seed)(inputs)
        x = pad_and_random_crop(4, 32, seed=seed)(x)
        x = keras.layers.Normalization(mean=0.5, variance=0.25)(x)
        x = keras.layers.Conv2D(6, 5, activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Conv2D(16, 5, activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Flatten()(x)
        outputs = protocol.dense_stack(x, inputs_dim=x.shape[-1], classes=10, init=init, args=args, seed=seed)
        return keras.Model(inputs, outputs, name=f"{init}_{seed}")

    def compile_model(model):
        model.compile(
            # Plain SGD: decoupled decay equals L2 decay added to the gradient.
            optimizer=keras.optimizers.SGD(learning_rate=args.lr, weight_decay=WEIGHT_DECAY),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )

    rows = protocol.run_all(
        args,
        build_model,
        compile_model,
        ((x_train, y_train), (x_test, y_test)),
        dataset="cifar10",
        callbacks=[keras.callbacks.LearningRateScheduler(step_decay(args.lr))],
    )
    title = (
        f"cifar10: 2 conv blocks + {args.depth} Dense layers of {args.width}, "
        f"{args.activation}, SGD lr {args.lr} (/10 after epoch {LR_DROP_EPOCH}), "
        f"wd {WEIGHT_DECAY}, batch {args.batch_size}, {args.epochs} epochs"
    )
    protocol.write_outputs(rows, args, dataset="cifar10", title=title)
    return rows


if __name__ == "__main__":
    main()
