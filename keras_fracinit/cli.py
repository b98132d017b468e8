"""Command line: `python -m keras_fracinit table --width 64`.

Prints the exact s-moment gains for a grid of s and activations next to the
classical (s = 2) gains of He and LeCun, and the authors' large-width
approximation for comparison.
"""

import argparse
import csv
import functools
import io
import sys
from collections.abc import Sequence

from keras_fracinit import __version__
from keras_fracinit import _checks
from keras_fracinit.theory import activation as activation_lib
from keras_fracinit.theory import approximations
from keras_fracinit.theory import moments

DEFAULT_ORDERS = (0.25, 0.5, 0.8, 1.0, 1.25, 1.5, 1.75, 2.0)


def _flag_value(check, convert=float):
    """An argparse type: `convert` the text, then validate it with `check`.

    The package's checks speak of Python arguments (``Argument `s` ...``);
    argparse names the flag itself, so only the check's condition is used.
    """

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            expected = "an integer" if convert is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        try:
            return check(value)
        except _checks.ArgumentError as error:
            raise argparse.ArgumentTypeError(f"{error.condition}; got {text!r}") from None

    return parse


def _orders(text):
    """`--s`: a comma-separated list of moment orders in (0, 2]."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, none empty; got {text!r}")
    return [_flag_value(_checks.check_moment_order)(item) for item in items]


def activation_columns(*, negative_slope, lower, upper, dropout):
    """`(header, ActivationSpec)` per table column; every spec validated here, once."""
    spec = activation_lib.ActivationSpec
    return [
        ("relu", spec("relu", dropout=dropout)),
        (
            f"leaky_relu(a={negative_slope:g})",
            spec("leaky_relu", negative_slope=negative_slope, dropout=dropout),
        ),
        (f"rrelu(l={lower:.3g},u={upper:.3g})", spec("rrelu", lower=lower, upper=upper, dropout=dropout)),
        ("linear", spec("linear", dropout=dropout)),
    ]


def gain_table(width, orders, columns):
    """Rows of `[s, gain per activation column..., authors' relu approximation]`.

    The authors' large-width expansion knows no dropout: with dropout, its
    column is left out rather than printed for another layer.
    """
    authors = not any(spec.dropout for _, spec in columns)
    headers = ["s"] + [name for name, _ in columns] + (["relu (authors' approx.)"] if authors else [])
    rows = []
    for s in orders:
        row = [s]
        for _, spec in columns:
            row.append(moments.moment_gain(s, spec, width=width))
        if authors:
            row.append(approximations.large_width_gain(s, "relu", width=width))
        rows.append(row)
    return headers, rows


def _format(headers, rows, style):
    cells = [[f"{row[0]:g}"] + [f"{value:.6f}" for value in row[1:]] for row in rows]
    if style == "csv":
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([headers] + cells)
        return buffer.getvalue().rstrip("\n")
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    if style == "markdown":
        lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"]
        lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        lines += ["| " + " | ".join(c.rjust(w) for c, w in zip(cell, widths)) + " |" for cell in cells]
        return "\n".join(lines)
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(cell, widths)) for cell in cells]
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m keras_fracinit",
        description="Fractional moment-preserving initialization tools.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    table = commands.add_parser(
        "table",
        help="print exact s-moment gains g_s(m) next to He/LeCun (s = 2)",
        description=(
            "Print the exact s-moment gains g_s(m): Gaussian weights with "
            "variance g_s(m)/fan_in preserve the s-th moment of the signal "
            "norm through a layer of width m. The s = 2 row is He (relu) and "
            "LeCun (linear)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    table.set_defaults(command_parser=table)
    table.add_argument(
        "--width",
        type=_flag_value(functools.partial(_checks.check_positive_int, name="width"), int),
        default=64,
        help="layer width m (output units or channels)",
    )
    table.add_argument(
        "--s",
        type=_orders,
        default=",".join(f"{s:g}" for s in DEFAULT_ORDERS),
        help="comma-separated moment orders, each in (0, 2]",
    )
    slopes = [
        (
            "negative_slope",
            activation_lib.DEFAULT_NEGATIVE_SLOPE,
            "negative-side slope of the leaky_relu column",
        ),
        ("lower", activation_lib.DEFAULT_RRELU_LOWER, "lower slope bound of the rrelu column"),
        ("upper", activation_lib.DEFAULT_RRELU_UPPER, "upper slope bound of the rrelu column"),
    ]
    for name, default, text in slopes:
        check = functools.partial(_checks.check_non_negative, name=name)
        table.add_argument("--" + name.replace("_", "-"), type=_flag_value(check), default=default, help=text)
    table.add_argument(
        "--dropout",
        type=_flag_value(functools.partial(_checks.check_fraction_below_one, name="dropout")),
        default=0.0,
        help="inverted-dropout rate on each layer's output, in [0, 1)",
    )
    table.add_argument(
        "--format",
        choices=("text", "markdown", "csv"),
        default="text",
        help="output format",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:  # the one condition no single flag can check
        _checks.check_at_most(args.lower, args.upper, "lower", "--upper")
    except _checks.ArgumentError as error:
        args.command_parser.error(f"argument --{error.name}: {error.condition}; got {error.received:g}")
    columns = activation_columns(
        negative_slope=args.negative_slope, lower=args.lower, upper=args.upper, dropout=args.dropout
    )
    headers, rows = gain_table(args.width, args.s, columns)
    if args.format == "text":
        print(
            f"Exact s-moment gains g_s(m), width m = {args.width}, "
            f"dropout = {args.dropout:g}; weights ~ N(0, g_s(m) / fan_in)."
        )
    print(_format(headers, rows, args.format))
    if args.format == "text" and args.dropout:
        print("(The authors' large-width approximation has no dropout, so its column is left out.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
