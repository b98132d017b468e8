"""A compact Keras progress line while the monitor adds many values to `logs`.

History, CSVLogger and TensorBoard read the same `logs` and must get every
value; Keras' progress bar would print them all, one entry per layer and
statistic. `CompactProgressLine` makes the running `fit`'s progress bar print
the other values and the range of the ratios instead, and restores it after.
"""

import math

from keras_fracinit._backend import keras_private

_HOOKS = ("on_epoch_end", "on_train_batch_end")


class CompactProgressLine:
    """Filters the monitor's keys out of one `fit`'s progress bar."""

    def __init__(self, statistics):
        self._statistics = tuple(statistics)
        self._progbar = None
        # The kernels whose ratios make the range (None: all): not those
        # initialize leaves alone, such as recurrent kernels.
        self.summarized: set[str] | None = None

    def attach(self, fit_locals):
        """Wraps the progress bar of the running `fit`; False if it cannot be found."""
        if fit_locals is None:
            return False
        progbar = keras_private.progress_logger(fit_locals)
        if progbar is None:  # verbose=0: nothing is printed anyway
            return True
        self._progbar = progbar
        for hook in _HOOKS:
            setattr(progbar, hook, self._compacting(getattr(progbar, hook)))
        return True

    def detach(self):
        """Gives the progress bar its own methods back (they were instance attributes)."""
        if self._progbar is not None:
            for hook in _HOOKS:
                vars(self._progbar).pop(hook, None)
            self._progbar = None

    def _compacting(self, hook):
        def compact(step, logs=None):
            return hook(step, None if logs is None else self.compact(logs))

        return compact

    def compact(self, logs):
        """`logs` without the monitor's keys, plus the range of the ratios of the `summarized` kernels."""
        kept, ratios = {}, []
        for key, value in logs.items():
            statistic = key.split("/", 1)[0]
            if statistic not in self._statistics:
                kept[key] = value
            elif statistic == "s_moment_ratio" and math.isfinite(value):
                if self.summarized is None or key.split("/", 1)[1] in self.summarized:
                    ratios.append(value)
        if ratios:
            kept["s_ratio_min"] = min(ratios)
            kept["s_ratio_max"] = max(ratios)
        return kept
