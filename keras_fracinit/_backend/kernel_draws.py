"""Weight draws for `initialize`, one kernel at a time, where each kernel lives.

The kernels are drawn in model order from one `keras.random.SeedGenerator`,
which advances once per kernel. Each gets `N(0, scale^2)` values, or
symmetric alpha-stable SaS(scale) ones (`WeightLaw(alpha)`, from a pair of
uniform draws per entry, `stable_variates`), that depend on the seed and on
the kernels' order, shapes and dtypes only: not on where the variables live
(one device, sharded over a mesh, mirrored) and not on how the work is
split. (Below, "normal" draws stand for either law: the stable ones take
the same ways with two uniforms per entry, on JAX both from one threefry
hash of the entry's index (`uniform_pairs`), so that entry `i` still comes
from the key and `i` alone.)

Memory: a kernel's new values are made on the devices that hold it, in the
layout it has, and assigned at once; no kernel passes through the host and
no two kernels' draws exist together, so the peak extra memory is about one
kernel (the largest), whatever the size of the model.

- TensorFlow: `tensorflow_draws`, Gaussian kernels whole, stable ones in
  blocks of rows.
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
  The blocks are written in place by a loop when every device holds all
  the rows; when the rows are split over devices, each device draws the
  blocks its rows overlap, one at a time (for such a loop XLA would
  assemble more than a kernel per device: 22 MiB for a 16 MiB kernel on a
  model axis of 4).
- Other backends: `keras.random.normal` and `assign`.
"""

import dataclasses
import functools
import math

import keras
import numpy as np

from keras_fracinit._backend import stable_variates
from keras_fracinit._backend import tensorflow_draws
from keras_fracinit._backend import uniform_pairs

# JAX: kernels with fewer entries are drawn whole, larger ones in blocks of
# rows of at most this many entries (4 MiB of float32).
SMALL = 2**20
# Stable draws hold a pair of uniforms per entry (and their two threefry words) and the
# transform's temporaries: their blocks hold this many times fewer entries,
# so that a block's work stays about a Gaussian block's.
STABLE_BLOCK_DIVISOR = 4
# JAX: kernels with fewer entries are compiled without XLA's backend
# optimizations, which cost more time to compile than they save in drawing.
OPTIMIZE_FROM = 2**16


@dataclasses.dataclass(frozen=True)
class WeightLaw:
    """The law of the entries drawn: SaS with stability index `alpha` (2: Gaussian)."""

    alpha: float = 2.0


GAUSSIAN = WeightLaw()


def standard_values(raw, law, scale, dtype, compiled=False):
    """Scaled values of `law` from the backend's raw draws: normals, or a pair of uniform arrays.

    `compiled`: inside a function that XLA compiles, where the stable
    transform's polynomial sines are the faster.
    """
    if law.alpha == 2.0:
        return raw * scale
    return stable_variates.symmetric_stable(raw[0], raw[1], law.alpha, scale, dtype, polynomial_sine=compiled)


def draw(kernels, generator, law=GAUSSIAN):
    """Assigns draws of `law` to `[(variable, scale)]`, in order, from `generator`.

    `scale` is the standard deviation for the Gaussian law, the SaS scale
    `sigma` for a stable one.
    """
    backend = keras.backend.backend()
    for variable, scale in kernels:
        shape = tuple(variable.shape)
        dtype = keras.backend.standardize_dtype(variable.dtype)
        if backend == "jax":
            value = _jax_value(shape, dtype, variable.value.sharding, generator.next(), scale, law)
        elif backend == "tensorflow" and law.alpha != 2.0:
            tensorflow_draws.stable_blocks(variable, shape, dtype, generator.next(), scale, law, SMALL)
            continue
        elif backend == "tensorflow":
            value = tensorflow_draws.draw_function(dtype, law)(
                np.asarray(shape, "int32"), generator.next(), np.asarray(scale, dtype)
            )
        else:
            value = law_values(law, shape, dtype, scale, generator)
        variable.assign(value)
        del value  # before the next kernel's draw


