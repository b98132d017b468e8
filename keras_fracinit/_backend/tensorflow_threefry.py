"""The threefry-2x32 hash in TensorFlow operations, for draws that XLA compiles.

TensorFlow's random ops run outside XLA (inside it, on CPU, they are two
orders of magnitude slower), so a draw made with them and transformed by an
XLA computation passes through memory twice. Written in integer operations,
the hash compiles into the same computation as the transform: the random
words are made where they are used. An alpha-stable entry takes both 32-bit
words of one hash (its two uniforms), as on JAX (`uniform_pairs`).

Threefry-2x32 with 20 rounds: two 32-bit words of state, the counter plus
the key; 5 groups of 4 rounds, each round `x0 += x1; x1 = rotl(x1, r);
x1 ^= x0`, with the rotations 13, 15, 26, 6 and 17, 29, 16, 24 taking
turns; after group `g` the key words `k[g+1], k[g+2]` (indices mod 3, with
`k[2] = k0 ^ k1 ^ 0x1BD11BDA`) and `g + 1` are added. It is the hash JAX's
`jax.random` uses, word for word (tested).

Reference:
    J. K. Salmon, M. A. Moraes, R. O. Dror and D. E. Shaw, "Parallel random
    numbers: as easy as 1, 2, 3", SC 2011.
"""

from keras_fracinit._backend import uniform_pairs

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA
_GROUPS = 5


def hash_words(key0, key1, count0, count1):
    """The two uint32 words of threefry-2x32 (20 rounds) of each counter `(count0, count1)` under the key.

    Args:
        key0, key1: The key's words, uint32 scalars.
        count0, count1: The counters' words, uint32 tensors of one shape.

    Returns:
        A pair of uint32 tensors of the counters' shape.

    Example:

    >>> import tensorflow as tf
    >>> words = hash_words(tf.constant(0, "uint32"), tf.constant(0, "uint32"),
    ...                    tf.zeros(3, "uint32"), tf.range(3, dtype="uint32"))
    >>> [w.dtype.name for w in words]
    ['uint32', 'uint32']
    """
    import tensorflow as tf

    keys = (key0, key1, key0 ^ key1 ^ tf.constant(_PARITY, "uint32"))
    x0, x1 = count0 + keys[0], count1 + keys[1]
    for group in range(_GROUPS):
        for rotation in _ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = _rotate_left(x1, rotation) ^ x0
        x0 = x0 + keys[(group + 1) % 3]
        x1 = x1 + keys[(group + 2) % 3] + tf.constant(group + 1, "uint32")
    return x0, x1


def _rotate_left(x, bits):
    import tensorflow as tf

    left = tf.bitwise.left_shift(x, tf.constant(bits, "uint32"))
    return left | tf.bitwise.right_shift(x, tf.constant(32 - bits, "uint32"))


def uniform_pair(key0, key1, length):
    """Two independent U[0, 1) float32 vectors of `length` from one hash per entry.

    Entry `i` hashes the counter `(0, i)`; each of its two words gives a
    uniform as `jax.random.uniform` makes a float32 from a word: its top 23
    bits as the mantissa of a number in [1, 2), minus 1.

    Args:
        key0, key1: The key's words, uint32 scalars.
        length: The vectors' length, below 2^32.

    Returns:
        A pair of float32 vectors.
    """
    import tensorflow as tf

    counts = tf.cast(tf.range(length, dtype="int64"), "uint32")
    words = hash_words(key0, key1, tf.zeros_like(counts), counts)
    # the float conversion of the JAX draws (`uniform_pairs.unit_float`), in TensorFlow's operations
    one = tf.constant(uniform_pairs.ONE_BITS, "uint32")
    drop = tf.constant(32 - uniform_pairs.MANTISSA_BITS, "uint32")
    return tuple(tf.bitcast(tf.bitwise.right_shift(word, drop) | one, tf.float32) - 1.0 for word in words)
