"""`_backend.tensorflow_threefry`: JAX's threefry-2x32 hash, word for word, in TensorFlow operations."""

import numpy as np
import pytest

pytestmark = pytest.mark.backends("tensorflow")


def _words(rng, size):
    return rng.integers(0, 2**32, size, dtype=np.uint64).astype(np.uint32)


@pytest.mark.parametrize("compiled", [False, True])
def test_the_hash_is_jaxs_threefry_word_for_word(compiled):
    import jax
    import tensorflow as tf
    from jax.extend.random import threefry2x32_p

    from keras_fracinit._backend import tensorflow_threefry

    rng = np.random.default_rng(0)
    hashed = tensorflow_threefry.hash_words
    if compiled:
        hashed = tf.function(hashed, jit_compile=True)
    for _ in range(3):
        key, counts = _words(rng, 2), _words(rng, (2, 1000))
        got = hashed(*(tf.constant(k) for k in key), tf.constant(counts[0]), tf.constant(counts[1]))
        expected = threefry2x32_p.bind(
            jax.numpy.uint32(key[0]), jax.numpy.uint32(key[1]), *(jax.numpy.asarray(c) for c in counts)
        )
        for word, reference in zip(got, expected):
            np.testing.assert_array_equal(np.asarray(word), np.asarray(reference))


def test_the_uniform_pair_is_the_jax_draws_pair():
    # the same counters and float conversion as the JAX draws' (whose law tests_backend_uniform_pairs
    # checks): the two backends' stable lanes start from the same uniforms
    import tensorflow as tf

    from keras_fracinit._backend import tensorflow_threefry
    from keras_fracinit._backend import uniform_pairs

    key = np.asarray([12345, 678], "uint32")
    got = tensorflow_threefry.uniform_pair(tf.constant(key[0]), tf.constant(key[1]), 5000)
    expected = uniform_pairs.uniform_pair(key, (5000,))
    for uniform, reference in zip(got, expected):
        np.testing.assert_array_equal(np.asarray(uniform), np.asarray(reference))
