"""Fractional moment-preserving initialization for Keras 3.

Exact implementation of the initialization schemes of Gurbuzbalaban & Hu,
"Fractional moment-preserving initialization schemes for training deep
neural networks" (AISTATS 2021), as Keras initializers that work on every
backend, save, load and export like Keras' own.

Importing this package registers the initializers with Keras, so the names
`"fractional_moment"`, `"fractional_moment_normal"` and
`"fractional_moment_uniform"` work in any layer argument. Keras itself is
imported only when something needs it: `keras_fracinit.theory` and the
command line stay pure numpy/scipy.
"""

import importlib
import typing
import warnings

from keras_fracinit._backend import keras_hook

__version__ = "0.1.0"

# Public name -> the module that defines it, imported on first access (PEP 562).
_LAZY_ATTRIBUTES = {
    "FractionalMomentMonitor": "keras_fracinit.monitor",
    "FractionalMomentNormal": "keras_fracinit.initializers",
    "FractionalMomentStable": "keras_fracinit.initializers",
    "FractionalMomentUniform": "keras_fracinit.initializers",
    "InitializationReport": "keras_fracinit.model_init",
    "KernelReport": "keras_fracinit.model_init",
    "SuggestedS": "keras_fracinit.suggest",
    "UnsupportedActivationError": "keras_fracinit.model_init",
    "WeightOutcome": "keras_fracinit.model_init",
    "WeightReport": "keras_fracinit.model_init",
    "WeightRole": "keras_fracinit.model_init",
    "initialize": "keras_fracinit.model_init",
    "suggest_s": "keras_fracinit.suggest",
}
_LAZY_SUBMODULES = ("datasets", "simulate", "tails", "theory")
# Old names, kept working with a DeprecationWarning: the modules are now
# `tails`, the report of one kernel is `KernelReport`.
_DEPRECATED_SUBMODULES = ("heavy_tails", "tail_index")
_DEPRECATED_ATTRIBUTES = {"LayerReport": "KernelReport"}

__all__ = [
    "FractionalMomentMonitor",
    "FractionalMomentNormal",
    "FractionalMomentStable",
    "FractionalMomentUniform",
    "InitializationReport",
    "KernelReport",
    "SuggestedS",
    "UnsupportedActivationError",
    "WeightOutcome",
    "WeightReport",
    "WeightRole",
    "datasets",
    "initialize",
    "simulate",
    "suggest_s",
    "tails",
    "theory",
]

if typing.TYPE_CHECKING:  # what static tools (type checkers, the API docs) see
    from keras_fracinit import datasets
    from keras_fracinit import simulate
    from keras_fracinit import tails
    from keras_fracinit import theory
    from keras_fracinit.initializers import FractionalMomentNormal
    from keras_fracinit.initializers import FractionalMomentStable
    from keras_fracinit.initializers import FractionalMomentUniform
    from keras_fracinit.model_init import InitializationReport
    from keras_fracinit.model_init import KernelReport
    from keras_fracinit.model_init import UnsupportedActivationError
    from keras_fracinit.model_init import WeightOutcome
    from keras_fracinit.model_init import WeightReport
    from keras_fracinit.model_init import WeightRole
    from keras_fracinit.model_init import initialize
    from keras_fracinit.monitor import FractionalMomentMonitor
    from keras_fracinit.suggest import SuggestedS
    from keras_fracinit.suggest import suggest_s


def __getattr__(name):
    if name in _DEPRECATED_ATTRIBUTES:
        warnings.warn(
            f"keras_fracinit.{name} is deprecated: use keras_fracinit.{_DEPRECATED_ATTRIBUTES[name]}.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_LAZY_ATTRIBUTES[_DEPRECATED_ATTRIBUTES[name]]), name)
    if name in _LAZY_ATTRIBUTES:
        value = getattr(importlib.import_module(_LAZY_ATTRIBUTES[name]), name)
    elif name in _LAZY_SUBMODULES or name in _DEPRECATED_SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


def _register_initializers():
    # Importing the initializers registers their names with Keras.
    importlib.import_module("keras_fracinit.initializers")


keras_hook.run_once_keras_is_loaded(_register_initializers)
