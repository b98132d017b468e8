"""`_backend.stable_variates`: the Chambers-Mallows-Stuck transform in keras.ops, on the active backend."""

import math

import keras
import numpy as np
import pytest

from keras_fracinit._backend import stable_variates


def _uniforms(shape, seed, low=0.0, high=1.0):
    """float32 uniforms (as the draws give them), so that the float64 reference sees the same values."""
    return np.random.default_rng(seed).uniform(low, high, shape).astype("float32")


def _transform(uniforms, alpha, scale=1.0, dtype="float32", polynomial_sine=None):
    uniforms = keras.ops.convert_to_tensor(uniforms, "float32")
    values = stable_variates.symmetric_stable(
        uniforms[..., 0], uniforms[..., 1], alpha, scale, dtype, polynomial_sine=polynomial_sine
    )
    return keras.ops.convert_to_numpy(keras.ops.cast(values, "float32")).astype(np.float64)


def _textbook(u, alpha):
    """The formula as printed, in float64: V = pi (u1 - 1/2), W = -log u2."""
    u = u.astype(np.float64)
    v, w = math.pi * (u[..., 0] - 0.5), -np.log(u[..., 1])
    z = np.sin(alpha * v) / np.cos(v) ** (1 / alpha)
    return z * (np.cos((1 - alpha) * v) / w) ** ((1 - alpha) / alpha)


# JAX without x64 computes in float32 whatever is asked: tolerances are float32's, times the
# amplification of the logs (|log size| up to ~20 here).
RTOL = 2e-5


@pytest.mark.parametrize("polynomial_sine", [False, True])
@pytest.mark.parametrize("alpha", [0.1, 0.4, 1.0, 1.5, 1.99])
def test_matches_the_textbook_formula_inside_the_square(alpha, polynomial_sine):
    u = _uniforms((500, 2), 0, 0.01, 0.99)
    got = _transform(u, alpha, scale=0.3, polynomial_sine=polynomial_sine)
    np.testing.assert_allclose(got, 0.3 * _textbook(u, alpha), rtol=RTOL)


@pytest.mark.parametrize("polynomial_sine", [False, True])
def test_cauchy_is_tan_v(polynomial_sine):
    u = _uniforms((200, 2), 1)
    np.testing.assert_allclose(
        _transform(u, 1.0, polynomial_sine=polynomial_sine),
        np.tan(math.pi * (u[:, 0].astype(np.float64) - 0.5)),
        rtol=RTOL,
    )


def test_is_odd_in_the_angle():
    u = _uniforms((300, 2), 2, 0.001, 0.999)
    mirrored = np.stack([1.0 - u[:, 0], u[:, 1]], axis=1)  # exact in float32 for u in [1/2, 1)
    np.testing.assert_allclose(_transform(u, 1.3), -_transform(mirrored, 1.3), rtol=RTOL)


@pytest.mark.parametrize("polynomial_sine", [False, True])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("alpha", [0.1, 0.5, 1.0, 1.9])
def test_edges_of_the_uniforms_give_finite_values(alpha, dtype, polynomial_sine):
    # uniform draws include 0, which would give V = -pi/2 or W = inf
    edges = np.array([[0.0, 0.0], [0.0, 0.5], [0.5, 0.0], [1 - 2**-24, 1 - 2**-24], [0.5, 0.5]])
    values = _transform(edges, alpha, scale=1e3, dtype=dtype, polynomial_sine=polynomial_sine)
    assert np.all(np.isfinite(values))
    largest = float(np.finfo(dtype).max)
    assert np.all(np.abs(values) <= largest)
    assert values[-1] == 0.0  # V = 0


@pytest.mark.parametrize("polynomial_sine", [False, True])
@pytest.mark.parametrize("alpha", [0.3, 1.5, 1.99])
def test_cos_near_the_poles_keeps_its_digits(alpha, polynomial_sine):
    # In float32 cos(pi/2 - d) for d = 1e-6 is off by ~4e-8, i.e. 4%: the transform uses sin(d).
    u = np.array([[2**-23, 0.3], [1 - 2**-23, 0.3], [2**-20, 0.9], [0.5 + 2**-20, 0.01]], dtype="float32")
    exact = 0.7 * _textbook(u, alpha)
    got = _transform(u, alpha, scale=0.7, dtype="float32", polynomial_sine=polynomial_sine)
    np.testing.assert_allclose(got, exact, rtol=RTOL)


@pytest.mark.backend_independent  # numpy arithmetic
@pytest.mark.parametrize("dtype, ulps", [("float32", 4), ("float64", 4)])
def test_half_pi_sine_is_within_a_few_units_in_the_last_place(dtype, ulps):
    t = np.linspace(0.0, 1.0, 2**20 + 1).astype(dtype)
    exact = np.sin(math.pi / 2 * t.astype(np.longdouble))
    got = stable_variates.half_pi_sine(t, dtype).astype(np.longdouble)
    inside = t > 0
    relative = np.abs(got[inside] - exact[inside]) / exact[inside]
    assert relative.max() <= ulps * np.finfo(dtype).eps / 2, relative.max()
    assert got[0] == 0.0


@pytest.mark.backend_independent
def test_half_pi_sine_keeps_the_terms_its_dtype_needs():
    # the first term left out is below an eighth of epsilon at t = 1, the one before it is not
    for dtype, kept in [("float32", 7), ("float64", 11)]:
        first_left = (math.pi / 2) ** (2 * kept + 1) / math.factorial(2 * kept + 1)
        last_kept = (math.pi / 2) ** (2 * kept - 1) / math.factorial(2 * kept - 1)
        assert first_left < np.finfo(dtype).eps / 8 <= last_kept
        assert len(stable_variates._sine_coefficients(float(np.finfo(dtype).eps))) == kept
