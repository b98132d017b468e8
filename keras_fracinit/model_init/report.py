"""What `initialize` reports: one `KernelReport` per kernel, gathered in an `InitializationReport`."""

import dataclasses
import enum

from keras_fracinit._graph.weights import WeightRole

__all__ = ["InitializationReport", "KernelReport", "WeightOutcome", "WeightReport", "WeightRole"]

_STATUSES = ("initialized", "calibrated", "skipped")


class WeightOutcome(enum.Enum):
    """What `initialize` did to one weight."""

    DRAWN = "drawn"
    CALIBRATED = "calibrated"
    LEFT = "left"


@dataclasses.dataclass(frozen=True)
class KernelReport:
    """What `initialize` found and did for one kernel.

    Attributes:
        layer: The kernel's path: the layer's name (`outer/inner` inside
            nested models), followed by `/<kernel>` for a layer with several
            kernels (`mha/query`) and by the sublayers that hold it inside a
            composite layer (`transformer_layer_0/self_attention/query`).
        layer_type: The class name of the layer that applies the kernel.
        activation: The activation found (`relu`, `leaky_relu`, `linear`, an
            unsupported name, `mixed` when paths disagree, `unknown` when a
            path meets a step of unknown law).
        negative_slope: The Leaky ReLU slope, if any.
        dropout: Dropout rate on the activation's output (rates on the path
            compound).
        found_in: Where the activation was read: `"layer"`, `"model output"`,
            or the path of layers read (`"bn > relu"`, with `(+N more paths)`
            when several paths agree).
        fan_in: Inputs summed into one output unit, counted for the layer type.
        fan_out: Output units each input reaches.
        stddev: Standard deviation drawn with (`None` if skipped, and for
            alpha-stable weights, which have none); after a calibration,
            the kernel's final scale relative to it is `scale`.
        status: `"initialized"`, `"calibrated"` or `"skipped"`.
        reason: Why a kernel was skipped or calibrated (empty otherwise).
        rule: How the fans were counted (`keras fans`, `per channel`,
            `transposed`, `einsum axes`).
        ratio: After a calibration, the s-moment ratio at `measured_to`'s
            output to the input of the layer that applies the kernel.
        iterations: Calibration steps used.
        scale: Factor the calibration applied to the drawn kernel.
        measured_to: After a calibration, the layer whose output the ratio
            was measured at: the end of the kernel's path, or the layer that
            applies the kernel.
        uses: The kernel's other uses when its variable is shared or tied
            (this entry is its first use); one draw serves them all.
        end_seen: False when the kernel's path ends inside a `call()` that
            is not read and its own layer applies no activation: a
            calibration's `ratio` is then measured at `measured_to`, before
            what that call applies next, and the s-moment through it is not
            known to be preserved.
        alpha: Stability index of the law drawn (2: Gaussian).
        stable_scale: For alpha < 2, the SaS scale `sigma` drawn with
            (`None` otherwise); `scale` applies to it as to `stddev`.
    """

    layer: str
    layer_type: str
    activation: str
    negative_slope: float | None
    dropout: float
    found_in: str
    fan_in: int
    fan_out: int
    stddev: float | None
    status: str
    reason: str = ""
    rule: str = ""
    ratio: float | None = None
    iterations: int = 0
    scale: float = 1.0
    measured_to: str = ""
    uses: tuple[str, ...] = ()
    end_seen: bool = True
    alpha: float = 2.0
    stable_scale: float | None = None

    @property
    def drawn_scale(self) -> float | None:
        """The scale of the law drawn: `stddev`, or `stable_scale` for alpha < 2 (`None` if not drawn)."""
        return self.stddev if self.alpha == 2.0 else self.stable_scale


LayerReport = KernelReport  # its name before it was named for what it describes (deprecated)


