"""The examples' command-line flags, their checks and shared names, without Keras.

Every flag is checked by its argparse type, so a bad value stops the script
with one line (``argument --width: must be a positive integer; got '-5'``)
before Keras starts or any data loads, and `--help` answers at once.
"""

import argparse
import sys

# Symmetric alpha-stable weights of the s-moment scheme (FractionalMomentStable), by alpha.
STABLE_INITS = {"stable_1.5": 1.5, "stable_1.8": 1.8}
INITS = ("he", "glorot", "fractional", "random_walk", *STABLE_INITS)
ACTIVATIONS = ("relu", "leaky_relu", "linear")
# The paper's choices of s per activation.
PAPER_S = {"relu": 0.8, "leaky_relu": 1.0, "linear": 1.0}
LEAKY_SLOPE = 0.01  # the paper's Leaky ReLU slope
METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


class DataUnavailable(Exception):
    """The dataset cannot be loaded here; the message says how to provide it."""


def fail(message):
    """Stops the example with a one-line error (exit status 2)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _number(text, convert):
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def integer_at_least(minimum):
    """An argparse type: an integer >= `minimum`."""

    def parse(text):
        value = _number(text, int)
        if value < minimum:
            wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise argparse.ArgumentTypeError(f"must be {wanted}; got {text!r}")
        return value

    return parse


positive_int = integer_at_least(1)


def positive_float(text):
    """An argparse type: a finite number > 0."""
    value = _number(text, float)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text!r}")
    return value


def moment_order(text):
    """An argparse type: the moment order s, in (0, 2]."""
    value = _number(text, float)
    if not 0 < value <= 2:
        raise argparse.ArgumentTypeError(f"must be in (0, 2]; got {text!r}")
    return value


def comma_list(item_type):
    """An argparse type: a comma-separated list of `item_type`, none empty."""

    def parse(text):
        items = [item.strip() for item in text.split(",")]
        if not all(items):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, none empty; got {text!r}")
        return [item_type(item) for item in items]

    return parse


def init_name(text):
    """An argparse type: one of `INITS`."""
    if text not in INITS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(INITS)}; got {text!r}")
    return text


def add_common_flags(parser, *, epochs, seeds, batch_size, lr, depth=20):
    """The flags every protocol example shares; `depth` or `lr` None: chosen per activation."""
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument(
        "--inits",
        type=comma_list(init_name),
        default="he,fractional,glorot",
        help=f"comma list of {', '.join(INITS)}",
    )
    parser.add_argument(
        "--activation", choices=ACTIVATIONS, default="relu", help="activation of the hidden layers"
    )
    parser.add_argument(
        "--s",
        type=moment_order,
        default=None,
        help="moment order of the fractional init, in (0, 2] (default: the "
        "paper's, 0.8 for relu, 1 for leaky_relu and linear)",
    )
    per_activation = "the paper's: 20, and 30 for linear" if depth is None else "the paper: 20"
    parser.add_argument(
        "--depth",
        type=integer_at_least(2),
        default=depth,
        help=f"number of Dense layers in all, at least 2 ({per_activation})",
    )
    parser.add_argument("--width", type=positive_int, default=64, help="units per hidden layer")
    parser.add_argument("--epochs", type=positive_int, default=epochs, help="epochs per run")
    parser.add_argument(
        "--seeds", type=positive_int, default=seeds, help="runs per init, with seeds 0, 1, ..."
    )
    parser.add_argument("--batch-size", type=positive_int, default=batch_size, help="SGD mini-batch size")
    per_activation = " (the paper's: 0.01, and 0.001 for linear)" if lr is None else ""
    parser.add_argument("--lr", type=positive_float, default=lr, help=f"SGD learning rate{per_activation}")
    parser.add_argument("--out", default="runs", help="folder for the outputs")
    parser.add_argument(
        "--data-dir", default=None, help="folder holding the dataset's files (default: keras.datasets' cache)"
    )
    parser.add_argument(
        "--monitor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="attach FractionalMomentMonitor(s) to the first seed of each init "
        "and write monitor_<init>.png/.json",
    )
    parser.add_argument(
        "--logit-activation",
        action="store_true",
        help="apply the activation to the logits too, as the authors' code does",
    )
    parser.add_argument(
        "--verbose",
        type=int,
        default=2,
        choices=(0, 1, 2),
        help="Keras' progress output (2: one line per epoch)",
    )


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (examples run headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class LazyModule:
    """A module imported on first use, so that `--help` and bad flags answer
    before Keras or JAX start: `keras = LazyModule("fracinit_experiments.quiet_keras", "keras")`."""

    def __init__(self, module, attribute=None):
        self._module, self._attribute = module, attribute

    def __getattr__(self, name):
        import importlib

        target = importlib.import_module(self._module)
        if self._attribute is not None:
            target = getattr(target, self._attribute)
        return getattr(target, name)
