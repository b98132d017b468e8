"""`FractionalMomentMonitor`: per-layer s-moments and tail indices during training.

One module per job: `callback` (the Keras callback and its measurements),
`probe` (the batch it measures on), `progress` (a readable progress line),
`scalars` (its own TensorBoard sink) and `plot` (matplotlib).
"""

from keras_fracinit.monitor.callback import STATISTICS
from keras_fracinit.monitor.callback import FractionalMomentMonitor

__all__ = ["STATISTICS", "FractionalMomentMonitor"]
