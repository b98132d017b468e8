"""Regenerates tests/data/reference_stable_gains.json: alpha-stable gains by a second quadrature.

    python tests/make_reference_stable_gains.py        # about an hour on one core; resumable

The package computes one unit's Laplace transform psi(t) = E exp(-t |phi(z)|^alpha)
by a Mellin-Barnes integral over the closed-form absolute moments of z ~ SaS(1)
and integrates 1 - psi^m with a subtraction in log t. Here both steps are done
differently, with scipy's adaptive quadrature (QUADPACK):

- psi from the Chambers-Mallows-Stuck representation |z|^alpha = a(V) W^(alpha - 1),
  V ~ U(0, pi/2), W ~ Exp(1), a(V) = sin(alpha V)^alpha cos((1 - alpha) V)^(1 - alpha) / cos V,
  as the double integral 1 - psi(t) = 2/pi int dV int e^-w (1 - exp(-t a(V) w^(alpha-1))) dw;
- E[S^p] = p / Gamma(1 - p) int (1 - psi(t)^m) t^(-p-1) dt after t = x^(1/(1-p)), which
  turns the t^(-p) log t end into a logarithmic one.

QUADPACK's tolerances here give about 1e-10 relative; the stored `tolerance` is what the
quadrature itself reports, and the tests allow it.
"""

import json
import math
import pathlib

import numpy as np
from scipy import integrate
from scipy import special

OUT = pathlib.Path(__file__).resolve().parent / "data" / "reference_stable_gains.json"
# (alpha, s, activation, kwargs, widths)
CASES = [
    # (width 10^6 is left out: there QUADPACK's outer integral is off by 4e-6 while it reports
    # 1e-8; tests/test_theory_stable_moments.py checks the widest layers another way)
    (1.5, 0.8, "relu", {}, [2, 64]),
    (1.0, 0.5, "linear", {}, [2]),
    (1.7, 0.8, "leaky_relu", {"negative_slope": 0.2}, [64]),
    (1.2, 0.1, "relu", {}, [2]),
    (1.5, 0.8, "relu", {"dropout": 0.3}, [64]),
    (0.5, 0.2, "linear", {}, [64]),
    (1.8, 1.2, "relu", {}, [7]),
    (1.0, 0.5, "linear", {}, [1000]),
]
_SLOPES, _SLOPE_WEIGHTS = np.polynomial.legendre.leggauss(16)


def _amplitude(v, alpha):
    return np.sin(alpha * v) ** alpha * np.cos((1.0 - alpha) * v) ** (1.0 - alpha) / np.cos(v)


def one_minus_psi(t, alpha):
    """`1 - E exp(-t |z|^alpha)`, z ~ SaS(1), by the CMS double integral.

    The inner integral runs over `y = log w`, split where `t a(V) w^(alpha-1)`
    crosses 1 (the bend of the integrand) and at `w = 1`.
    """

    def inner(v):
        log_ta = math.log(t * _amplitude(v, alpha))

        def integrand(y):
            exponent = log_ta + (alpha - 1.0) * y
            bend = 1.0 if exponent > 700.0 else -math.expm1(-math.exp(exponent))
            return math.exp(y - math.exp(y)) * bend if y < 700.0 else 0.0

        points = sorted({0.0, -log_ta / (alpha - 1.0)} if alpha != 1.0 else {0.0})
        edges = [-np.inf, *points, np.inf]
        return sum(
            integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
            for lo, hi in zip(edges[:-1], edges[1:])
        )

    # t a(V) crosses 1 near V = t^(-1/alpha) / alpha, where a(V) ~ (alpha V)^alpha:
    # a bend that a large t makes too narrow for the quadrature to find alone.
    bend = t ** (-1.0 / alpha) / alpha
    points = [v for v in (0.01 * bend, 0.1 * bend, bend, 10 * bend) if v < 1.0]
    edges = [0.0, *points, math.pi / 2]
    value = sum(
        integrate.quad(inner, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
        for lo, hi in zip(edges[:-1], edges[1:])
    )
    return 2.0 / math.pi * value


def unit_one_minus(t, alpha, activation, kwargs):
    """`1 - psi_phi(t)` for one unit of the activation (dropout with keep q)."""
    keep = 1.0 - kwargs.get("dropout", 0.0)
    t = t / keep**alpha
    positive = one_minus_psi(t, alpha)
    if activation == "linear":
        negative = positive
    elif activation == "relu":
        negative = 0.0  # phi = 0 there: exp(-t * 0) = 1
    elif activation == "leaky_relu":
        negative = one_minus_psi(kwargs["negative_slope"] ** alpha * t, alpha)
    else:  # rrelu, U[1/8, 1/3]: Gauss-Legendre over the slope
        lower, upper = 1 / 8, 1 / 3
        slopes = lower + (upper - lower) * (_SLOPES + 1) / 2
        negative = 0.5 * sum(w * one_minus_psi(a**alpha * t, alpha) for a, w in zip(slopes, _SLOPE_WEIGHTS))
    return keep * 0.5 * (positive + negative)


def gain(alpha, s, activation, kwargs, width):
    p = s / alpha

    def integrand(x):
        t = x ** (1.0 / (1.0 - p))
        unit = unit_one_minus(t, alpha, activation, kwargs)
        one_minus_l = 1.0 if unit >= 1.0 else -math.expm1(width * math.log1p(-unit))
        return one_minus_l * x ** (-1.0 / (1.0 - p)) / (1.0 - p)

    # scale of the bend of 1 - L, for the split points
    bend = (1.0 / (width * math.log(math.e + width))) ** (1.0 - p)
    # split at several decades around the bend: a wide layer's integrand bends sharply there
    edges = [0.0, *(bend * 10.0**k for k in range(-3, 3) if bend * 10.0**k < 1.0), 1.0, np.inf]
    pieces = list(zip(edges[:-1], edges[1:]))
    total, error = 0.0, 0.0
    for lo, hi in pieces:
        value, err = integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-11, limit=400)
        total, error = total + value, error + err
    moment = p / special.gamma(1.0 - p) * total
    return width * moment ** (-1.0 / p), error / total / p


def main():
    """Writes the rows one by one, keeping those already computed (the run can be stopped)."""
    done = json.loads(OUT.read_text())["rows"] if OUT.exists() else []
    for alpha, s, activation, kwargs, widths in CASES:
        for width in widths:
            key = {"alpha": alpha, "s": s, "activation": activation, "kwargs": kwargs, "width": width}
            if any(all(row[k] == v for k, v in key.items()) for row in done):
                continue
            value, relative_error = gain(alpha, s, activation, kwargs, width)
            done.append({**key, "gain": float(value), "tolerance": max(float(relative_error), 1e-10)})
            print(done[-1], flush=True)
            OUT.write_text(json.dumps({"method": __doc__.splitlines()[0], "rows": done}, indent=1) + "\n")


if __name__ == "__main__":
    main()
