"""`fracinit_experiments.heavy_tailed`: Holm's correction, per-kernel pruning and the preregistered tests."""

import numpy as np
import pytest
from scipy import stats

from fracinit_experiments import heavy_tailed

pytestmark = pytest.mark.backend_independent


def test_holm_matches_the_step_down_rule_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005 (x4), 0.01 (x3), 0.03 (x2), 0.04 (x1), running maximum
    np.testing.assert_allclose(heavy_tailed.holm(p), [0.03, 0.06, 0.06, 0.02])
    assert heavy_tailed.holm([0.9, 0.8]).max() == 1.0


def test_prune_zeroes_the_smallest_entries_of_each_kernel_alone():
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((2, 3, 10, 8))  # (schemes, seeds, fan_in, fan_out)
    kernel[0, 0] *= 100.0  # one network's scale must not move another's threshold
    params = {
        "first": (kernel, np.ones((2, 3, 8))),
        "middle": (rng.standard_normal((4, 2, 3, 8, 8)), np.ones((4, 2, 3, 8))),
    }
    pruned = heavy_tailed.prune(params, 0.9)
    for key, (before, bias) in params.items():
        after, kept_bias = pruned[key]
        np.testing.assert_array_equal(kept_bias, bias)
        flat_before = before.reshape(*before.shape[:-2], -1)
        flat_after = after.reshape(*after.shape[:-2], -1)
        zeros = (flat_after == 0).sum(axis=-1)
        assert np.all(zeros == round(0.9 * flat_before.shape[-1]))
        # the survivors are the largest magnitudes, untouched
        largest = np.sort(np.abs(flat_before), axis=-1)[..., -(flat_before.shape[-1] - zeros.flat[0]) :]
        np.testing.assert_array_equal(np.sort(np.abs(flat_after), axis=-1)[..., zeros.flat[0] :], largest)


def _rows(inits, seeds, epochs, rng):
    return [
        {
            "init": init,
            "seed": seed,
            "epoch": epoch,
            "train_loss": rng.random() + (init == "stable_1.5"),
            "test_accuracy": 0.9 - 0.2 * (init == "stable_1.5") + 0.01 * rng.standard_normal(),
        }
        for init in inits
        for seed in reversed(range(seeds))  # pairing goes by seed, not by order
        for epoch in range(1, epochs + 1)
    ]


def test_comparisons_pair_by_seed_and_correct_each_family():
    rng = np.random.default_rng(1)
    inits, seeds = ["he", "fractional", "stable_1.5", "stable_1.8"], 8
    rows = _rows(inits, seeds, 30, rng)
    accuracy = {q: rng.random((4, seeds)).tolist() for q in (0.0, *heavy_tailed.SPARSITIES)}
    noise = {
        init: [{"alpha": 1.5 + rng.random(), "verdict": "inconclusive", "s": 2.0} for _ in range(seeds)]
        for init in inits
    }
    noise_at_init = {init: [dict(n) for n in noise[init]] for init in inits}
    noise_at_init["stable_1.5"][0] = {
        "alpha": float("nan"),
        "verdict": "no gradient noise",
        "s": float("nan"),
    }
    measured = {
        "config": {"dataset": "mnist", "epochs": 30, "inits": inits, "seeds": seeds},
        "pruned_accuracy": {str(q): v for q, v in accuracy.items()},  # as JSON gives them back
        "noise_at_init": noise_at_init,
        "noise_trained": noise,
    }
    found = heavy_tailed.comparisons([(rows, measured)])
    families = {
        family: [r for r in found if r["family"] == family] for family in {r["family"] for r in found}
    }
    assert {k: len(v) for k, v in families.items()} == {
        "performance": 6,
        "compressibility": 9,
        "gradient noise": 6,
    }
    row = next(r for r in found if r["scheme"] == "stable_1.5" and r["endpoint"] == "test_accuracy epoch 30")
    ours = heavy_tailed._by_seed(rows, "stable_1.5", 30, "test_accuracy")
    theirs = heavy_tailed._by_seed(rows, "he", 30, "test_accuracy")
    assert row["p_t"] == pytest.approx(stats.ttest_rel(ours, theirs).pvalue)
    assert row["reject"]  # a 0.2 gap over 8 seeds with sd 0.014
    for members in families.values():
        np.testing.assert_allclose(
            [r["p_holm"] for r in members], heavy_tailed.holm([r["p"] for r in members])
        )
    drop = next(r for r in found if r["scheme"] == "fractional" and r["endpoint"] == "drop at 90%")
    a = np.asarray(accuracy[0.0]) - np.asarray(accuracy[0.9])
    assert drop["difference"][0] == pytest.approx(np.mean(a[1] - a[0]))
    # a network without gradient noise has no tail index: its seed leaves the paired test
    endpoints = {
        r["endpoint"] for r in found if r["scheme"] == "stable_1.5" and r["family"] == "gradient noise"
    }
    assert endpoints == {"tail index at initialization (7 pairs)", "tail index after training (8 pairs)"}
    text, _ = heavy_tailed.report([(rows, measured)])
    assert "Holm over the 9 tests" in text and "| mnist | stable_1.5 |" in text
