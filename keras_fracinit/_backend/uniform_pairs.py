"""Two float32 uniform draws per entry on JAX, from one threefry hash per entry.

`jax.random.uniform` (with JAX's partitionable threefry, its default) makes
entry `i` of a float32 draw from one call of the threefry-2x32 hash on the
counter `i`: of the two 32-bit words the call returns it keeps their xor.
An alpha-stable entry needs two uniforms, and two such draws cost two hash
calls per entry. The two words of one call are already two independent
32-bit draws, so here one call per entry gives both: half the hashing, and
each uniform is made from its word as `jax.random.uniform` makes a float32
(its top 23 bits as the mantissa of a number in [1, 2), minus 1).

The counters are the entries' flat indices, written as a sum of per-axis
iotas, which XLA's partitioner splits like the output: each device hashes
its own entries, and a sharded draw equals the unsharded one.

Reference:
    J. K. Salmon, M. A. Moraes, R. O. Dror and D. E. Shaw, "Parallel random
    numbers: as easy as 1, 2, 3", SC 2011 (the threefry hash).
"""

import math

# The float32 whose bits are 0x3F800000 is 1.0: or-ing 23 random bits into it gives [1, 2).
ONE_BITS = 0x3F800000
MANTISSA_BITS = 23


def uniform_pair(key, shape):
    """Two independent U[0, 1) float32 arrays of `shape`, from one threefry hash per entry.

    Args:
        key: A JAX PRNG key: a raw `uint32[2]` (as Keras' JAX backend holds
            them) or a typed one.
        shape: The arrays' shape, of fewer than 2^32 entries.

    Returns:
        A pair of float32 arrays, on the grid of multiples of 2^-23.

    Example:

    >>> import numpy as np
    >>> angle, exponential = uniform_pair(np.asarray([0, 7], "uint32"), (3, 4))
    >>> angle.shape, str(exponential.dtype)
    ((3, 4), 'float32')
    """
    import jax
    from jax.extend.random import threefry2x32_p

    if math.prod(shape) >= 2**32:
        raise ValueError(f"Argument `shape` must have fewer than 2^32 entries. Received: shape={shape}")
    key = jax.numpy.asarray(key)
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    key = key.astype("uint32")
    counts = flat_counters(shape)
    words = threefry2x32_p.bind(key[0], key[1], jax.numpy.zeros_like(counts), counts)
    return unit_float(words[0]), unit_float(words[1])


def flat_counters(shape):
    """Each entry's flat (row-major) index as uint32, a sum of per-axis iotas."""
    import jax

    counts = jax.numpy.zeros(shape, "uint32")
    stride = 1
    for axis in reversed(range(len(shape))):
        counts = counts + jax.lax.broadcasted_iota("uint32", shape, axis) * jax.numpy.uint32(stride)
        stride *= shape[axis]
    return counts


def unit_float(bits):
    """float32 values in [0, 1) from uint32 words: the top 23 bits as a mantissa."""
    import jax

    mantissa = jax.lax.shift_right_logical(bits, jax.numpy.uint32(32 - MANTISSA_BITS))
    one_to_two = jax.lax.bitcast_convert_type(mantissa | jax.numpy.uint32(ONE_BITS), "float32")
    return one_to_two - 1.0
