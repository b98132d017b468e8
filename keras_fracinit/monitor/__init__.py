"""`FractionalMomentMonitor`: per-layer s-moments and tail indices during training.

One module per job: `callback` (the Keras callback and its measurements),
`probe` (the batch it measures on), `progress` (a readable progress line),
`statistics` (what it computes), `scalars` (its own TensorBoard sink) and
`plot` (matplotlib).
"""

from keras_fracinit.monitor.callback import FractionalMomentMonitor
from keras_fracinit.monitor.statistics import STATISTICS

__all__ = ["STATISTICS", "FractionalMomentMonitor"]
