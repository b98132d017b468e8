"""Gaussian draws for `initialize`, one kernel at a time, where each kernel lives.

The kernels are drawn in model order from one `keras.random.SeedGenerator`,
which advances once per kernel. Each gets `N(0, stddev^2)` values that
depend on the seed and on the kernels' order, shapes and dtypes only: not on
where the variables live (one device, sharded over a mesh, mirrored) and not
on how the work is split.

Memory: a kernel's new values are made on the devices that hold it, in the
layout it has, and assigned at once; no kernel passes through the host and
no two kernels' draws exist together, so the peak extra memory is about one
kernel (the largest), whatever the size of the model.

- TensorFlow: `keras.random.normal`'s values, from one traced function per
  dtype (the shape is an argument), so that the scaling happens inside the
  graph, where TensorFlow reuses the buffer.
- JAX: one compiled function per kernel shape, dtype and sharding, whose
  output sharding is the variable's: with JAX's partitionable threefry (its
  default) each device computes its own shard, equal to the unsharded
  draw's. A kernel under `SMALL` entries gets `keras.random.normal`'s
  values; a larger one is drawn in blocks of rows of at most `SMALL`
  entries, block `j` from the seed folded with `j`
  (`jax.random.fold_in`), because threefry holds two 32-bit words per entry
  while it works, 3 times the kernel if drawn whole. Compiling costs more
  than drawing a small kernel (0.56 s against 0.01 s for a 3x3x64x64
  kernel on 2 CPU cores), so a small kernel on one device is cut, on the
  host, from a flat draw whose length is the next power of two (one
  compiled function per length): threefry makes entry `i` from the key and
  `i` alone, so the values are the same. Kernels under `OPTIMIZE_FROM`
  entries compile without XLA's backend optimizations (4x faster to
  compile, 4x slower to run).
  The blocks are written in place by a loop; for a kernel whose rows are
  split over devices, where XLA would assemble more than the whole kernel
  on each device for such a loop (22 MiB for a 16 MiB kernel on a model
  axis of 4), the blocks are mapped instead, and each device draws its own
  (12 MiB). When the rows split unevenly against the blocks, XLA moves
  rows between devices (16.3 MiB for a 15.6 MiB kernel).
- Other backends: `keras.random.normal` and `assign`.
"""

import functools
import math

import keras
import numpy as np

# JAX: kernels with fewer entries are drawn whole, larger ones in blocks of
# rows of at most this many entries (4 MiB of float32).
SMALL = 2**20
# JAX: kernels with fewer entries are compiled without XLA's backend
# optimizations, which cost more time to compile than they save in drawing.
OPTIMIZE_FROM = 2**16


def draw(kernels, generator):
    """Assigns `N(0, stddev^2)` draws to `[(variable, stddev)]`, in order, from `generator`."""
    backend = keras.backend.backend()
    for variable, stddev in kernels:
        shape = tuple(variable.shape)
        dtype = keras.backend.standardize_dtype(variable.dtype)
        if backend == "jax":
            value = _jax_value(shape, dtype, variable.value.sharding, generator.next(), stddev)
        elif backend == "tensorflow":
            value = _tensorflow_normal(dtype)(
                np.asarray(shape, "int32"), generator.next(), np.asarray(stddev, dtype)
            )
        else:
            value = keras.random.normal(shape, stddev=stddev, dtype=dtype, seed=generator)
        variable.assign(value)
        del value  # before the next kernel's draw


def _jax_value(shape, dtype, sharding, seed, stddev):
    # Host copies of the 8-byte seed and the scalar: the compiled function
    # places them itself, wherever its output goes.
    seed, stddev = np.asarray(seed), np.asarray(stddev, dtype)
    size = math.prod(shape)
    if size < SMALL and len(sharding.device_set) == 1:
        length = 1 << max(size - 1, 0).bit_length()
        flat = _jax_normal((length,), dtype, None, whole=True, optimize=size >= OPTIMIZE_FROM)(seed, stddev)
        return np.asarray(flat)[:size].reshape(shape)
    return _jax_normal(shape, dtype, sharding, whole=size < SMALL, optimize=size >= OPTIMIZE_FROM)(
        seed, stddev
    )


