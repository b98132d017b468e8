"""`keras_fracinit.tails.assessment`: the tail index's interval, the Gaussian null and the verdict."""

import math

import numpy as np
import pytest
from scipy import stats

from keras_fracinit.tails.assessment import VERDICTS
from keras_fracinit.tails.assessment import assess_heavy_tails
from keras_fracinit.tails.assessment import assess_layers
from keras_fracinit.tails.assessment import sample_tail_index
from keras_fracinit.tails.estimators import block_terms
from keras_fracinit.tails.estimators import per_entry_tail_index

pytestmark = pytest.mark.backend_independent


def _scales(rng, entries, spread=1.0):
    return np.exp(spread * rng.standard_normal(entries))


def test_gaussian_noise_with_per_entry_scales_is_not_heavy_tailed():
    rng = np.random.default_rng(0)
    draws = _scales(rng, 4096, 2.0) * rng.standard_normal((32, 4096))
    result = assess_heavy_tails(draws)
    assert result.verdict == "not heavy-tailed"
    assert result.interval[0] <= 2.0 <= result.interval[1]
    assert result.alpha == pytest.approx(per_entry_tail_index(draws), rel=1e-12)
    assert result.groups == 8 and result.entries == 4096
    assert result.null_band[0] <= result.null_alpha <= result.null_band[1]
    assert result.reason.startswith("not heavy-tailed: tail index 2.0")


@pytest.mark.parametrize("alpha", [1.0, 1.5, 1.8])
def test_stable_noise_with_per_entry_scales_is_heavy_tailed_and_covered(alpha):
    rng = np.random.default_rng(int(alpha * 10))
    draws = _scales(rng, 4096) * stats.levy_stable.rvs(alpha, 0.0, size=(32, 4096), random_state=rng)
    result = assess_heavy_tails(draws)
    assert result.verdict == "heavy-tailed"
    assert result.interval[0] <= alpha <= result.interval[1]
    assert result.reason.startswith("heavy-tailed")


def test_the_null_is_gaussian_noise_read_by_the_same_estimator():
    # Gaussian draws are alpha-stable with alpha = 2, for which the estimator
    # is unbiased in 1/alpha: the null's mean sits within 4 standard errors
    # of its replicates' spread around 2.
    rng = np.random.default_rng(1)
    draws = _scales(rng, 2048) * rng.standard_normal((16, 2048))
    result = assess_heavy_tails(draws, null_replicates=40)
    half_width = result.null_band[1] - result.null_alpha  # z_0.975 sd of one replicate
    sd = half_width / stats.norm.ppf(0.975)
    assert abs(result.null_alpha - 2.0) <= 4 * sd / math.sqrt(40) + 0.01  # + the 1/x bias, O(sd^2)


def test_false_heavy_tail_verdicts_under_the_null_are_rare():
    # Under the null the verdict "heavy-tailed" needs the interval's upper end
    # below the null band's lower end: probability below level / 2 = 0.025.
    # Over 40 independent Gaussian data sets, P(6 or more) < 1e-4.
    rng = np.random.default_rng(2)
    verdicts = [
        assess_heavy_tails(_scales(rng, 512) * rng.standard_normal((16, 512)), seed=k).verdict
        for k in range(40)
    ]
    assert verdicts.count("heavy-tailed") <= 5
    assert set(verdicts) <= set(VERDICTS)


def test_correlated_entries_widen_the_interval_instead_of_faking_precision():
    # A common factor per draw makes the entries' draws move together: the
    # group terms vary as much as single draws do, and the interval says so.
    rng = np.random.default_rng(3)
    independent = rng.standard_normal((32, 4096))
    correlated = math.sqrt(0.5) * rng.standard_normal((32, 1)) + math.sqrt(0.5) * independent
    narrow = assess_heavy_tails(independent)
    wide = assess_heavy_tails(correlated)
    assert wide.verdict == "inconclusive" and "More draws narrow the interval" in wide.reason
    assert wide.interval[0] <= 2.0 <= wide.interval[1]
    width = wide.interval[1] - wide.interval[0]
    assert width > 5 * (narrow.interval[1] - narrow.interval[0])


