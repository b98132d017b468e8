"""Side-by-side training (`stacked_dense.py`), the regime map and `--side-by-side`.

The networks train in JAX whatever the Keras backend (Keras only draws the
kernels), so these run once, on the default backend.
"""

import json
import zlib

import jax.numpy as jnp
import keras
import numpy as np
import pytest
from data_files import write_mnist_pickle

from fracinit_experiments import flags
from fracinit_experiments import mnist
from fracinit_experiments import protocol
from fracinit_experiments import regime_map
from fracinit_experiments import regime_map_report
from fracinit_experiments import stacked_dense
from keras_fracinit import theory

pytestmark = pytest.mark.backend_independent


def _data(n_train=64, n_test=32, dim=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_train + n_test, dim)).astype("float32")
    y = rng.integers(0, 10, n_train + n_test).astype("int32")
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def _normal_drawer(scale=1.0):
    def draw_kernel(scheme, seed):
        # crc32, not hash(): str hashes change from one interpreter to the next
        rng = np.random.default_rng([zlib.crc32(scheme.encode()) % 1000, seed])
        return lambda k, fan_in, fan_out: rng.normal(0, scale * np.sqrt(2 / fan_in), (fan_in, fan_out))

    return draw_kernel


def _slice(params, g, j):
    """Network (g, j) of stacked params, as params of a 1 x 1 stack."""
    return {
        key: tuple(
            np.asarray(w)[:, g : g + 1, j : j + 1] if key == "middle" else np.asarray(w)[g : g + 1, j : j + 1]
            for w in value
        )
        for key, value in params.items()
    }


def _train(params, data, seeds, epochs=2, batch_size=16, activation="relu"):
    history = []
    final = stacked_dense.train(
        params,
        data,
        seeds=seeds,
        epochs=epochs,
        batch_size=batch_size,
        lr=0.05,
        activation=activation,
        on_epoch=lambda epoch, p, metrics: history.append(metrics),
    )
    return final, history


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "linear"])
def test_side_by_side_equals_each_network_alone(activation):
    data = _data()
    dims = stacked_dense.layer_dims(12, 6, 5, 10)
    params = stacked_dense.init_params(_normal_drawer(), schemes=["a", "b"], seeds=[0, 3], dims=dims)
    together, history = _train(params, data, seeds=[0, 3], activation=activation)
    for g in range(2):
        for j, seed in enumerate([0, 3]):
            alone, alone_history = _train(_slice(params, g, j), data, seeds=[seed], activation=activation)
            for key in together:
                for w_together, w_alone in zip(_slice(together, g, j)[key], alone[key]):
                    np.testing.assert_allclose(w_together, w_alone, rtol=1e-5, atol=1e-6)
            for epoch, epoch_alone in zip(history, alone_history):
                for metric in flags.METRICS:
                    np.testing.assert_allclose(epoch[metric][g, j], epoch_alone[metric][0, 0], rtol=1e-5)


def test_one_step_matches_keras_sgd_on_the_same_batch():
    """Same kernels as the Keras model of `protocol.dense_stack`, and one
    SGD step on one batch moves every weight as Keras' `train_on_batch` does."""
    (x_train, y_train), test = _data(n_train=16)
    args = mnist.build_parser().parse_args(["--depth", "4", "--width", "6", "--activation", "relu"])
    args.lr = 0.05
    from fracinit_experiments import side_by_side

    dims = stacked_dense.layer_dims(12, 6, 4, 10)
    drawer = side_by_side.kernel_drawer(args.activation, 0.8, 4)
    params = stacked_dense.init_params(drawer, schemes=["fractional"], seeds=[7], dims=dims)

    inputs = keras.Input((12,))
    model = keras.Model(
        inputs,
        protocol.dense_stack(inputs, inputs_dim=12, classes=10, init="fractional", args=args, seed=7),
    )
    kernels = [layer.kernel for layer in model.layers[1:]]
    stacked_kernels = (
        [params["first"][0][0, 0]] + list(params["middle"][0][:, 0, 0]) + [params["last"][0][0, 0]]
    )
    for kernel, stacked in zip(kernels, stacked_kernels):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(kernel), np.asarray(stacked))

    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.train_on_batch(x_train, y_train)
    batches = jnp.asarray(np.arange(16)[None, None, :])
    stepped, _, _ = stacked_dense.train_epoch(
        params, jnp.asarray(x_train), jnp.asarray(y_train), batches, 0.05, activation="relu"
    )
    stacked_kernels = (
        [stepped["first"][0][0, 0]] + list(stepped["middle"][0][:, 0, 0]) + [stepped["last"][0][0, 0]]
    )
    for kernel, stacked in zip(kernels, stacked_kernels):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(kernel), np.asarray(stacked), rtol=1e-4, atol=1e-6
        )


def test_epoch_batches_are_per_seed_permutations():
    batches = stacked_dense.epoch_batches(50, 8, seeds=[0, 1], epoch=2)
    assert batches.shape == (6, 2, 8)  # the last partial batch is dropped
    for j in range(2):
        assert len(set(batches[:, j].ravel())) == 48
    assert not np.array_equal(batches[:, 0], batches[:, 1])
    np.testing.assert_array_equal(batches, stacked_dense.epoch_batches(50, 8, seeds=[0, 1], epoch=2))


