"""The paper's mathematics in plain numpy/scipy (never imports keras).

- `moment_gain`: the exact s-moment gain `g_s(m)` of a layer of width `m`.
- `fractional_moment`: the exact `E[X_m^(s/2)]` behind it.
- `activation_law`: the activation class (ReLU, Leaky ReLU, randomized Leaky
  ReLU, linear; with inverted dropout) as one hashable law.
- `large_width_gain`: the authors' second-order large-width approximation,
  for comparison only.
"""

from keras_fracinit.theory.activation import SUPPORTED_ACTIVATIONS
from keras_fracinit.theory.activation import ActivationLaw
from keras_fracinit.theory.activation import activation_law
from keras_fracinit.theory.approximations import large_width_gain
from keras_fracinit.theory.moments import fractional_moment
from keras_fracinit.theory.moments import moment_gain

__all__ = [
    "SUPPORTED_ACTIVATIONS",
    "ActivationLaw",
    "activation_law",
    "fractional_moment",
    "large_width_gain",
    "moment_gain",
]
