"""Regenerates tests/data/reference_gains.json: s-moment gains to 30 digits (mpmath).

    python tests/make_reference_gains.py        # about 2 minutes on one core

Each reference comes from a formula other than the package's Laplace-transform
quadrature (see references.py): the chi-square closed form (linear), the
binomial chi-square mixture (ReLU), the binomial mixture of Gauss
hypergeometric functions (Leaky ReLU), and mpmath's own 60-digit adaptive
quadrature (randomized Leaky ReLU, dropout). The tests compare the package
with these stored values, so the suite does not redo the slow mpmath work on
every run; tests/test_theory_moments.py still recomputes a few cases live.
"""

import json
import pathlib
import time

import mpmath as mp
import references

OUT = pathlib.Path(__file__).resolve().parent / "data" / "reference_gains.json"
WIDTHS = [1, 2, 3, 7, 64, 1000, 10**6]
ORDERS = [0.1, 0.8, 1.5, 1.99]
LEAKY_WIDTHS = [1, 2, 3, 7, 64, 1000]
LEAKY_SLOPES = [0.01, 0.2, 0.7]
RRELU_WIDTHS = [1, 64, 10**6]
RRELU_BOUNDS = [(1 / 8, 1 / 3), (0.0, 0.5), (0.3, 0.3 + 1e-7), (0.5, 2.0)]
RRELU_ORDERS = [0.1, 1.9]
DROPOUT_WIDTHS = [1, 64, 10**5]
DROPOUT_KEEPS = [0.3, 0.8]


def _case(method, activation, s, width, moment, **kwargs):
    """One `(record, moment)` pair: the package's arguments and the thunk for E[X^p]."""
    record = {"method": method, "activation": activation, "s": s, "width": width, "kwargs": kwargs}
    return record, moment


def cases():
    """`(record, moment)`: the package's arguments and a thunk for E[X^p]."""
    for width in WIDTHS:
        for s in ORDERS:
            p = mp.mpf(s) / 2
            yield _case(
                "chi-square closed form",
                "linear",
                s,
                width,
                lambda width=width, p=p: references.chi_square_moment(width, p),
            )
            yield _case(
                "binomial chi-square mixture",
                "relu",
                s,
                width,
                lambda width=width, s=s: references.leaky_moment(width, s / 2, 0.0),
            )
    for width in LEAKY_WIDTHS:
        for slope in LEAKY_SLOPES:
            for s in ORDERS:
                moment = lambda width=width, s=s, slope=slope: references.leaky_moment(width, s / 2, slope)  # noqa: E731
                yield _case("binomial 2F1 mixture", "leaky_relu", s, width, moment, negative_slope=slope)
    moment = lambda: references.leaky_moment(10**6, 0.25, 0.2)  # noqa: E731
    yield _case("binomial 2F1 mixture", "leaky_relu", 0.5, 10**6, moment, negative_slope=0.2)
    for width in RRELU_WIDTHS:
        for lower, upper in RRELU_BOUNDS:
            for s in RRELU_ORDERS:
                moment = lambda width=width, s=s, lower=lower, upper=upper: references.laplace_moment(  # noqa: E731
                    width, s / 2, lower, upper
                )
                yield _case("60-digit quadrature", "rrelu", s, width, moment, lower=lower, upper=upper)
    for width in DROPOUT_WIDTHS:
        for keep in DROPOUT_KEEPS:
            moment = lambda width=width, keep=keep: references.laplace_moment(width, 0.25, 0.0, 0.0, keep)  # noqa: E731
            yield _case("60-digit quadrature", "relu", 0.5, width, moment, dropout=1 - keep)


def main():
    records = []
    start = time.perf_counter()
    for record, moment in cases():
        with mp.workdps(40):
            gain = record["width"] * moment() ** (-2 / mp.mpf(record["s"]))
            record["gain"] = mp.nstr(gain, 30)
        records.append(record)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(
        json.dumps({"generated_by": "tests/make_reference_gains.py", "records": records}, indent=1) + "\n"
    )
    print(f"wrote {len(records)} references to {OUT} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
