"""Exactness of the s-moment gain against independent formulas."""

import json
import math
import pathlib

import mpmath as mp
import numpy as np
import pytest
import references

from keras_fracinit.theory import ActivationSpec
from keras_fracinit.theory import activation as activation_lib
from keras_fracinit.theory import fractional_moment
from keras_fracinit.theory import moment_gain
from keras_fracinit.theory import moments

pytestmark = pytest.mark.backend_independent

# The package computes to ~1e-15; 1e-12 leaves room for the platform's libm.
RELATIVE_TOLERANCE = 1e-12
REFERENCE_FILE = pathlib.Path(__file__).resolve().parent / "data" / "reference_gains.json"


def _relative_error(value, reference):
    return abs(value / reference - 1.0)


def _stored_references():
    """The 30-digit references of tests/make_reference_gains.py (slow to recompute)."""
    data = json.loads(REFERENCE_FILE.read_text())
    return [
        pytest.param(
            record,
            id=f"{record['activation']}-{record['method'].split()[0]}-"
            f"m{record['width']}-s{record['s']}-{'-'.join(f'{v:.3g}' for v in record['kwargs'].values())}",
        )
        for record in data["records"]
    ]


def test_stored_references_cover_every_family():
    methods = {(r.values[0]["activation"], r.values[0]["method"]) for r in _stored_references()}
    assert methods == {
        ("linear", "chi-square closed form"),
        ("relu", "binomial chi-square mixture"),
        ("leaky_relu", "binomial 2F1 mixture"),
        ("rrelu", "60-digit quadrature"),
        ("relu", "60-digit quadrature"),  # with dropout
    }
    widths = {r.values[0]["width"] for r in _stored_references()}
    assert {1, 2, 64, 10**5, 10**6} <= widths


@pytest.mark.parametrize("record", _stored_references())
def test_gain_matches_stored_high_precision_reference(record):
    value = moment_gain(
        record["s"], ActivationSpec(record["activation"], **record["kwargs"]), width=record["width"]
    )
    assert _relative_error(value, float(record["gain"])) < RELATIVE_TOLERANCE


# Live spot checks: the reference formulas themselves, recomputed on each run
# for one cheap case per family, so the stored file cannot drift unnoticed.
@pytest.mark.parametrize(
    "activation, kwargs, width, s, moment",
    [
        ("linear", {}, 7, 0.8, lambda m, p: references.chi_square_moment(m, mp.mpf(p))),
        ("relu", {}, 64, 1.5, lambda m, p: references.leaky_moment(m, p, 0.0)),
        ("leaky_relu", {"negative_slope": 0.2}, 3, 0.1, lambda m, p: references.leaky_moment(m, p, 0.2)),
        (
            "rrelu",
            {"lower": 0.0, "upper": 0.5},
            1,
            1.9,
            lambda m, p: references.laplace_moment(m, p, 0.0, 0.5),
        ),
    ],
    ids=["linear", "relu", "leaky_relu", "rrelu"],
)
def test_gain_matches_a_live_reference(activation, kwargs, width, s, moment):
    reference = references.gain_from_moment(width, s / 2, moment(width, s / 2))
    assert (
        _relative_error(moment_gain(s, ActivationSpec(activation, **kwargs), width=width), reference)
        < RELATIVE_TOLERANCE
    )
    stored = [
        r
        for r in json.loads(REFERENCE_FILE.read_text())["records"]
        if (r["activation"], r["width"], r["s"], r["kwargs"]) == (activation, width, s, kwargs)
    ]
    assert len(stored) == 1 and _relative_error(float(stored[0]["gain"]), reference) < 1e-15


