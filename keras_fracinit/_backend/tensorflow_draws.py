"""TensorFlow's draws for `initialize`: Gaussian kernels whole, stable ones in blocks of rows.

The values depend on the seed and on the kernel's shape and dtype only:
a plain variable and a mirrored one get the same.

- Gaussian: `keras.random.normal`'s values, from one traced function per
  dtype (the shape is an argument), so that the scaling happens inside the
  graph, where TensorFlow reuses the buffer.
- Stable: blocks of rows, each two uniforms per entry and the
  Chambers-Mallows-Stuck transform (`stable_variates`), written into the
  kernel's rows. A block of more than half the block size is a whole lane
  made by one XLA computation (`lane_function`), uniforms included (from
  the threefry hash, `tensorflow_threefry`); a smaller one is a pair of
  `stateless_uniform` draws and the transform's graph operations. As
  separate operations, each a pass over memory, the transform took most of
  the draw's time.
"""

import functools
import math

import numpy as np

from keras_fracinit._backend import stable_variates
from keras_fracinit._backend import tensorflow_threefry


def _sliceable(variable):
    """A plain TensorFlow variable (not one mirrored or split by a tf.distribute strategy)."""
    import tensorflow as tf

    return type(variable.value).__name__ == "ResourceVariable" and not tf.distribute.has_strategy()


def stable_blocks(variable, shape, dtype, seed, scale, law, entries):
    """Assigns stable draws to `variable` in blocks of rows, block `j` from the seed folded with `j`.

    A block has as many rows as `entries` entries hold (one if a row has
    more). A plain variable gets each block written into its rows: the
    uniforms and the transform's temporaries of a whole kernel would take
    several times its size, a block's take a few MiB. A mirrored or split
    variable gets the same blocks joined and assigned at once (the same
    values). The loop runs in Python: a traced loop taking the variable as
    an argument wrote into another model's variable of another shape once
    its trace was relaxed.
    """
    import tensorflow as tf

    flat = shape or (1,)
    rows = max(1, entries // max(1, math.prod(flat[1:])))
    scale = np.asarray(scale, dtype)
    sliceable, blocks = bool(shape) and _sliceable(variable), []
    for index, start in enumerate(range(0, flat[0], rows)):
        count = min(rows, flat[0] - start)
        block_seed = tf.cast(tf.random.experimental.stateless_fold_in(seed, index), tf.int64)
        block_shape = (count, *flat[1:])
        # A block of more than half the entries is drawn as a whole lane of `entries`, whose
        # transform is one XLA computation compiled once (a pass over memory, against one per
        # operation); a smaller one (a small kernel, a last block) runs the graph's operations.
        if entries // 2 < math.prod(block_shape) <= entries:
            draw = lane_function(dtype, law, entries)
        else:
            draw = draw_function(dtype, law)
        block = draw(np.asarray(block_shape, "int32"), block_seed, scale)
        if sliceable:
            # a scatter of whole rows: TensorFlow's strided-slice assignment copies one entry
            # at a time on one core (13 ns an entry on 2 cores, against 2)
            variable.value.scatter_update(tf.IndexedSlices(block, tf.range(start, start + count)))
        else:
            blocks.append(block)
    if blocks:
        variable.assign(tf.reshape(tf.concat(blocks, 0), shape))


@functools.cache
def lane_function(dtype, law, length):
    """The traced `(shape, seed, scale) -> values of law` that draws a lane of `length` and keeps its head.

    One XLA computation (compiled once per dtype, law and length: the
    shape drawn is always the lane's) makes the uniforms of `length`
    entries, both of an entry from one threefry hash of its index under
    the block's seed (`tensorflow_threefry`), and transforms them, with
    the sines as polynomials; XLA fuses it all into one pass. The first
    `prod(shape)` values are kept. For blocks of more than half a lane.
    float64 uniforms are two random draws made before.
    """
    import tensorflow as tf

    wide = stable_variates.uniform_dtype(dtype) == "float64"

    @tf.function(jit_compile=True)
    def transform(raw, stddev):
        if wide:
            uniforms = raw
        else:  # the random words are made inside the computation, where they are used
            key = tf.cast(raw, "uint32")
            uniforms = tensorflow_threefry.uniform_pair(key[0], key[1], length)
        return stable_variates.symmetric_stable(
            uniforms[0], uniforms[1], law.alpha, stddev, dtype, polynomial_sine=True
        )

    @tf.function(input_signature=_signature(dtype), reduce_retracing=True)
    def lane(shape, seed, stddev):
        seed = _int32_seed(seed)
        # float64 uniforms take both words of a hash each: two draws, made outside XLA (TensorFlow's
        # random ops are far slower inside it)
        raw = tf.random.stateless_uniform((2, length), seed, dtype="float64") if wide else seed
        return tf.reshape(transform(raw, stddev)[: tf.reduce_prod(shape)], shape)

    return lane


@functools.cache
def draw_function(dtype, law):
    """The traced `(shape, seed, scale) -> values of law` for `dtype` (the shape is an argument)."""
    import tensorflow as tf

    @tf.function(input_signature=_signature(dtype), reduce_retracing=True)
    def normal(shape, seed, stddev):
        seed = _int32_seed(seed)
        if law.alpha == 2.0:
            return tf.random.stateless_normal(shape, seed, stddev=stddev, dtype=dtype)
        raw_dtype = stable_variates.uniform_dtype(dtype)
        uniforms = tf.random.stateless_uniform(tf.concat([[2], shape], 0), seed, dtype=raw_dtype)
        return stable_variates.symmetric_stable(uniforms[0], uniforms[1], law.alpha, stddev, dtype)

    return normal


def _signature(dtype):
    """The draw functions' arguments: the shape, Keras' int64 seed pair and the scale."""
    import tensorflow as tf

    return [tf.TensorSpec([None], tf.int32), tf.TensorSpec([2], tf.int64), tf.TensorSpec([], dtype)]


def _int32_seed(seed):
    """The stateless ops' int32 seed from Keras' int64 one, folded as Keras folds it.

    So the values equal `keras.random`'s.
    """
    import tensorflow as tf

    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