@dataclasses.dataclass(frozen=True)
class WeightReport:
    """One weight of the model, and what `initialize` did to it.

    Attributes:
        path: The variable's path (`dense/kernel`).
        layer: The path of the layer that holds it.
        role: Its `WeightRole` (kernel, bias, normalization, embedding, ...).
        shape: Its shape.
        parameters: Its number of entries.
        outcome: `WeightOutcome.DRAWN`, `WeightOutcome.CALIBRATED` or `WeightOutcome.LEFT`.
        reason: Why it was left, for a kernel or a weight not understood.
        kernel: For a kernel, its `KernelReport.layer`.
    """

    path: str
    layer: str
    role: WeightRole
    shape: tuple[int, ...]
    parameters: int
    outcome: WeightOutcome
    reason: str = ""
    kernel: str = ""


class InitializationReport(list):
    """The `KernelReport`s of one `initialize` call; prints as a table.

    `weights` accounts for every weight of the model once (`WeightReport`);
    `totals()` and the table's last lines sum them by role and outcome.
    """

    weights: tuple[WeightReport, ...] = ()

    def totals(self) -> dict[tuple[WeightRole, WeightOutcome], tuple[int, int]]:
        """`{(role, outcome): (weights, parameters)}` over every weight of the model."""
        found: dict[tuple[WeightRole, WeightOutcome], tuple[int, int]] = {}
        for weight in self.weights:
            count, parameters = found.get((weight.role, weight.outcome), (0, 0))
            found[(weight.role, weight.outcome)] = (count + 1, parameters + weight.parameters)
        return found

    def accounting(self) -> str:
        """The weights by role: how many (and their parameters) were drawn, calibrated and left."""
        totals = self.totals()
        header = ("role", *(outcome.value for outcome in WeightOutcome))
        rows = [header]
        for weight_role in WeightRole:
            cells = [totals.get((weight_role, outcome), (0, 0)) for outcome in WeightOutcome]
            if any(count for count, _ in cells):
                rows.append((weight_role.value, *(f"{n} ({p:,})" if n else "-" for n, p in cells)))
        count = len(self.weights)
        parameters = sum(weight.parameters for weight in self.weights)
        rows.append(("all", *(self._sum(totals, outcome) for outcome in WeightOutcome)))
        return f"{count} weights, {parameters:,} parameters, by role (weights (parameters)):\n" + _table(rows)

    @staticmethod
    def _sum(totals, outcome):
        count = sum(n for (_, o), (n, _) in totals.items() if o is outcome)
        parameters = sum(p for (_, o), (_, p) in totals.items() if o is outcome)
        return f"{count} ({parameters:,})" if count else "-"

    def counts(self) -> dict[str, int]:
        """How many kernels were `initialized`, `calibrated` and `skipped`."""
        return {status: sum(r.status == status for r in self) for status in _STATUSES}

    def __str__(self):
        stable = any(r.alpha != 2.0 for r in self)
        # alpha-stable weights have no standard deviation: their column is the SaS scale
        scale_column = f"scale (alpha={self[0].alpha:g})" if stable else "stddev"
        header = ("layer", "type", "activation", "from", "fan_in", "fan_out", scale_column, "status")
        rows = [header] + [
            (
                r.layer + (f" (also {', '.join(r.uses)})" if r.uses else ""),
                r.layer_type,
                r.activation
                + (f"({r.negative_slope:g})" if r.negative_slope is not None else "")
                + (f"+dropout({r.dropout:g})" if r.dropout else ""),
                r.found_in,
                str(r.fan_in),
                str(r.fan_out),
                "-" if r.drawn_scale is None else f"{r.drawn_scale * r.scale:.6f}",
                r.status
                + (f" (ratio {r.ratio:.3f}, {r.iterations} steps)" if r.ratio is not None else "")
                + (
                    ""
                    if r.end_seen or r.drawn_scale is None
                    else " [at its own output: end of path not seen]"
                )
                + (f": {r.reason}" if r.reason else ""),
            )
            for r in self
        ]
        table = _table(rows)
        return table + ("\n\n" + self.accounting() if self.weights else "")


def _table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
