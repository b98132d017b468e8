"""Deprecated: the heavy-tail assessment is in `keras_fracinit.tails`.

`keras_fracinit.heavy_tails` still gives the same names, with a
`DeprecationWarning`, and will be removed in a later release.
"""

import warnings

from keras_fracinit.tails.assessment import VERDICTS
from keras_fracinit.tails.assessment import HeavyTailAssessment
from keras_fracinit.tails.assessment import assess_heavy_tails
from keras_fracinit.tails.assessment import assess_layers

__all__ = ["VERDICTS", "HeavyTailAssessment", "assess_heavy_tails", "assess_layers"]

warnings.warn(
    "keras_fracinit.heavy_tails is deprecated: import keras_fracinit.tails instead (same names).",
    DeprecationWarning,
    stacklevel=2,
)
