"""Tail indices of gradient noise, and whether it is heavy-tailed (numpy/scipy only).

- `block_sum_tail_index`, `hill_tail_index`: the tail index of a sample.
- `per_entry_tail_index`, `standardized_noise`, `block_terms`,
  `carries_noise`, `paired_differences`: the same for noise that comes as
  draws of many entries (a kernel's gradient over mini-batches).
- `assess_heavy_tails`, `HeavyTailAssessment`, `VERDICTS`: the tail index
  with a confidence interval against a finite-variance null, and a verdict.
- `sample_tail_index`: the tail index of iid samples (a kernel's entries),
  with a confidence interval.

Importing this package never imports Keras or a backend. The collector of
a model's gradient noise, which needs Keras, is private: `suggest_s` and
`FractionalMomentMonitor` use it.
"""

from keras_fracinit.tails.assessment import VERDICTS
from keras_fracinit.tails.assessment import HeavyTailAssessment
from keras_fracinit.tails.assessment import assess_heavy_tails
from keras_fracinit.tails.assessment import assess_layers
from keras_fracinit.tails.assessment import sample_tail_index
from keras_fracinit.tails.estimators import block_sum_tail_index
from keras_fracinit.tails.estimators import block_terms
from keras_fracinit.tails.estimators import carries_noise
from keras_fracinit.tails.estimators import hill_tail_index
from keras_fracinit.tails.estimators import paired_differences
from keras_fracinit.tails.estimators import per_entry_tail_index
from keras_fracinit.tails.estimators import standardized_noise

__all__ = [
    "VERDICTS",
    "HeavyTailAssessment",
    "assess_heavy_tails",
    "assess_layers",
    "block_sum_tail_index",
    "block_terms",
    "carries_noise",
    "hill_tail_index",
    "paired_differences",
    "per_entry_tail_index",
    "sample_tail_index",
    "standardized_noise",
]
