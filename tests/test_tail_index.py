"""Tail-index estimators on samples with a known tail index."""

import math

import numpy as np
import pytest
from helpers import block_sum_sd
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
    # 4 standard deviations of the estimator (N = 10^5, blocks of sqrt(N)).
    assert abs(block_sum_tail_index(samples) - alpha) <= 4 * block_sum_sd(alpha, samples.size, 316)


def test_hill_estimator_on_symmetric_stable_samples(stable):
    # Hill is the second opinion: within 4 of its standard errors
    # alpha / sqrt(k), k = sqrt(N) = 316.
    alpha, samples = stable
    assert abs(hill_tail_index(samples) - alpha) <= 4 * alpha / math.sqrt(316)


def test_gaussian_samples_have_index_two():
    samples = np.random.default_rng(0).standard_normal(100_000)
    # A Gaussian is the alpha = 2 stable law (scaled): the same bound applies.
    assert abs(block_sum_tail_index(samples) - 2.0) <= 4 * block_sum_sd(2.0, samples.size, 316)


def test_hill_on_pareto_is_within_its_standard_error():
    alpha, k = 1.3, 2000
    samples = np.random.default_rng(1).pareto(alpha, 200_000) + 1.0
    assert abs(hill_tail_index(samples, k=k) - alpha) < 4 * alpha / math.sqrt(k)


def test_zeros_are_ignored_by_the_block_estimator():
    rng = np.random.default_rng(2)
    samples = stats.levy_stable.rvs(1.5, 0.0, size=100_000, random_state=rng)
    samples[rng.random(samples.size) < 0.3] = 0.0  # dead units
    # The estimate rests on the ~70,000 nonzero samples.
    nonzero = np.count_nonzero(samples)
    assert abs(block_sum_tail_index(samples) - 1.5) <= 4 * block_sum_sd(
        1.5, nonzero, round(math.sqrt(nonzero))
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: block_sum_tail_index([1.0, 2.0]), "at least 4"),
        (lambda: block_sum_tail_index([1.0, np.nan, 2.0, 3.0]), "finite"),
        (lambda: block_sum_tail_index(np.ones(100), block_size=1), "block_size"),
        (lambda: block_sum_tail_index(np.zeros(100)), "all zeros"),
        (lambda: hill_tail_index(np.ones(10), k=10), "Argument `k`"),
        (lambda: hill_tail_index(np.ones(10), k=2.5), "Argument `k` must be a positive integer"),
        (
            lambda: block_sum_tail_index(np.ones(100), block_size=True),
            "Argument `block_size` must be a positive integer",
        ),
        (lambda: hill_tail_index(np.zeros(10), k=3), "nonzero"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
