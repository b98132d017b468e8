"""Tail-index estimators on samples with a known tail index."""

import math

import numpy as np
import pytest
from helpers import block_sum_sd
from helpers import per_entry_sd
from scipy import stats

from keras_fracinit.tails.estimators import block_sum_tail_index
from keras_fracinit.tails.estimators import block_terms
from keras_fracinit.tails.estimators import carries_noise
from keras_fracinit.tails.estimators import hill_tail_index
from keras_fracinit.tails.estimators import per_entry_tail_index
from keras_fracinit.tails.estimators import standardized_noise

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


def _stable_draws(alpha, shape, rng):
    if alpha == 2:
        return rng.standard_normal(shape)
    return stats.levy_stable.rvs(alpha, 0.0, size=shape, random_state=rng)


@pytest.mark.parametrize("alpha", [1.0, 1.5, 1.8, 2.0])
def test_per_entry_estimator_reads_stable_draws_whatever_the_entries_means_and_scales(alpha):
    rng = np.random.default_rng(int(alpha * 10))
    draws, entries = 16, 16384
    scales = np.exp(2 * rng.standard_normal(entries))  # log-normal, spread 2
    means = 5 * rng.standard_normal(entries)
    estimate = per_entry_tail_index(means + scales * _stable_draws(alpha, (draws, entries), rng))
    # draws // 4 groups of one block sum per entry: independent terms.
    assert abs(estimate - alpha) <= 4 * per_entry_sd(alpha, entries * draws // 4, 2)


def test_pooled_estimators_read_per_entry_scales_as_heavy_tails():
    # What the per-entry estimator is for: Gaussian draws with log-normal
    # per-entry scales have every moment, yet read heavy when pooled.
    rng = np.random.default_rng(3)
    draws = np.exp(rng.standard_normal(16384)) * rng.standard_normal((16, 16384))
    noise = draws - draws.mean(axis=0)
    # 4 sds of the pooled estimate for truly alpha = 1.8 samples: still far above.
    pooled = block_sum_tail_index(noise)
    assert pooled < 1.8 - 4 * block_sum_sd(1.8, noise.size, round(math.sqrt(noise.size)))
    assert abs(per_entry_tail_index(draws) - 2.0) <= 4 * per_entry_sd(2.0, 16384 * 4, 2)


def test_per_entry_estimator_is_exactly_unchanged_by_means_and_scales():
    rng = np.random.default_rng(4)
    draws = rng.standard_t(3, size=(12, 500))
    moved = 7.0 - 3.0 * np.exp(rng.standard_normal(500)) * draws
    for block in (2, 3):
        expected = per_entry_tail_index(draws, block)
        assert per_entry_tail_index(moved, block) == pytest.approx(expected, rel=1e-10)
        np.testing.assert_allclose(block_terms(moved, block)[0], block_terms(draws, block)[0], rtol=1e-10)


def test_per_entry_estimator_is_the_block_sum_of_standardized_noise():
    rng = np.random.default_rng(5)
    draws = rng.standard_cauchy((16, 300))  # 8 differences: 4 blocks of 2, 2 of 4
    for block in (2, 4):
        z = standardized_noise(draws)
        sums = z.reshape(8 // block, block, -1).sum(axis=1)
        expected = math.log(block) / np.mean(np.log(np.abs(sums)))
        assert per_entry_tail_index(draws, block) == pytest.approx(expected, rel=1e-12)
    # Each entry's standardized differences have geometric mean magnitude 1.
    np.testing.assert_allclose(np.mean(np.log(np.abs(z)), axis=0), 0.0, atol=1e-12)


def test_dead_entries_are_left_out():
    rng = np.random.default_rng(6)
    draws = rng.standard_cauchy((8, 1000))
    with_dead = np.concatenate([draws, np.full((8, 200), 0.25)], axis=1)
    assert per_entry_tail_index(with_dead) == per_entry_tail_index(draws)
    assert block_terms(with_dead)[1] == 1000 and standardized_noise(with_dead).shape == (4, 1000)
    assert carries_noise(with_dead) and not carries_noise(np.ones((8, 10)))
    assert not carries_noise(draws[:3]) and not carries_noise(np.where(draws > 0, np.inf, draws))


def test_blocks_with_an_inactive_pair_are_left_out_not_the_whole_entry():
    # A unit inactive on both mini-batches of a pair gives a zero difference
    # there: that entry's block is left out, its other blocks still count.
    rng = np.random.default_rng(7)
    draws = rng.standard_cauchy((16, 4000))  # 8 differences, 4 blocks of 2
    for entry in range(draws.shape[1]):
        pair = entry % 8
        draws[2 * pair + 1, entry] = draws[2 * pair, entry]
    terms, entries = block_terms(draws)
    assert entries == 4000 and np.all(np.isfinite(terms))
    assert carries_noise(draws)
    # 3 of each entry's 4 blocks remain: 12,000 independent terms.
    assert abs(per_entry_tail_index(draws) - 1.0) <= 4 * per_entry_sd(1.0, 12000, 2)


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
        (lambda: per_entry_tail_index(np.ones(10)), r"shape \(draws, ...\). Received: shape \(10,\)"),
        (lambda: per_entry_tail_index(np.ones((2, 10))), "leave one block"),
        (lambda: per_entry_tail_index(np.eye(8)[:, :4] * [1, 2, 3, 4], block_size=1), "block_size"),
        (lambda: per_entry_tail_index(np.full((8, 3), np.nan)), "finite"),
        (lambda: per_entry_tail_index(np.ones((8, 3))), "entries do not differ between mini-batches"),
        (lambda: standardized_noise(np.ones((1, 3))), "at least 2 draws"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
