"""The paper's mathematics in plain numpy/scipy (never imports keras).

- `moment_gain`: the exact s-moment gain `g_s(m)` of a layer of width `m`.
- `fractional_moment`: the exact `E[X_m^(s/2)]` behind it.
- `ActivationSpec`: one activation of the paper's class (ReLU, Leaky ReLU,
  randomized Leaky ReLU, linear; with inverted dropout), validated once and
  carrying its `ActivationLaw`; every function takes it or a plain name.
- `log_norm_limit`, `small_output_probability`: the log-normal depth limit
  of the output norm and the probability of small outputs.
- `norm_factor_moment`, `kesten_tail_index`: the per-layer norm factor, whose
  `s`-th moment is 1, and the heavy-tail index of the depth limit with biases.
- `stable_moment_gain`: the exact gain `G_{alpha,s}(m)` for symmetric
  alpha-stable weights (`alpha = 2` is the Gaussian scheme); the depth
  functions take `alpha` too and then speak of the l_alpha norm.
- `large_width_gain`: the authors' second-order large-width approximation,
  for comparison only.
"""

from keras_fracinit.theory.activation import SUPPORTED_ACTIVATIONS
from keras_fracinit.theory.activation import ActivationLaw
from keras_fracinit.theory.activation import ActivationSpec
from keras_fracinit.theory.approximations import large_width_gain
from keras_fracinit.theory.depth import LogNormLimit
from keras_fracinit.theory.depth import kesten_tail_index
from keras_fracinit.theory.depth import log_norm_limit
from keras_fracinit.theory.depth import norm_factor_moment
from keras_fracinit.theory.depth import small_output_probability
from keras_fracinit.theory.moments import fractional_moment
from keras_fracinit.theory.moments import moment_gain
from keras_fracinit.theory.stable_moments import stable_moment_gain

__all__ = [
    "SUPPORTED_ACTIVATIONS",
    "ActivationLaw",
    "ActivationSpec",
    "LogNormLimit",
    "fractional_moment",
    "kesten_tail_index",
    "large_width_gain",
    "log_norm_limit",
    "moment_gain",
    "norm_factor_moment",
    "small_output_probability",
    "stable_moment_gain",
]
