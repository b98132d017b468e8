"""Small generated data files in the real on-disk layouts (IDX, the MNIST pickle)."""

import gzip
import pickle

import numpy as np

from keras_fracinit.datasets import MEAN_PIXEL


def write_idx(path, array, compress=True):
    header = b"\x00\x00\x08" + bytes([array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with (gzip.open if compress else open)(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


# Random pixels, uniform on 0..2m, average m: the data sets' own mean pixel,
# so that the loader takes them for the data set they stand in for.
FASHION_MNIST_MEAN, MNIST_MEAN = MEAN_PIXEL["fashion_mnist"], MEAN_PIXEL["mnist"]


def _pixels(rng, shape, mean):
    return rng.integers(0, round(2 * mean) + 1, shape)


def write_mnist_idx(directory, train=96, test=32, seed=0, mean=FASHION_MNIST_MEAN):
    """Four IDX files of random MNIST-shaped data (Fashion-MNIST-like by default, as Debian ships
    Fashion-MNIST in this layout); returns the arrays written."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", train), ("t10k", test)):
        images, labels = _pixels(rng, (n, 28, 28), mean), rng.integers(0, 10, n)
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels)
        arrays[prefix] = (images.astype(np.uint8), labels.astype(np.uint8))
    return arrays


def write_mnist_pickle(directory, sizes=(50, 20, 30), seed=0, mean=MNIST_MEAN):
    """A file laid out like the classic mnist.pkl.gz, of MNIST-like random data; returns each split."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    splits, raw = [], []
    for n in sizes:
        images = _pixels(rng, (n, 784), mean).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.int64)
        splits.append((images.astype(np.float32) / np.float32(256), labels))
        raw.append((images.reshape(n, 28, 28), labels))
    with gzip.open(directory / "mnist.pkl.gz", "wb") as handle:
        pickle.dump(tuple(splits), handle, protocol=2)
    return raw
