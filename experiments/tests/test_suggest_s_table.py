"""`examples/suggest_s_table.py`: suggest_s on a regime-map sweep's He networks."""

import json

import numpy as np
import pytest
from data_files import write_mnist_pickle

from fracinit_experiments import regime_map
from fracinit_experiments import regime_map_report
from fracinit_experiments import side_by_side
from fracinit_experiments import stacked_dense
from fracinit_experiments import suggest_s_table
from keras_fracinit.tails.assessment import VERDICTS

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_he_network_is_the_network_the_sweep_trained(activation):
    width, depth, seed = 6, 5, 2
    draw = side_by_side.kernel_drawer(activation, 2.0, depth)
    dims = stacked_dense.layer_dims(20, width, depth, 10)
    params = stacked_dense.init_params(
        lambda scheme, s: draw("fractional", s), schemes=["he"], seeds=[0, seed], dims=dims
    )
    x = np.random.default_rng(0).normal(size=(7, 20)).astype("float32")
    expected = np.asarray(stacked_dense.logits(params, x, activation))[0, 1]
    model = suggest_s_table.he_network(width, depth, activation, seed, inputs_dim=20)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-6)


def test_nearest_scheme_rounds_to_the_closest_s_trained():
    schemes = [("he", 2.0), ("s=0.5", 0.5), ("s=1", 1.0), ("s=1.5", 1.5)]
    assert suggest_s_table.nearest_scheme(1.9, schemes)[0] == "he"
    assert suggest_s_table.nearest_scheme(0.1, schemes)[0] == "s=0.5"
    assert suggest_s_table.nearest_scheme(1.2, schemes)[0] == "s=1"


def test_table_reads_each_seeds_accuracy_under_the_suggested_s(tmp_path):
    write_mnist_pickle(tmp_path / "data", sizes=(256, 16, 40))
    sweep = tmp_path / "sweep"
    argv = ["--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--out", str(sweep)]
    argv += ["--widths", "4", "--depths", "3", "--s", "0.5,1", "--seeds", "3", "--epochs", "1"]
    results = regime_map.main([*argv, "--batch-size", "16", "--small-batch", "0"])
    page = tmp_path / "results.md"
    page.write_text("<!-- suggest_s_mnist:begin -->\n<!-- suggest_s_mnist:end -->\n")
    (row,) = suggest_s_table.main([str(sweep), "--cells", "4x3", "--batches", "16", "--page", str(page)])
    per_scheme = regime_map_report.by_cell(results)[(4, 3, 16, 0.01)]
    assert len(row["suggested_s"]) == 3 and all(0 < s <= 2 for s in row["suggested_s"])
    assert set(row["verdicts"]) <= set(VERDICTS) and len(row["null_alpha"]) == 3
    for s, alpha, verdict in zip(row["suggested_s"], row["alpha"], row["verdicts"]):
        assert s == (min(alpha, 2.0) if verdict == "heavy-tailed" else 2.0)
    for seed, (name, accuracy) in enumerate(zip(row["chosen"], row["accuracy_chosen"])):
        assert (
            name
            == suggest_s_table.nearest_scheme(
                row["suggested_s"][seed], [("he", 2.0), ("s=0.5", 0.5), ("s=1", 1.0)]
            )[0]
        )
        assert accuracy == per_scheme[name][seed]["epochs"][-1]["test_accuracy"]
    best = max(per_scheme, key=lambda name: regime_map_report.final_accuracy(per_scheme[name]).mean())
    assert row["best"] == best
    assert row["difference"] == pytest.approx(np.mean(row["accuracy_chosen"]) - np.mean(row["accuracy_best"]))
    assert json.loads((sweep / "suggest_s.json").read_text())["rows"] == [row]
    assert "| 4 | 3 | 16 | 0.01 |" in page.read_text()