def law_values(law, shape, dtype, scale, seed, layout=None):
    """`keras.random` values of `law` for `shape` (an initializer's draw), laid out as `layout` if given."""
    if layout is not None and keras.backend.backend() == "jax":
        return _jax_laid_out(law, shape, dtype, scale, seed, layout)
    if law.alpha == 2.0:
        value = keras.random.normal(shape, stddev=scale, dtype=dtype, seed=seed)
    else:
        uniforms = keras.random.uniform((2, *shape), dtype=stable_variates.uniform_dtype(dtype), seed=seed)
        value = standard_values(uniforms, law, scale, dtype)
    return value if layout is None else keras.distribution.distribute_tensor(value, layout)


def _jax_laid_out(law, shape, dtype, scale, seed, layout):
    import jax

    if isinstance(layout, keras.distribution.TensorLayout):
        layout = layout.backend_layout
    key = seed.next() if isinstance(seed, keras.random.SeedGenerator) else np.asarray([seed, 0], "uint32")

    def values(key):
        return standard_values(_jax_raw(key, shape, dtype, law), law, scale, dtype, compiled=True)

    return jax.jit(values, out_shardings=layout)(key)


def _jax_raw(key, shape, dtype, law):
    import jax

    if law.alpha == 2.0:
        return jax.random.normal(key, shape, dtype)
    raw_dtype = stable_variates.uniform_dtype(dtype)
    if raw_dtype == "float32" and math.prod(shape) < 2**32:
        # both uniforms from one threefry hash per entry, where two draws would take two
        return uniform_pairs.uniform_pair(key, shape)
    # float64 uniforms take both words of a hash each: two draws of the kernel's shape (not one
    # of twice its size), each sharded like the kernel
    angle, exponential = jax.random.split(key)
    return jax.random.uniform(angle, shape, raw_dtype), jax.random.uniform(exponential, shape, raw_dtype)


def _jax_value(shape, dtype, sharding, seed, scale, law=GAUSSIAN):
    # Host copies of the 8-byte seed and the scalar: the compiled function
    # places them itself, wherever its output goes.
    seed, scale = np.asarray(seed), np.asarray(scale, dtype)
    size = math.prod(shape)
    small = block_entries(law)
    if size < small and len(sharding.device_set) == 1:
        length = 1 << max(size - 1, 0).bit_length()
        flat = _jax_compiled_draw((length,), dtype, None, True, size >= OPTIMIZE_FROM, law)(seed, scale)
        return np.asarray(flat)[:size].reshape(shape)
    return _jax_compiled_draw(shape, dtype, sharding, size < small, size >= OPTIMIZE_FROM, law)(seed, scale)


def block_entries(law):
    """The most entries of `law` drawn at once on JAX (a whole kernel, or a block of rows)."""
    return SMALL if law.alpha == 2.0 else SMALL // STABLE_BLOCK_DIVISOR


@functools.cache
def _jax_compiled_draw(shape, dtype, sharding, whole, optimize, law=GAUSSIAN):
    """The compiled `(seed, scale) -> values of law` of `shape`, laid out as `sharding`.

    `whole` (else in blocks of rows) and `optimize` (XLA's backend
    optimizations, which can move the last bit of a value) go with the
    kernel's size, not with the shape drawn (a flat draw to cut from is
    longer), so that a kernel's values do not depend on the way taken.
    """
    import jax

    if whole:

        def normal(seed, stddev):
            return standard_values(_jax_raw(seed, shape, dtype, law), law, stddev, dtype, compiled=True)

    else:
        normal = _blocks_of_rows(shape, dtype, sharding, law)
    options = {} if optimize else {"xla_backend_optimization_level": 0}
    lowered = jax.jit(normal, out_shardings=sharding).lower(
        jax.ShapeDtypeStruct((2,), "uint32"), jax.ShapeDtypeStruct((), dtype)
    )
    return lowered.compile(options)


