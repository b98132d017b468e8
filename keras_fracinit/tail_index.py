"""Deprecated: the tail-index estimators are in `keras_fracinit.tails`.

`keras_fracinit.tail_index` still gives the same functions, with a
`DeprecationWarning`, and will be removed in a later release.
"""

import warnings

from keras_fracinit.tails.estimators import block_sum_tail_index
from keras_fracinit.tails.estimators import block_terms
from keras_fracinit.tails.estimators import carries_noise
from keras_fracinit.tails.estimators import hill_tail_index
from keras_fracinit.tails.estimators import paired_differences
from keras_fracinit.tails.estimators import per_entry_tail_index
from keras_fracinit.tails.estimators import standardized_noise

__all__ = [
    "block_sum_tail_index",
    "block_terms",
    "carries_noise",
    "hill_tail_index",
    "paired_differences",
    "per_entry_tail_index",
    "standardized_noise",
]

warnings.warn(
    "keras_fracinit.tail_index is deprecated: import keras_fracinit.tails instead (same functions).",
    DeprecationWarning,
    stacklevel=2,
)
