"""The argument checks that need Keras: a seed and a dtype, as Keras' initializers take them.

`keras_fracinit._checks` holds every check that needs no Keras.
"""

import random as python_random

import keras


def check_seed(seed):
    """The seed as Keras' initializers take it: an int (drawn when None) or a `SeedGenerator`."""
    if seed is None:
        # Keras' own rule for unseeded initializers (python `random`, so that
        # `keras.utils.set_random_seed` makes them reproducible).
        return python_random.randint(1, int(1e9))
    if isinstance(seed, dict):
        return keras.saving.deserialize_keras_object(seed)
    if isinstance(seed, bool) or not isinstance(seed, (int, keras.random.SeedGenerator)):
        raise ValueError(
            "Argument `seed` must be an integer or an instance of "
            f"`keras.random.SeedGenerator`. Received: seed={seed!r}"
        )
    return seed


def check_float_dtype(dtype):
    """The dtype, standardized (Keras' floatx when None); a floating-point one."""
    dtype = keras.backend.standardize_dtype(dtype or keras.backend.floatx())
    if not keras.backend.is_float_dtype(dtype):
        raise ValueError(
            "Argument `dtype` must be a floating-point dtype (float16, "
            "bfloat16, float32 or float64). "
            f"Received: dtype={dtype}"
        )
    return dtype
