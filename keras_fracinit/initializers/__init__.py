"""Keras initializers that preserve the s-th moment of the signal norm.

- `FractionalMomentNormal`: Gaussian weights, exact at every width.
- `FractionalMomentUniform`: uniform weights with the same standard deviation.
- `FractionalMomentStable`: heavy-tailed symmetric alpha-stable weights.

Registered with Keras under the names of `ALIASES`.
"""

import keras

from keras_fracinit._backend import keras_private
from keras_fracinit.initializers.base import MODES
from keras_fracinit.initializers.base import _FractionalMomentInitializer
from keras_fracinit.initializers.base import kernel_fans
from keras_fracinit.initializers.base import layer_widths
from keras_fracinit.initializers.gaussian import FractionalMomentNormal
from keras_fracinit.initializers.gaussian import FractionalMomentUniform
from keras_fracinit.initializers.stable import FractionalMomentStable

# The public path, which `.keras` files record as the classes' module (and
# where doctest finds their examples): the same as before the package split.
for _public in (FractionalMomentNormal, FractionalMomentUniform, FractionalMomentStable):
    _public.__module__ = __name__

# String names usable wherever Keras takes an initializer name, the names
# Keras registers the classes under ("keras_fracinit>FractionalMomentNormal") too.
ALIASES = {
    "fractional_moment": FractionalMomentNormal,
    "fractional_moment_normal": FractionalMomentNormal,
    "fractional_moment_uniform": FractionalMomentUniform,
    "fractional_moment_stable": FractionalMomentStable,
    "FractionalMomentNormal": FractionalMomentNormal,
    "FractionalMomentUniform": FractionalMomentUniform,
    "FractionalMomentStable": FractionalMomentStable,
    **{
        keras.saving.get_registered_name(cls): cls
        for cls in (FractionalMomentNormal, FractionalMomentUniform, FractionalMomentStable)
    },
}
keras_private.register_initializer_names(ALIASES)

__all__ = [
    "ALIASES",
    "MODES",
    "FractionalMomentNormal",
    "FractionalMomentStable",
    "FractionalMomentUniform",
    "_FractionalMomentInitializer",
    "kernel_fans",
    "layer_widths",
]