def _blocks_of_rows(shape, dtype, sharding, law):
    """`(seed, stddev) -> values`, drawn in blocks of `rows` rows, block `j` from the seed folded with `j`.

    JAX's threefry holds two 32-bit words per entry while it works: drawn
    whole, a kernel would need 3 times its size. A last, shorter block is
    the head of a whole one (threefry makes entry `i` from the key and `i`
    alone), so any block can be drawn whole and cut.
    """
    import jax
    from jax import lax

    # A power of two, so that the blocks line up with the shards when a
    # kernel's rows are split evenly over devices (row counts are multiples
    # of powers of two far more often than of anything else).
    rows = 1 << max(0, (block_entries(law) // math.prod(shape[1:])).bit_length() - 1)
    full, rest = divmod(shape[0], rows)
    count = full + bool(rest)

    def block(seed, stddev, index, length=rows):
        raw = _jax_raw(jax.random.fold_in(seed, index), (length, *shape[1:]), dtype, law)
        return standard_values(raw, law, stddev, dtype, compiled=True)

    local = sharding.shard_shape(shape) if sharding is not None else shape
    if local[0] == shape[0]:
        # Rows on every device: the blocks written in place by a loop need
        # the kernel and one block.
        def normal(seed, stddev):
            def step(index, out):
                return lax.dynamic_update_slice_in_dim(out, block(seed, stddev, index), index * rows, 0)

            out = lax.fori_loop(0, full, step, jax.numpy.empty(shape, dtype))
            if rest:
                out = lax.dynamic_update_slice_in_dim(out, block(seed, stddev, full, rest), full * rows, 0)
            return out

        return normal
    # Rows split over devices: for a loop writing at computed offsets into
    # them, XLA would assemble more than a kernel per device.
    if tuple(local[1:]) == tuple(shape[1:]) and isinstance(sharding, jax.sharding.NamedSharding):
        return _rows_by_device(shape, dtype, sharding, rows, block)

    # Rows and other axes split: mapped over the blocks, each device draws
    # its own where the shards follow block boundaries (3 times its shard
    # while it draws them, 5 times for stable draws); otherwise XLA moves
    # rows between the devices.
    def normal(seed, stddev):
        blocks = jax.vmap(lambda index: block(seed, stddev, index))(jax.numpy.arange(count))
        return blocks.reshape((count * rows, *shape[1:]))[: shape[0]]

    return normal


def _rows_by_device(shape, dtype, sharding, rows, block):
    """Only the rows split over devices: each device draws the blocks its rows overlap, one at a time.

    Each device works alone: it needs its shard, the blocks its rows overlap
    (at most two more than the shard holds) and one block's work, whether
    or not the shards follow block boundaries. Its blocks are whole rows,
    so this is for kernels whose other axes are not split.
    """
    import jax
    from jax import lax

    spec = tuple(sharding.spec) + (None,) * (len(shape) - len(sharding.spec))
    local = sharding.shard_shape(shape)
    # shards that follow block boundaries overlap their own blocks only
    overlapped = -(-local[0] // rows) + bool(local[0] % rows)

    def offset(axis):
        names = spec[axis] if isinstance(spec[axis], tuple) else (spec[axis],)
        index = 0
        for name in names:
            index = index * sharding.mesh.shape[name] + lax.axis_index(name)
        return index * local[axis]

    def on_device(seed, stddev):
        first = offset(0) // rows

        def step(k, window):
            return lax.dynamic_update_slice_in_dim(window, block(seed, stddev, first + k), k * rows, 0)

        empty = jax.numpy.empty((overlapped * rows, *shape[1:]), dtype)
        window = lax.fori_loop(0, overlapped, step, empty)
        return lax.dynamic_slice_in_dim(window, offset(0) - first * rows, local[0], 0)

    partition = jax.sharding.PartitionSpec
    # (check_vma=False: the window starts the same on every device and
    # differs once written; JAX's check would reject that loop carry)
    return jax.shard_map(
        on_device,
        mesh=sharding.mesh,
        in_specs=(partition(), partition()),
        out_specs=partition(*spec),
        check_vma=False,
    )


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