@pytest.mark.parametrize("activation", ["relu", "linear", "leaky_relu", "rrelu"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_dropout_matches_binomial_thinning(activation, keep):
    # Inverted dropout keeps k ~ Binomial(m, q) units, each scaled by 1/q:
    # E[X_m^p] = sum_k P(k) q^(-2p) E[X_k^p] with the undropped moments.
    width, s = 12, 0.7
    p = s / 2
    thinned = mp.fsum(
        mp.binomial(width, k)
        * mp.mpf(keep) ** k
        * mp.mpf(1 - keep) ** (width - k)
        * mp.mpf(keep) ** (-2 * p)
        * fractional_moment(s, activation, width=k)
        for k in range(1, width + 1)
    )
    value = fractional_moment(s, ActivationSpec(activation, dropout=1 - keep), width=width)
    assert _relative_error(value, float(thinned)) < RELATIVE_TOLERANCE


# The classical (s = 2) gains in closed form: 2 / (1 + E[a^2]) for a negative
# slope a (He et al., ICCV 2015: 2 for ReLU, 2 / (1 + a^2) for Leaky ReLU;
# randomized slopes a ~ U[l, u] give E[a^2] = (l^2 + l u + u^2) / 3), 1 for a
# linear layer (LeCun), times the keep probability 1 - p under inverted dropout.
@pytest.mark.parametrize(
    "activation, kwargs, expected",
    [
        ("relu", {}, 2.0),
        ("linear", {}, 1.0),
        ("leaky_relu", {}, 2.0 / 1.04),
        ("leaky_relu", {"negative_slope": 0.5}, 1.6),
        ("rrelu", {"lower": 0.1, "upper": 0.4}, 2.0 / (1.0 + 0.21 / 3.0)),
        ("relu", {"dropout": 0.25}, 1.5),
        ("linear", {"dropout": 0.5}, 0.5),
    ],
)
@pytest.mark.parametrize("width", [1, 5, 64, 10**6])
def test_s2_is_the_classical_gain(activation, kwargs, expected, width):
    # E[X_m] = m (1 + E[A^2]) / (2 q) gives g_2 = 2 q / (1 + E[A^2]) exactly.
    assert moment_gain(2.0, ActivationSpec(activation, **kwargs), width=width) == pytest.approx(
        expected, rel=1e-15
    )
    # ... and s -> 2 is continuous.
    near = moment_gain(2.0 - 1e-7, ActivationSpec(activation, **kwargs), width=width)
    assert near == pytest.approx(expected, rel=1e-6)
    assert near >= expected


def test_he_and_lecun_are_exact_at_s2():
    assert moment_gain(2, "relu", width=64) == 2.0
    assert moment_gain(2, "linear", width=64) == 1.0


@pytest.mark.parametrize(
    "s, activation, expected",
    [(1.0, "relu", 2.03982), (0.8, "relu", 2.04805), (1.0, "linear", 1.00784)],
)
def test_theory_reference_points_at_width_64(s, activation, expected):
    assert moment_gain(s, activation, width=64) == pytest.approx(expected, abs=5e-6)


def test_small_relu_width_counts_the_dead_mass():
    # P(X_2 = 0) = 1/4 enters E[X^p] exactly, so the gain is far above He's.
    assert moment_gain(0.5, "relu", width=2) == pytest.approx(9.3229, abs=1e-4)


@pytest.mark.parametrize(
    "activation, kwargs",
    [
        ("relu", {}),
        ("linear", {}),
        ("leaky_relu", {"negative_slope": 0.3}),
        ("rrelu", {}),
        ("relu", {"dropout": 0.2}),
    ],
)
def test_gain_decreases_in_s_towards_g2(activation, kwargs):
    for width in [1, 4, 64, 4096]:
        gains = [
            moment_gain(s, ActivationSpec(activation, **kwargs), width=width)
            for s in np.linspace(0.05, 2.0, 40)
        ]
        assert np.all(np.diff(gains) < 0)


def _large_width_coefficient(s, law):
    """m (g_s(m) - g_2) -> g_2 (2 - s)/4 kappa, kappa = Var(Y)/E[Y]^2.

    Delta method on E[X^p] with X a sum of m iid terms Y = phi(z)^2 xi / q^2:
    E[Y] = (1 + E A^2) / (2q), E[Y^2] = 3 (1 + E A^4) / (2 q^3).
    """
    lo, hi, q = law.lower, law.upper, law.keep
    mean_a4 = hi**4 if lo == hi else (hi**5 - lo**5) / (5 * (hi - lo))
    mean_a2 = law.mean_square_slope
    kappa = 6 * (1 + mean_a4) / (q * (1 + mean_a2) ** 2) - 1
    return law.second_moment_gain * (2 - s) / 4 * kappa


@pytest.mark.parametrize(
    "activation, kwargs",
    [
        ("relu", {}),
        ("linear", {}),
        ("leaky_relu", {"negative_slope": 0.2}),
        ("leaky_relu", {"negative_slope": 0.8}),
        ("rrelu", {}),
        ("leaky_relu", {"dropout": 0.3}),
    ],
)
@pytest.mark.parametrize("s", [0.5, 1.0, 1.7])
def test_first_order_large_width_expansion(activation, kwargs, s):
    law = activation_lib.ActivationSpec(activation, **kwargs).law
    coefficient = _large_width_coefficient(s, law)
    errors = []
    for width in [1000, 10000, 100000]:
        gain = moment_gain(s, ActivationSpec(activation, **kwargs), width=width)
        errors.append(abs(width * (gain - law.second_moment_gain) - coefficient))
    # The remainder is O(1/m): ten times wider, about ten times smaller.
    assert errors[1] < 0.15 * errors[0]
    assert errors[2] < 0.15 * errors[1]
    assert errors[0] < 0.1 * abs(coefficient)


def test_fractional_moment_at_s2_is_the_mean():
    assert fractional_moment(2, "relu", width=10) == pytest.approx(5.0, rel=1e-15)
    assert fractional_moment(2, ActivationSpec("leaky_relu", dropout=0.5), width=4) == (
        pytest.approx(4 * 1.04 / 2 / 0.5, rel=1e-15)
    )


def test_fractional_moment_of_one_linear_unit_is_abs_normal_moment():
    # E|z|^s = 2^(s/2) Gamma((s+1)/2) / sqrt(pi)
    for s in [0.2, 1.0, 1.7]:
        expected = 2 ** (s / 2) * math.gamma((s + 1) / 2) / math.sqrt(math.pi)
        value = fractional_moment(s, "linear", width=1)
        assert value == pytest.approx(expected, rel=1e-13)


def test_laplace_factor_is_accurate_near_zero():
    # psi(t) - 1 = -E[Y] t + O(t^2): relative precision is kept for tiny t.
    law = activation_lib.ActivationSpec("rrelu").law
    t = np.array([1e-300, 1e-200, 1e-20])
    values = moments.laplace_factor_minus_one(t, law)
    expected = -(1 + law.mean_square_slope) / 2 * t
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_gain_is_cached_per_law_and_width():
    moments.log_gain_for_law.cache_clear()
    moment_gain(0.9, "relu", width=123)
    moment_gain(0.9, "relu", width=123)
    moment_gain(0.9, ActivationSpec("relu", dropout=0.0), width=123)
    info = moments.log_gain_for_law.cache_info()
    assert info.misses == 1 and info.hits == 2


@pytest.mark.parametrize("width", [0, -3, 2.5, "64", True, None])
def test_width_must_be_a_positive_integer(width):
    with pytest.raises(ValueError, match="Argument `width`"):
        moment_gain(1.0, width=width)


def test_width_accepts_numpy_integers():
    assert moment_gain(1.0, width=np.int64(64)) == moment_gain(1.0, width=64)