@functools.cache
def _jax_normal(shape, dtype, sharding, whole, optimize):
    """The compiled `(seed, stddev) -> N(0, stddev^2)` of `shape`, laid out as `sharding`.

    `whole` (else in blocks of rows) and `optimize` (XLA's backend
    optimizations, which can move the last bit of a value) go with the
    kernel's size, not with the shape drawn (a flat draw to cut from is
    longer), so that a kernel's values do not depend on the way taken.
    """
    import jax
    from jax import lax

    rows = max(1, SMALL // math.prod(shape[1:]))
    full, rest = divmod(shape[0] if shape else 1, rows)

    def block(seed, stddev, index, count):
        return jax.random.normal(jax.random.fold_in(seed, index), (count, *shape[1:]), dtype) * stddev

    # Split along the rows (sharding's shard_shape; None: one device)?
    rows_split = sharding is not None and shape and sharding.shard_shape(shape)[0] < shape[0]

    def normal(seed, stddev):
        if whole:
            return jax.random.normal(seed, shape, dtype) * stddev
        if rows_split:
            # A loop writing blocks at computed offsets into rows that are
            # split over devices makes XLA assemble more than a whole
            # kernel per device. Mapped over the blocks, each device draws
            # its own blocks only (3 times its shard while it draws them).
            # (a last, shorter block is the head of a whole one: threefry
            # makes entry i from the key and i alone)
            count = full + bool(rest)
            blocks = jax.vmap(lambda index: block(seed, stddev, index, rows))(jax.numpy.arange(count))
            return blocks.reshape((count * rows, *shape[1:]))[: shape[0]]

        # JAX's threefry holds two 32-bit words per entry while it works:
        # drawn whole, a kernel would need 3 times its size. Blocks of rows
        # written into the output in place need the kernel and one block.
        def step(index, out):
            return lax.dynamic_update_slice_in_dim(out, block(seed, stddev, index, rows), index * rows, 0)

        out = lax.fori_loop(0, full, step, jax.numpy.empty(shape, dtype))
        if rest:
            out = lax.dynamic_update_slice_in_dim(out, block(seed, stddev, full, rest), full * rows, 0)
        return out

    options = {} if optimize else {"xla_backend_optimization_level": 0}
    lowered = jax.jit(normal, out_shardings=sharding).lower(
        jax.ShapeDtypeStruct((2,), "uint32"), jax.ShapeDtypeStruct((), dtype)
    )
    return lowered.compile(options)


@functools.cache
def _tensorflow_normal(dtype):
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
        return tf.random.stateless_normal(shape, seed, stddev=stddev, dtype=dtype)

    return normal


def laid_out(distribution, shape, dtype, scale, seed, layout):
    """`keras.random.normal(stddev=scale)` or `uniform(-scale, scale)` values, distributed as `layout`.

    For an initializer that Keras hands a `layout` (a sharded variable on
    JAX): each device draws its own shard, and the values equal the
    unsharded draw's. Elsewhere the values are drawn whole, then
    distributed.
    """
    if keras.backend.backend() != "jax":
        if distribution == "normal":
            value = keras.random.normal(shape, stddev=scale, dtype=dtype, seed=seed)
        else:
            value = keras.random.uniform(shape, minval=-scale, maxval=scale, dtype=dtype, seed=seed)
        return keras.distribution.distribute_tensor(value, layout)
    import jax

    if isinstance(layout, keras.distribution.TensorLayout):
        layout = layout.backend_layout
    # Keras' own seed rule (keras.random.normal's), for a seed of either kind.
    key = seed.next() if isinstance(seed, keras.random.SeedGenerator) else np.asarray([seed, 0], "uint32")
    if distribution == "normal":
        return jax.random.normal(key, shape, dtype, out_sharding=layout) * scale
    return jax.random.uniform(key, shape, dtype, minval=-scale, maxval=scale, out_sharding=layout)