def test_init_statistics_follow_the_norms():
    dims = stacked_dense.layer_dims(12, 6, 5, 10)
    params = stacked_dense.init_params(_normal_drawer(), schemes=["a"], seeds=[0], dims=dims)
    x = _data()[0][0]
    median, mean, zero = stacked_dense.init_statistics(params, x, "linear")
    h = x @ params["first"][0][0, 0]
    first = np.linalg.norm(h, axis=1)
    for kernel in params["middle"][0][:, 0, 0]:
        h = h @ np.asarray(kernel)
    log_ratio = np.log(np.linalg.norm(h, axis=1) / first)
    # Both sides are float32 sums in different orders: the logs of O(1) norm ratios agree to
    # about 10 float32 ulps (1.2e-6) whatever their size, so a mean near 0 needs that atol too.
    np.testing.assert_allclose(median[0, 0], np.median(log_ratio), rtol=1e-4, atol=1.2e-6)
    np.testing.assert_allclose(mean[0, 0], np.mean(log_ratio), rtol=1e-4, atol=1.2e-6)
    assert not zero[0, 0]
    dead = {key: tuple(np.asarray(w) * (key != "first") for w in value) for key, value in params.items()}
    _, mean, zero = stacked_dense.init_statistics(dead, x, "relu")
    assert zero[0, 0] and mean[0, 0] == -np.inf


SWEEP = [
    "--widths",
    "4",
    "--depths",
    "3,5",
    "--s",
    "0.5",
    "--seeds",
    "3",
    "--epochs",
    "2",
    "--batch-size",
    "32",
]
SWEEP += ["--small-batch", "8", "--small-batch-widths", "4", "--small-batch-depths", "3"]


def _sweep(tmp_path, out, extra=()):
    data = tmp_path / "data"
    if not data.exists():
        write_mnist_pickle(data, sizes=(80, 16, 40))
    argv = ["--dataset", "mnist", "--data-dir", str(data), "--out", str(out), *SWEEP, *extra]
    return regime_map.main(argv)


