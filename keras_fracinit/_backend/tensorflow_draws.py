"""TensorFlow's draws for `initialize`: Gaussian kernels whole, stable ones in blocks of rows.

The values depend on the seed and on the kernel's shape and dtype only:
a plain variable and a mirrored one get the same.

- Gaussian: `keras.random.normal`'s values, from one traced function per
  dtype (the shape is an argument), so that the scaling happens inside the
  graph, where TensorFlow reuses the buffer.
- Stable: blocks of rows, each a pair of `stateless_uniform` draws and the
  Chambers-Mallows-Stuck transform (`stable_variates`), written into the
  kernel's rows.
"""

import functools
import math

import numpy as np

from keras_fracinit._backend import stable_variates


def _sliceable(variable):
    """A plain TensorFlow variable (not one mirrored or split by a tf.distribute strategy)."""
    import tensorflow as tf

    return type(variable.value).__name__ == "ResourceVariable" and not tf.distribute.has_strategy()


def stable_blocks(variable, shape, dtype, seed, scale, law, entries):
    """Assigns stable draws to `variable` in blocks of rows, block `j` from the seed folded with `j`.

    A block has at most `entries` entries (one row if a row has more).

    A plain variable gets each block written into its rows: the uniforms and
    the transform's temporaries of a whole kernel would take several times
    its size, a block's take a few MiB. A mirrored or split variable gets the
    same blocks joined and assigned at once (the same values). The loop runs
    in Python: a traced loop taking the variable as an argument wrote into
    another model's variable of another shape once its trace was relaxed.
    """
    import tensorflow as tf

    # A Gaussian block's entries: TensorFlow's per-block cost is higher than JAX's, and blocks a
    # quarter the size (as on JAX) made the draws twice as slow here.
    rows = 1 << max(0, (entries // max(1, math.prod(shape[1:]))).bit_length() - 1)
    draw, scale, flat = draw_function(dtype, law), np.asarray(scale, dtype), shape or (1,)
    sliceable, blocks = bool(shape) and _sliceable(variable), []
    for index, start in enumerate(range(0, flat[0], rows)):
        count = min(rows, flat[0] - start)
        block_seed = tf.cast(tf.random.experimental.stateless_fold_in(seed, index), tf.int64)
        block = draw(np.asarray((count, *flat[1:]), "int32"), block_seed, scale)
        if sliceable:
            # a scatter of whole rows: TensorFlow's strided-slice assignment copies one entry
            # at a time on one core (13 ns an entry on 2 cores, against 2)
            variable.value.scatter_update(tf.IndexedSlices(block, tf.range(start, start + count)))
        else:
            blocks.append(block)
    if blocks:
        variable.assign(tf.reshape(tf.concat(blocks, 0), shape))


@functools.cache
def draw_function(dtype, law):
    """The traced `(shape, seed, scale) -> values of law` for `dtype` (the shape is an argument)."""
    import tensorflow as tf

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([2], tf.int64),
            tf.TensorSpec([], dtype),
        ],
        reduce_retracing=True,
    )
    def normal(shape, seed, stddev):
        # The stateless ops take an int32 seed; Keras folds its int64 seed
        # state into that range this way, so the values equal
        # keras.random.normal's.
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
        if law.alpha == 2.0:
            return tf.random.stateless_normal(shape, seed, stddev=stddev, dtype=dtype)
        raw_dtype = stable_variates.uniform_dtype(dtype)
        uniforms = tf.random.stateless_uniform(tf.concat([[2], shape], 0), seed, dtype=raw_dtype)
        return stable_variates.symmetric_stable(uniforms[0], uniforms[1], law.alpha, stddev, dtype)

    return normal
