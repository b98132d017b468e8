"""Fractional moment-preserving initialization for Keras 3.

Exact implementation of the initialization schemes of Gurbuzbalaban & Hu,
"Fractional moment-preserving initialization schemes for training deep
neural networks" (AISTATS 2021), as Keras initializers that work on every
backend, save, load and export like Keras' own.

Importing this package registers the initializers, so the names
`"fractional_moment"`, `"fractional_moment_normal"` and
`"fractional_moment_uniform"` work in any layer argument.
"""

from keras_fracinit import simulate
from keras_fracinit import tail_index
from keras_fracinit import theory
from keras_fracinit.gradient_noise import SuggestedS
from keras_fracinit.gradient_noise import suggest_s
from keras_fracinit.initializers import FractionalMomentNormal
from keras_fracinit.initializers import FractionalMomentUniform
from keras_fracinit.model_init import InitializationReport
from keras_fracinit.model_init import UnsupportedActivationError
from keras_fracinit.model_init import initialize
from keras_fracinit.monitor import FractionalMomentMonitor

__version__ = "0.1.0"

__all__ = [
    "FractionalMomentMonitor",
    "FractionalMomentNormal",
    "FractionalMomentUniform",
    "InitializationReport",
    "SuggestedS",
    "UnsupportedActivationError",
    "initialize",
    "simulate",
    "suggest_s",
    "tail_index",
    "theory",
]
