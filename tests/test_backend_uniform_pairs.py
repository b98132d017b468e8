"""`_backend.uniform_pairs`: two float32 uniforms per threefry hash, on JAX."""

import numpy as np
import pytest
from scipy import stats

pytestmark = pytest.mark.backends("jax")

SHAPES = [(7,), (33, 5), (4, 3, 2, 9)]


@pytest.mark.parametrize("shape", SHAPES)
def test_the_xor_of_the_two_words_is_jax_random_bits(shape):
    # the same hash, key and counters as jax.random: its 32-bit draw keeps the xor of the words
    import jax
    from jax.extend.random import threefry2x32_p

    from keras_fracinit._backend import uniform_pairs

    key = np.asarray([3, 1234567], "uint32")
    with jax.threefry_partitionable(True):
        expected = np.asarray(jax.random.bits(key, shape, "uint32"))
    counts = uniform_pairs.flat_counters(shape)
    high, low = threefry2x32_p.bind(key[0], key[1], jax.numpy.zeros_like(counts), counts)
    np.testing.assert_array_equal(np.asarray(high) ^ np.asarray(low), expected)


def test_the_floats_are_made_as_jax_random_uniform_makes_them():
    import jax

    from keras_fracinit._backend import uniform_pairs

    key = np.asarray([9, 8], "uint32")
    bits = jax.random.bits(key, (1000,), "uint32")
    np.testing.assert_array_equal(
        np.asarray(uniform_pairs.unit_float(bits)), np.asarray(jax.random.uniform(key, (1000,), "float32"))
    )


def test_the_pair_is_two_independent_uniforms():
    from keras_fracinit._backend import uniform_pairs

    n = 2**18
    angle, exponential = (np.asarray(u, np.float64) for u in uniform_pairs.uniform_pair([5, 6], (n,)))
    for u in (angle, exponential):
        assert 0.0 <= u.min() and u.max() < 1.0
        assert np.all(u * 2**23 == np.floor(u * 2**23))  # on the float32 uniform's grid
        assert stats.kstest(u, "uniform").pvalue > 1e-3
    # jointly uniform on the square: a chi-square on a 16 x 16 grid at level 1e-3
    counts, _, _ = np.histogram2d(angle, exponential, bins=16, range=[[0, 1], [0, 1]])
    assert stats.chisquare(counts.ravel()).pvalue > 1e-3
    # uncorrelated within 4.5 standard errors (1 / sqrt(n) under independence)
    assert abs(np.corrcoef(angle, exponential)[0, 1]) < 4.5 / np.sqrt(n)


def test_a_typed_key_gives_the_raw_keys_values():
    import jax

    from keras_fracinit._backend import uniform_pairs

    raw = np.asarray([1, 2], "uint32")
    typed = jax.random.wrap_key_data(raw, impl="threefry2x32")
    for a, b in zip(uniform_pairs.uniform_pair(raw, (50,)), uniform_pairs.uniform_pair(typed, (50,))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_too_many_entries_is_refused():
    from keras_fracinit._backend import uniform_pairs

    with pytest.raises(ValueError, match="fewer than 2\\^32 entries"):
        uniform_pairs.uniform_pair([1, 2], (2**16, 2**16))
