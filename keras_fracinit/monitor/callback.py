"""The `FractionalMomentMonitor` callback: its Keras lifecycle and its measurements."""

import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import keras

from keras_fracinit import _checks
from keras_fracinit._backend import batching
from keras_fracinit._backend import keras_private
from keras_fracinit._backend import taps
from keras_fracinit._graph import model_layers
from keras_fracinit.monitor import plot as plot_lib
from keras_fracinit.monitor import probe as probe_lib
from keras_fracinit.monitor import scalars as scalars_lib
from keras_fracinit.monitor import statistics as statistics_lib
from keras_fracinit.monitor.progress import CompactProgressLine
from keras_fracinit.monitor.statistics import STATISTICS
from keras_fracinit.tails import _gradient_noise


class FractionalMomentMonitor(keras.callbacks.Callback):
    """Logs per-layer s-th moments of the signal, of the kernels, and tail indices.

    For each monitored kernel (default: every kernel `initialize` reports,
    under the same names: `dense_1`, `mha/query`, `block/ffn/dense`), on a
    fixed probe batch and with the current weights:

        s_moment/<kernel>          = mean_i (||y_i||_p / n^(1/p))^s
        s_moment_ratio/<kernel>    = s_moment(y) / s_moment(x)
        kernel_s_moment/<kernel>   = mean_j |w_j|^s
        kernel_tail_index/<kernel> = tail index of the kernel's entries
                                     (with `_low` and `_high`: its 95% interval)
        tail_index/<kernel>        = tail index of the kernel's stochastic-
                                     gradient noise across mini-batches

    with `p = 2` (the RMS), or `p = alpha` for alpha-stable weights
    (`alpha=`), whose natural size is the l_alpha one.

    with `x_i` the input of the layer that applies the kernel for probe
    sample `i`, `y_i` the output at the end of the kernel's path (after
    BatchNormalization > ReLU, or the layer's own output for a linear path),
    flattened, `n` its size, and `w_j` the kernel entries. A ratio of 1
    means the path preserves the s-th moment of the per-unit signal size,
    what `keras_fracinit.initialize` achieves in expectation at
    initialization; He initialization gives ratios below 1 for `s < 2`. On a
    residual path the output includes the shortcut's signal, so the ratio
    reads above 1 there.

    All layer signals come from one compiled forward pass over the probe (a
    multi-output view of the model sharing its layers), not one `predict`
    per layer. The values are written into the epoch's `logs`, so
    `History`, `CSVLogger` and `keras.callbacks.TensorBoard` record them
    when the monitor comes before them in the `callbacks` list (Keras' own
    `History` always comes last). They are also kept in `monitor.history`
    and, with `log_dir`, written as TensorBoard scalars.

    Kernels inside a subclassed model or a composite layer (a keras_hub
    block) have no graph to tap: they are measured from their own layer's
    input to its output in one extra pass of the model (compiled, or eager
    where its `call()` cannot be traced), with one warning. A
    non-finite signal is logged as `nan` with one warning, and training goes
    on. Measuring changes no variable: every pass is stateless (a layer whose
    `call()` updates a counter or a running statistic is not moved by it).
    Recurrent kernels, which `initialize` leaves alone, are measured over
    their layer in the same compiled pass and do not set the progress
    line's ratio range.

    Args:
        s: Moment order, in (0, 2] (below `alpha` when `alpha < 2`).
        alpha: The norm of the per-unit size: 2 (the RMS, for Gaussian
            weights) or the stability index of alpha-stable weights
            (`FractionalMomentStable`, `initialize(..., alpha=)`), in (0, 2].
        probe: The fixed batch to measure on: an array (or dict/list of
            arrays for several inputs), a tuple `(x, y)` (targets are needed
            for `tail_index`), or a dataset whose first batch is taken.
            Default: the first batch of the training data passed to `fit`
            (a random batch when `fit` shuffles), kept for the whole run.
        measure_freq: Measure at the end of epochs 0, `measure_freq`,
            `2 measure_freq`, ... (like TensorBoard's `histogram_freq`).
            (Keras' 0-based epoch indices, as for TensorBoard histograms).
        batch_freq: Also measure every `batch_freq` training batches (like
            TensorBoard's integer `update_freq`), into the batch `logs` and
            `monitor.batch_history`. Default `None`: epochs only.
        layers: Kernel names as `initialize` reports them (`"mha/query"`),
            layer paths (`"dense_1"`, `"encoder/dense"` inside nested models:
            all of the layer's kernels) or layer objects; default every
            kernel.
        kernels: Whether to log `kernel_s_moment`.
        kernel_tail_index: Whether to log `kernel_tail_index` and its
            interval: the block-sum estimate of the tail index of the
            kernel's entries (at most 65,536 fixed ones), by
            `keras_fracinit.tails.sample_tail_index`; about 2 for Gaussian
            entries, alpha for alpha-stable ones, so that a run shows whether
            training keeps, thins or fattens the tails the initialization
            put in. Default: only when `alpha < 2`.
        tail_index: Whether to log `tail_index`: the probe is split into
            `gradient_batches` mini-batches, and the per-batch kernel
            gradients (at most 65,536 fixed random entries per kernel, in the
            kernel's float dtype) give `per_entry_tail_index`: each entry is
            compared with its own scale across the mini-batches, so entries
            of different sizes do not read as heavy tails. A point estimate:
            for its interval and a test against Gaussian noise, see
            `suggest_s`.
        log_dir: Directory for the monitor's own TensorBoard scalars
            (`None`: none).
        loss: Loss for `tail_index` (default: the model's compiled loss).
        gradient_batches: Number of probe mini-batches for `tail_index`
            (at least 4: two pairs of mini-batches).

    Examples:
        >>> import keras, numpy as np
        >>> import keras_fracinit
        >>> model = keras.Sequential([
        ...     keras.Input((16,)),
        ...     keras.layers.Dense(32, "relu", kernel_initializer=keras_fracinit.FractionalMomentNormal(1.0)),
        ...     keras.layers.Dense(1, name="head"),
        ... ])
        >>> model.compile("sgd", "mse")
        >>> monitor = keras_fracinit.FractionalMomentMonitor(s=1.0)
        >>> x, y = np.ones((64, 16)), np.zeros((64, 1))
        >>> history = model.fit(x, y, epochs=2, callbacks=[monitor], verbose=0)
        >>> len(history.history["s_moment_ratio/head"])
        2

    Reference:
        M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving
        initialization schemes for training deep neural networks",
        AISTATS 2021.
    """

    def __init__(
        self,
        s: float = 1.0,
        *,
        alpha: float = 2.0,
        probe: Any = None,
        measure_freq: int = 1,
        batch_freq: int | None = None,
        layers: Sequence[str | keras.layers.Layer] | None = None,
        kernels: bool = True,
        kernel_tail_index: bool | None = None,
        tail_index: bool = False,
        log_dir: str | os.PathLike | None = None,
        loss: Any = None,
        gradient_batches: int = 8,
    ) -> None:
        super().__init__()
        self.s = _checks.check_moment_order(s)
        self.alpha = _checks.check_stability_index(alpha)
        _checks.check_order_below_index(self.s, self.alpha)
        self.kernel_tail_index = self.alpha < 2.0 if kernel_tail_index is None else bool(kernel_tail_index)
        self.measure_freq = _checks.check_positive_int(measure_freq, "measure_freq")
        self.batch_freq = None if batch_freq is None else _checks.check_positive_int(batch_freq, "batch_freq")
        if layers is not None and (isinstance(layers, str) or not len(layers)):
            raise ValueError(
                "Argument `layers` must be a non-empty list of layer paths or "
                f"layers, or None. Received: layers={layers!r}"
            )
        self.layers = None if layers is None else list(layers)
        self.kernels = bool(kernels)
        self.tail_index = bool(tail_index)
        self.log_dir = None if log_dir is None else scalars_lib.check_tensorboard(log_dir)
        self.loss = loss if loss is None else _gradient_noise.resolve_loss(loss)
        # A tail index needs two pairs of mini-batches.
        self.gradient_batches = _checks.check_int_at_least(
            gradient_batches,
            "gradient_batches",
            4 if self.tail_index else 1,
            "with tail_index=True" if self.tail_index else "",
        )
        self.probe = None if probe is None else probe_lib.probe_batch(probe)
        if self.probe is not None:
            probe_lib.check_probe(self.probe, self.tail_index, self.gradient_batches)
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.batch_history: dict[str, list[float]] = {}
        self.batches: list[int] = []
        self.initial: dict[str, float] | None = None
        self._built_for = None
        self._moments = None
        self._tailed: list[str] = []
        self._probe_from_training = False
        self._warned: set[str] = set()
        self._scalars = None if self.log_dir is None else scalars_lib.ScalarWriter(self.log_dir)
        self._global_batch = 0
        self._progress = CompactProgressLine(STATISTICS)
        if self.batch_freq is not None:
            # Only then: Keras runs steps asynchronously unless a callback
            # overrides a batch hook, so an idle hook would cost every step.
            self.on_train_batch_end = self._on_train_batch_end

    # Keras hooks.

    def on_train_begin(self, logs=None):
        if self._built_for is not None and self._built_for is not self.model:
            self._forget_previous_model()
        fit_locals = keras_private.keras_fit_locals(self.model)
        if self.probe is None:
            self._take_first_training_batch(fit_locals)
        # Outside `fit` (a custom loop driving a CallbackList) there is no progress bar to compact.
        if not self._progress.attach(fit_locals) and keras_private.running_fit(self.model):
            self._warn_once(
                "progbar",
                "FractionalMomentMonitor could not find Keras' progress bar: "
                "its lines will list every monitored value.",
            )
        # A subclassed model may create its weights only at the first step.
        if self.initial is None and _weights_exist(self.model):
            self.initial = self.measure()

    def on_epoch_end(self, epoch, logs=None):
        # Keras' convention (TensorBoard's histogram_freq): epochs 0, freq, 2 freq, ...
        if epoch % self.measure_freq:
            return
        values = self.measure()
        if logs is not None:
            logs.update(values)
        self.epochs.append(epoch)
        statistics_lib.append_row(self.history, values, len(self.epochs))
        if self._scalars is not None:
            self._scalars.write(values, epoch)

    def _on_train_batch_end(self, batch, logs=None):
        self._global_batch += 1
        if (batch + 1) % self.batch_freq:
            return
        # The JAX trainer keeps the weights outside the variables until synced.
        keras_private.sync_jax_state(self.model)
        values = self.measure()
        if logs is not None:
            logs.update(values)
        self.batches.append(self._global_batch)
        statistics_lib.append_row(self.batch_history, values, len(self.batches))
        if self._scalars is not None:
            self._scalars.write(values, self._global_batch, prefix="batch_")

    def on_train_end(self, logs=None):
        self._progress.detach()
        if self._scalars is not None:
            self._scalars.close()

    @property
    def layer_paths(self) -> list[str]:
        """Paths of the monitored layers, input to output (set when training starts)."""
        return list(self._layers) if self._built_for is not None else []

    @property
    def probe_model(self):
        """The functional model that computes all per-layer signals in one pass (or None)."""
        return None if self._moments is None else self._moments.tap

    # Measurement.

    def measure(self) -> dict[str, float]:
        """Returns the monitored statistics for the current weights, as a dict.

        Keys are `"<statistic>/<kernel path>"`; values are Python floats
        (`nan` for a non-finite signal).
        """
        if self._built_for is not self.model:
            self._build()
        values = {} if self._moments is None else statistics_lib.signal_values(self._moments(self.probe[0]))
        if self.kernels:
            for path, plan in self._layers.items():
                values["kernel_s_moment/" + path] = statistics_lib.kernel_moment(plan.variable, self.s)
        values, nonfinite = statistics_lib.nan_for_nonfinite(values)
        if nonfinite:
            self._warn_once(
                "nonfinite",
                "FractionalMomentMonitor: non-finite signal or kernel in layers "
                f"{nonfinite} (logged as nan); training continues.",
            )
        if self.kernel_tail_index:  # inf is a finding here (no heavy tail seen), not a failure
            for path, plan in self._layers.items():
                values.update(statistics_lib.kernel_tail(plan.variable, path))
        if self.tail_index:
            draws = self._gradients.draws(self._gradient_batches)
            values.update(statistics_lib.tail_indices(self._tailed, draws))
            unbounded = [path for path in self._tailed if not math.isfinite(values["tail_index/" + path])]
            if unbounded:
                self._warn_once(
                    "tail_index",
                    "FractionalMomentMonitor: no finite tail index in layers "
                    f"{unbounded} (inf: their gradient noise shows no heavy tail at "
                    "all, as for small layers such as a classifier head; nan: a "
                    "non-finite gradient, or one that does not change between the probe's "
                    "mini-batches, as in a dead layer). Logged as such; training continues.",
                )
        return statistics_lib.ordered(values, list(self._layers))

    # Set-up.

    def _forget_previous_model(self):
        """A monitor moved to another model starts a new table (and probe, if it read one)."""
        if self._probe_from_training:
            self.probe = None
        self.history, self.epochs = {}, []
        self.batch_history, self.batches = {}, []
        self.initial = None
        self._built_for = self._moments = None
        self._global_batch = 0

    def _take_first_training_batch(self, fit_locals=None):
        batch = probe_lib.first_training_batch(fit_locals or keras_private.keras_fit_locals(self.model))
        if batch is None:
            raise ValueError(
                "FractionalMomentMonitor could not read the first training "
                "batch (it is read from `fit`'s data). Pass `probe=`: a "
                "batch of inputs, or `(x, y)` with tail_index=True."
            )
        probe_lib.check_probe(batch, self.tail_index, self.gradient_batches)
        self.probe = batch
        self._probe_from_training = True

    def _build(self):
        model = self.model
        if self.probe is None:
            self._take_first_training_batch()
        self._layers = probe_lib.select_kernels(model, self.layers, self.tail_index)
        # each kernel's path, as initialize reads it: from its layer's input to
        # the end of the path (after BN > ReLU); a head on its logits
        spans = {name: plan.span for name, plan in self._layers.items()}
        heads = [name for name, plan in self._layers.items() if plan.route is not None and plan.route.head]
        moment = taps.SizeMoment(self.s, self.alpha)
        self._moments = taps.SpanMoments(model, spans, moment, logits=heads, compiled=True)
        hidden = [name for name, plan in self._layers.items() if not plan.visible]
        if hidden:
            self._warn_once(
                "untapped",
                "FractionalMomentMonitor: kernels "
                f"{hidden} run inside a subclassed model's or a composite layer's call(), "
                "which no graph shows: they are measured from their own layer's input "
                "to its output, in one extra pass of the model per measurement (compiled "
                "where the call() can be traced).",
            )
        # The progress line's ratio range: the kernels initialize draws, not those it leaves alone.
        self._progress.summarized = {name for name, plan in self._layers.items() if not plan.skip}
        self._tailed = [name for name, plan in self._layers.items() if plan.variable.trainable]
        if self.tail_index:
            frozen = [name for name in self._layers if name not in self._tailed]
            if frozen:
                self._warn_once(
                    "frozen", f"FractionalMomentMonitor: no tail index for the frozen kernels {frozen}."
                )
            loss = self.loss if self.loss is not None else getattr(model, "loss", None)
            try:
                loss = _gradient_noise.resolve_loss(loss)
            except ValueError as error:
                raise ValueError(
                    "tail_index=True needs one loss for the gradients: compile "
                    "the model with one or pass `loss=` to FractionalMomentMonitor. "
                    f"The model's loss: {loss!r}"
                ) from error
            kernels = [self._layers[name].variable for name in self._tailed]
            self._gradients = _gradient_noise.KernelGradients(
                model, kernels, loss, _gradient_noise.NOISE_ENTRIES
            )
            # Equal mini-batches (a remainder is left out): equal noise scales.
            self._gradient_batches = batching.take_batches(
                self.probe,
                self.gradient_batches,
                batch_size=batching.sample_count(self.probe[0]) // self.gradient_batches,
            )
        self._built_for = model

    # Output.

    def plot(
        self, statistics: Sequence[str] | None = None, *, figsize: tuple[float, float] | None = None
    ) -> Any:
        """Draws each statistic per layer against epochs trained (matplotlib).

        The measurement before training is drawn at epoch 0; lines are
        coloured by layer depth.

        Args:
            statistics: Statistic names to draw (default: all recorded, in
                the order of `STATISTICS`).
            figsize: Matplotlib figure size (default: 5.2 x 3.6 inches per
                panel, up to three panels per row).

        Returns:
            The `matplotlib.figure.Figure`.
        """
        return plot_lib.plot_statistics(self, statistics, figsize=figsize)

    def _warn_once(self, kind, message):
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(message, stacklevel=3)


def _weights_exist(model):
    return all(layer.built for _, layer in model_layers.named_layers(model))