def test_the_interval_is_students_t_on_the_group_terms():
    # 8 draws: 4 differences, 2 groups of 2; t with 1 degree of freedom.
    rng = np.random.default_rng(4)
    draws = stats.levy_stable.rvs(1.8, 0.0, size=(8, 2048), random_state=rng)
    result = assess_heavy_tails(draws, level=0.1)
    terms = block_terms(draws)[0] / math.log(2)
    half = stats.t.ppf(0.95, 1) * terms.std(ddof=1) / math.sqrt(2)
    assert result.groups == 2
    assert result.interval == pytest.approx((1 / (terms.mean() + half), 1 / (terms.mean() - half)))


def test_layers_pool_with_equal_weights():
    rng = np.random.default_rng(5)
    small = rng.standard_cauchy((16, 256))
    large = rng.standard_normal((16, 8192))
    pooled, (first, second) = assess_layers([small, large])
    assert 1 / pooled.alpha == pytest.approx((1 / first.alpha + 1 / second.alpha) / 2)
    assert pooled.entries == 256 + 8192
    assert first.alpha == pytest.approx(per_entry_tail_index(small), rel=1e-12)
    assert second.alpha == pytest.approx(per_entry_tail_index(large), rel=1e-12)
    assert assess_heavy_tails([small, large]) == pooled


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"level": 0.0}, r"Argument `level` must be in \(0, 1\). Received: level=0.0"),
        (
            {"margin": -1.0},
            r"^Argument `margin` must be a finite non-negative number. Received: margin=-1.0$",
        ),
        ({"margin": math.inf}, "Argument `margin` must be a finite non-negative number"),
        (
            {"null_replicates": 1},
            r"^Argument `null_replicates` must be an integer >= 2. Received: null_replicates=1$",
        ),
        ({"block_size": 1}, "Argument `block_size`"),
    ],
)
def test_bad_arguments_fail_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        assess_heavy_tails(np.random.default_rng(0).standard_normal((16, 10)), **kwargs)


def test_layers_must_share_their_draws():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="same number of draws for every layer"):
        assess_layers([rng.standard_normal((16, 10)), rng.standard_normal((8, 10))])


def test_the_null_keeps_the_zeros_of_inactive_units():
    # Gradients exactly zero on the mini-batches where a unit is inactive make
    # a zero-inflated law of finite variance; the null has the same zeros,
    # so the zeros alone do not make it heavy-tailed.
    rng = np.random.default_rng(7)
    draws = (0.3 + rng.standard_normal((32, 4096))) * _scales(rng, 4096)
    draws[rng.random(draws.shape) < 0.4] = 0.0
    result = assess_heavy_tails(draws)
    assert result.verdict == "not heavy-tailed"
    assert result.interval[0] <= result.null_alpha <= result.interval[1]
    stable = stats.levy_stable.rvs(1.5, 0.0, size=(32, 4096), random_state=rng)
    stable[rng.random(stable.shape) < 0.4] = 0.0
    heavy = assess_heavy_tails(stable)
    assert heavy.verdict == "heavy-tailed" and heavy.null_band[0] > 1.8


@pytest.mark.parametrize("alpha", [1.2, 1.6, 2.0])
def test_sample_tail_index_covers_the_true_index(alpha):
    # 40 samples of 4096 entries; a 95% interval misses the truth in at most 8 of them except with
    # probability ~1e-3 (binomial), and the estimator is unbiased in 1/alpha for stable laws
    rng = np.random.default_rng(int(alpha * 10))
    hits, estimates = 0, []
    for _ in range(40):
        values = stats.levy_stable.rvs(alpha, 0.0, size=4096, random_state=rng) * 3.0  # any scale
        estimate, (low, high) = sample_tail_index(values, seed=int(rng.integers(1 << 30)))
        hits += low <= alpha <= high
        estimates.append(1.0 / estimate)
    assert hits >= 32
    assert abs(np.mean(estimates) - 1.0 / alpha) < 4 * np.std(estimates) / math.sqrt(40)


def test_sample_tail_index_needs_enough_nonzero_samples():
    assert math.isnan(sample_tail_index(np.r_[np.ones(63), np.zeros(1000)])[0])
    estimate, (low, high) = sample_tail_index(np.random.default_rng(0).standard_normal(64))
    assert not math.isnan(estimate) and low < high  # two groups of two blocks: estimated, loosely
    with pytest.raises(ValueError, match="Argument `block_size`"):
        sample_tail_index(np.ones(100), block_size=1)
