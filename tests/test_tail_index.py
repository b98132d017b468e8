"""Tail-index estimators on samples with a known tail index."""

import math

import numpy as np
import pytest
from scipy import stats

from keras_fracinit.tail_index import block_sum_tail_index
from keras_fracinit.tail_index import hill_tail_index

pytestmark = pytest.mark.backend_independent


@pytest.fixture(scope="module", params=[1.2, 1.5, 1.8])
def stable(request):
    alpha = request.param
    samples = stats.levy_stable.rvs(
        alpha, 0.0, size=100_000, random_state=np.random.default_rng(int(alpha * 10))
    )
    return alpha, samples


def test_block_sum_estimator_on_symmetric_stable_samples(stable):
    alpha, samples = stable
    assert abs(block_sum_tail_index(samples) - alpha) <= 0.1


def test_hill_estimator_on_symmetric_stable_samples(stable):
    # Hill is the second opinion: within 4 of its standard errors
    # alpha / sqrt(k), k = sqrt(N) = 316 (it is not held to 0.1).
    alpha, samples = stable
    assert abs(hill_tail_index(samples) - alpha) <= 4 * alpha / math.sqrt(316)


def test_gaussian_samples_have_index_two():
    samples = np.random.default_rng(0).standard_normal(100_000)
    assert block_sum_tail_index(samples) == pytest.approx(2.0, abs=0.1)


def test_hill_on_pareto_is_within_its_standard_error():
    alpha, k = 1.3, 2000
    samples = np.random.default_rng(1).pareto(alpha, 200_000) + 1.0
    assert abs(hill_tail_index(samples, k=k) - alpha) < 4 * alpha / math.sqrt(k)


def test_zeros_are_ignored_by_the_block_estimator():
    rng = np.random.default_rng(2)
    samples = stats.levy_stable.rvs(1.5, 0.0, size=100_000, random_state=rng)
    samples[rng.random(samples.size) < 0.3] = 0.0  # dead units
    assert abs(block_sum_tail_index(samples) - 1.5) <= 0.15


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: block_sum_tail_index([1.0, 2.0]), "at least 4"),
        (lambda: block_sum_tail_index([1.0, np.nan, 2.0, 3.0]), "finite"),
        (lambda: block_sum_tail_index(np.ones(100), block_size=1), "block_size"),
        (lambda: block_sum_tail_index(np.zeros(100)), "all zeros"),
        (lambda: hill_tail_index(np.ones(10), k=10), "Argument `k`"),
        (lambda: hill_tail_index(np.zeros(10), k=3), "nonzero"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
