"""`keras_fracinit._backend.keras_checks`: the seed and dtype checks that need Keras."""

import keras
import pytest

from keras_fracinit._backend import keras_checks


def test_a_seed_is_an_int_a_seed_generator_or_drawn():
    generator = keras.random.SeedGenerator(3)
    assert keras_checks.check_seed(7) == 7
    assert keras_checks.check_seed(generator) is generator
    drawn = keras_checks.check_seed(None)
    assert isinstance(drawn, int) and 1 <= drawn <= 10**9
    restored = keras_checks.check_seed(keras.saving.serialize_keras_object(generator))
    assert isinstance(restored, keras.random.SeedGenerator)


@pytest.mark.parametrize("seed", [True, 1.5, "1"])
def test_other_seeds_are_refused(seed):
    with pytest.raises(ValueError, match=r"Argument `seed` must be an integer or an instance of"):
        keras_checks.check_seed(seed)


def test_a_dtype_is_floating_point():
    assert keras_checks.check_float_dtype(None) == keras.backend.floatx()
    assert keras_checks.check_float_dtype("float64") == "float64"
    with pytest.raises(
        ValueError, match=r"Argument `dtype` must be a floating-point dtype.*Received: dtype=int32"
    ):
        keras_checks.check_float_dtype("int32")
