"""`_backend.tensorflow_draws`: Gaussian kernels whole, stable ones in blocks and lanes."""

import math

import keras
import numpy as np
import pytest

from keras_fracinit._backend import kernel_draws
from keras_fracinit._backend import stable_variates
from keras_fracinit._backend import tensorflow_draws

pytestmark = pytest.mark.backends("tensorflow")

LAW = kernel_draws.WeightLaw(1.3)
SEED = np.asarray([11, 5], "int64")


def _uniforms(length):
    import tensorflow as tf

    from keras_fracinit._backend import tensorflow_threefry

    key = tf.cast(tensorflow_draws._int32_seed(SEED), "uint32")
    return tensorflow_threefry.uniform_pair(key[0], key[1], length)


@pytest.mark.parametrize("shape", [(40, 25), (1000,), (7, 11, 13)])
def test_a_lane_keeps_the_head_of_its_transformed_uniforms(shape):
    length = 1024 if math.prod(shape) <= 1024 else 1024 * 2
    got = tensorflow_draws.lane_function("float32", LAW, length)(
        np.asarray(shape, "int32"), SEED, np.float32(0.7)
    )
    uniforms = _uniforms(length)
    expected = stable_variates.symmetric_stable(uniforms[0], uniforms[1], LAW.alpha, 0.7, "float32")
    expected = np.reshape(np.asarray(expected)[: math.prod(shape)], shape)
    # the lane's XLA computation, with polynomial sines, against the graph's: float32 rounding apart
    np.testing.assert_allclose(np.asarray(got), expected, rtol=2e-5)


def test_blocks_over_half_a_lane_are_lanes_and_the_rest_graph_draws():
    import tensorflow as tf

    # rows of 100 entries, blocks of 10 rows (1000 of a 1024 lane); the last block, 3 rows, is
    # under half a lane
    variable = keras.Variable(np.zeros((53, 100), "float32"))
    tensorflow_draws.stable_blocks(variable, (53, 100), "float32", SEED, 0.5, LAW, 1024)
    values = np.asarray(variable.value)
    for index, start in enumerate(range(0, 53, 10)):
        count = min(10, 53 - start)
        seed = tf.cast(tf.random.experimental.stateless_fold_in(SEED, index), tf.int64)
        if count == 10:
            block = tensorflow_draws.lane_function("float32", LAW, 1024)((count, 100), seed, np.float32(0.5))
        else:
            block = tensorflow_draws.draw_function("float32", LAW)((count, 100), seed, np.float32(0.5))
        np.testing.assert_array_equal(values[start : start + count], np.asarray(block))
