"""What `initialize` reports: one `KernelReport` per kernel, gathered in an `InitializationReport`."""

import dataclasses

_STATUSES = ("initialized", "calibrated", "skipped")


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
        stddev: Standard deviation drawn with (`None` if skipped); after a
            calibration, the kernel's final scale relative to it is `scale`.
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


LayerReport = KernelReport  # its name before it was named for what it describes (deprecated)


class InitializationReport(list):
    """The `KernelReport`s of one `initialize` call; prints as a table."""

    def counts(self) -> dict[str, int]:
        """How many kernels were `initialized`, `calibrated` and `skipped`."""
        return {status: sum(r.status == status for r in self) for status in _STATUSES}

    def __str__(self):
        header = ("layer", "type", "activation", "from", "fan_in", "fan_out", "stddev", "status")
        rows = [header] + [
            (
                r.layer,
                r.layer_type,
                r.activation
                + (f"({r.negative_slope:g})" if r.negative_slope is not None else "")
                + (f"+dropout({r.dropout:g})" if r.dropout else ""),
                r.found_in,
                str(r.fan_in),
                str(r.fan_out),
                "-" if r.stddev is None else f"{r.stddev * r.scale:.6f}",
                r.status
                + (f" (ratio {r.ratio:.3f}, {r.iterations} steps)" if r.ratio is not None else "")
                + (f": {r.reason}" if r.reason else ""),
            )
            for r in self
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