def test_regime_map_writes_one_record_per_cell_scheme_and_seed(tmp_path):
    results = _sweep(tmp_path, tmp_path / "out")
    assert len(results["cells"]) == 3  # 2 depths at batch 32, one cell at batch 8
    for cell in results["cells"].values():
        assert len(cell["records"]) == 2 * 3
        for record in cell["records"]:
            assert len(record["epochs"]) == 2
            s = 2.0 if record["scheme"] == "he" else 0.5
            expected = theory.log_norm_limit(s, "relu", width=record["width"], depth=record["depth"] - 2).mean
            assert record["init"]["predicted_log_ratio"] == pytest.approx(expected)
    out = tmp_path / "out"
    for figure in ("heatmaps.png", "log_norm.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
    summary = (out / "summary.md").read_text()
    assert summary.count("| s=0.5 |") == 3 and "differs" in summary
    assert json.loads((out / "regime_map.json").read_text())["cells"] == json.loads(
        json.dumps(results["cells"])
    )


def test_regime_map_resumes_where_it_stopped(tmp_path, monkeypatch):
    reference = _sweep(tmp_path, tmp_path / "whole")
    calls = {"epochs": 0}
    original = regime_map.Progress.advance

    def stop_after_three_epochs(self, cell):
        original(self, cell)
        calls["epochs"] += 1
        if calls["epochs"] == 3:  # in the middle of the second cell
            raise KeyboardInterrupt

    monkeypatch.setattr(regime_map.Progress, "advance", stop_after_three_epochs)
    with pytest.raises(KeyboardInterrupt):
        _sweep(tmp_path, tmp_path / "stopped")
    monkeypatch.setattr(regime_map.Progress, "advance", original)
    resumed = _sweep(tmp_path, tmp_path / "stopped")
    assert resumed["cells"].keys() == reference["cells"].keys()
    for key, cell in reference["cells"].items():
        assert resumed["cells"][key]["records"] == cell["records"]
    with pytest.raises(SystemExit):  # other settings in the same folder
        _sweep(tmp_path, tmp_path / "stopped", extra=["--lr", "0.02"])


def test_report_marks_significant_differences():
    def records(scheme, accuracies):
        return [
            {"scheme": scheme, "epochs": [{"test_accuracy": a}], "init": {"median_log_ratio": 0.0}}
            for a in accuracies
        ]

    he = records("he", [0.50, 0.52, 0.48, 0.51, 0.49])
    better = records("s=0.5", [0.70, 0.71, 0.69, 0.72, 0.70])
    same = records("s=1", [0.51, 0.51, 0.49, 0.50, 0.50])
    mean, sd, p, d = regime_map_report.paired(he, better)
    assert mean == pytest.approx(0.204) and p < 1e-4 and d > 10
    found = regime_map_report.significant_cells(
        {(8, 50, 128, 0.01): {"he": he, "s=0.5": better, "s=1": same}}
    )
    assert [(row[0], row[1]) for row in found] == [((8, 50, 128, 0.01), "s=0.5")]


def _grid_results(accuracies):
    """A regime-map results dict from `{(lr, scheme): [final accuracy per seed]}`, one cell."""
    cells = {}
    for (lr, scheme), values in accuracies.items():
        records = cells.setdefault(f"lr{lr}", {"records": [], "seconds": 1.0, "backend": "jax"})["records"]
        records += [
            {
                "width": 8,
                "depth": 50,
                "batch_size": 128,
                "lr": lr,
                "scheme": scheme,
                "seed": seed,
                "epochs": [{"test_accuracy": a}],
                "init": {"median_log_ratio": 0.0, "predicted_log_ratio": 0.0, "zero_output": False},
            }
            for seed, a in enumerate(values)
        ]
    config = {"dataset": "mnist", "lr": sorted({lr for lr, _ in accuracies}), "s": [0.5]}
    config.update(batch_size=128, seeds=5, epochs=1, widths=[8], depths=[50], activation="relu")
    return {"config": config, "cells": cells}


def test_learning_rate_table_pairs_by_seed_at_each_lr_and_at_each_schemes_best():
    results = _grid_results(
        {
            (0.01, "he"): [0.50, 0.52, 0.48, 0.51, 0.49],
            (0.01, "s=0.5"): [0.70, 0.71, 0.69, 0.72, 0.70],  # better at 0.01 ...
            (0.03, "he"): [0.80, 0.82, 0.79, 0.81, 0.80],  # ... but He is best at 0.03
            (0.03, "s=0.5"): [0.60, 0.61, 0.62, 0.60, 0.61],
        }
    )
    table = regime_map_report.learning_rate_markdown(results)
    row = next(line for line in table.splitlines() if "| s=0.5 |" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4].startswith("**+0.204") and cells[5].startswith("**-0.196")
    assert cells[6] == "0.804 (0.03)" and cells[7] == "0.704 (0.01)"
    assert cells[8].startswith("-0.100 (p ")
    docs = regime_map_report.docs_markdown(results)
    assert "| 8 | 50 | 128 | 0.03 |" in docs and "He at its best lr" in docs


def test_report_writes_its_tables_between_the_named_markers_of_a_page(tmp_path):
    results = _grid_results({(0.01, "he"): [0.5, 0.6, 0.1], (0.01, "s=0.5"): [0.6, 0.6, 0.5]})
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "regime_map.json").write_text(json.dumps(results))
    page = tmp_path / "docs" / "results.md"
    page.parent.mkdir()
    page.write_text("intro\n<!-- grid:begin -->\nold\n<!-- grid:end -->\nend\n")
    regime_map_report.main([str(sweep), str(page), "--name", "grid"])
    text = page.read_text()
    assert "old" not in text and text.startswith("intro\n<!-- grid:begin -->\n| width |")
    assert "| 8 | 50 | 128 | 0.400 (2/3) | 0.567 (3/3) +0.167 |" in text and text.endswith("end\n")
    for name in ("heatmaps.png", "log_norm.png", "summary.md", "regime_map.json"):
        assert (page.parent / "results" / "grid" / name).exists()
    with pytest.raises(SystemExit, match="results.md has no section markers for .regime_map_mnist."):
        regime_map_report.main([str(sweep), str(page)])


def test_mnist_side_by_side_trains_every_init_and_resumes(tmp_path, capsys):
    write_mnist_pickle(tmp_path / "data", sizes=(60, 20, 30))
    argv = ["--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--side-by-side"]
    argv += [
        "--inits",
        "he,fractional,glorot,random_walk",
        "--depth",
        "4",
        "--width",
        "8",
        "--seeds",
        "2",
        "--batch-size",
        "16",
    ]
    rows = mnist.main([*argv, "--epochs", "1", "--out", str(tmp_path / "a")])
    assert len(rows) == 4 * 2
    assert "random_walk" in capsys.readouterr().out
    # a second run with more epochs goes on from the checkpoint
    more = mnist.main([*argv, "--epochs", "2", "--out", str(tmp_path / "a")])
    whole = mnist.main([*argv, "--epochs", "2", "--out", str(tmp_path / "b")])
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in more]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in whole]
    assert (tmp_path / "b" / "summary.md").exists()
    with pytest.raises(SystemExit):  # a checkpoint resumes only the run that wrote it
        mnist.main([*argv, "--epochs", "3", "--lr", "0.02", "--out", str(tmp_path / "a")])


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--activation", "relu"], (20, 0.01)),
        (["--activation", "leaky_relu"], (20, 0.01)),
        (["--activation", "linear"], (30, 0.001)),
        (["--activation", "linear", "--depth", "5", "--lr", "0.1"], (5, 0.1)),
    ],
)
def test_mnist_example_takes_the_authors_depth_and_lr_per_activation(flags, expected):
    args = mnist.apply_protocol_defaults(mnist.build_parser().parse_args(flags))
    assert (args.depth, args.lr) == expected
