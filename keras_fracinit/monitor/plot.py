"""`FractionalMomentMonitor.plot()`: each statistic per layer against epochs trained."""

import math

import numpy as np

from keras_fracinit.monitor.statistics import STATISTICS


def plot_statistics(table, statistics=None, *, figsize=None):
    """Draws `table`'s statistics per layer (a `FractionalMomentMonitor`'s records).

    `table` has `history`, `initial`, `epochs`, `layer_paths` and `s`. See
    `FractionalMomentMonitor.plot` for the arguments.
    """
    try:
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError as error:
        raise ImportError(
            "FractionalMomentMonitor.plot() needs matplotlib: "
            "`pip install matplotlib` (or keras-fracinit[examples])."
        ) from error
    if not table.epochs:
        raise ValueError("Nothing to plot: no epoch has been measured yet.")
    recorded = [name for name in STATISTICS if any(k.startswith(name + "/") for k in table.history)]
    # the ends of kernel_tail_index's interval are drawn when asked for, not by default
    default = [name for name in recorded if not name.endswith(("_low", "_high"))]
    statistics = default if statistics is None else list(statistics)
    unknown = [name for name in statistics if name not in recorded]
    if unknown or not statistics:
        raise ValueError(
            f"Argument `statistics` must be among the recorded {recorded}. Received: statistics={statistics}"
        )
    paths = list(table.layer_paths)
    # One row for up to three panels; a 2-column grid beyond (no empty panel).
    columns = len(statistics) if len(statistics) <= 3 else 2
    rows = math.ceil(len(statistics) / columns)
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=figsize or (5.2 * columns, 3.6 * rows),
        squeeze=False,
        constrained_layout=True,
    )
    axes = axes.ravel()
    for unused in axes[len(statistics) :]:
        unused.set_visible(False)
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 1.0, len(paths)))
    for axis, name in zip(axes, statistics):
        _draw_panel(axis, name, table, paths, colours, MaxNLocator)
    if len(paths) <= 8:
        axes[len(statistics) - 1].legend(fontsize="small")
    else:
        mappable = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(1, len(paths)))
        mappable.set_array([])
        figure.colorbar(
            mappable,
            ax=axes[: len(statistics)].tolist(),
            label="layer (input to output)",
            ticks=MaxNLocator(integer=True),
        )
    return figure


def _draw_panel(axis, name, table, paths, colours, locator):
    """One statistic: a line per layer over the epochs trained (0: before training)."""
    epochs = [epoch + 1 for epoch in table.epochs]
    for colour, path in zip(colours, paths):
        key = f"{name}/{path}"
        if key not in table.history:
            continue
        xs, ys = list(epochs), list(table.history[key])
        if table.initial and key in table.initial:
            xs, ys = [0] + xs, [table.initial[key]] + ys
        # An infinite tail index (no heavier-than-Gaussian tail at all) leaves a gap.
        ys = [value if math.isfinite(value) else math.nan for value in ys]
        axis.plot(xs, ys, color=colour, label=path, marker="." if len(xs) < 30 else None)
    if name == "s_moment_ratio":
        axis.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    if name in ("s_moment", "kernel_s_moment"):
        axis.set_yscale("log")
    if name == "tail_index":
        # Gaussian noise has index 2; light-tailed layers' large
        # estimates would flatten the informative range.
        axis.axhline(2.0, color="black", linewidth=0.8, linestyle="--")
        if axis.get_ylim()[1] > 4.0:
            axis.set_ylim(0.0, 4.0)
            axis.set_ylabel("axis cut at 4")
    # The tail index has no order s; the three moments do.
    axis.set_title(name if name == "tail_index" else f"{name}  (order s = {table.s:g})")
    axis.set_xlabel("epochs trained")
    axis.xaxis.set_major_locator(locator(integer=True))
    axis.grid(alpha=0.3)
