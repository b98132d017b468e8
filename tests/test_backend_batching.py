"""`keras_fracinit._backend.batching`: the first batches of any form of data, as numpy."""

import numpy as np
import pytest
from helpers import batches_py_dataset

from keras_fracinit._backend import batching


def _arrays(n=70):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)).astype("float32"), rng.integers(0, 4, size=n)


def test_arrays_are_cut_into_full_batches_only():
    x, y = _arrays(70)
    batches = batching.take_batches((x, y), 2, batch_size=32)
    assert [b[0].shape for b in batches] == [(32, 3), (32, 3)]
    np.testing.assert_array_equal(batches[1][1], y[32:64])
    with pytest.raises(ValueError, match="must hold at least 3 batches. Received: 2 batches"):
        batching.take_batches((x, y), 3, batch_size=32)  # the short last batch does not count


def test_iterables_py_datasets_and_structures():
    x, y = _arrays(64)
    from_iterable = batching.take_batches(iter([(x[:16], y[:16]), (x[16:32], y[16:32])]), 2)
    from_dataset = batching.take_batches(batches_py_dataset(x, y, 16), 2)
    for batches in (from_iterable, from_dataset):
        np.testing.assert_array_equal(batches[1][0], x[16:32])
        np.testing.assert_array_equal(batches[1][1], y[16:32])
    inputs_only = batching.take_batches(iter([x[:8]]), 1)
    assert inputs_only[0][1] is None and inputs_only[0][0].shape == (8, 3)
    assert batching.sample_count({"a": x, "b": y}) == 64
