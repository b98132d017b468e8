"""The paper's protocol (`mnist`, `cifar10`, `protocol`) runs end to end through its real loading paths."""

import csv
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from data_files import write_mnist_idx
from data_files import write_mnist_pickle

from fracinit_experiments import cifar10
from fracinit_experiments import mnist
from fracinit_experiments import protocol

TINY = ["--depth", "3", "--width", "8", "--epochs", "1", "--seeds", "2", "--verbose", "0"]


def _check_outputs(out, inits, seeds=2, epochs=1, monitored=True):
    payload = json.loads((out / "metrics.json").read_text())
    assert len(payload["rows"]) == len(inits) * seeds * epochs
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["init"] for r in rows} == set(inits)
    for row in rows:
        for metric in protocol.METRICS:
            assert np.isfinite(float(row[metric]))
        assert 0.0 <= float(row["test_accuracy"]) <= 1.0
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert payload["config"]["s"] is not None
    for init in inits:
        for seed in range(seeds):
            run = [r for r in rows if r["init"] == init and int(r["seed"]) == seed]
            assert [int(r["epoch"]) for r in run] == list(range(1, epochs + 1))
            assert all(float(r["seconds"]) > 0 for r in run)
            if epochs > 1:  # each epoch timed on its own, not the run's mean repeated
                assert len({r["seconds"] for r in run}) > 1
    assert "test acc. epoch 1" in (out / "summary.md").read_text()
    assert bool(list(out.glob("monitor_*"))) == monitored
    for init in inits if monitored else ():  # the monitor rides along the first seed
        assert (out / f"monitor_{init}.png").read_bytes()[:4] == b"\x89PNG"
        monitor = json.loads((out / f"monitor_{init}.json").read_text())
        assert monitor["epochs"] == list(range(1, epochs + 1))  # epochs trained, as in metrics.csv
        assert sorted(monitor["initial"]) == sorted(monitor["history"])
        assert np.isfinite(monitor["history"]["s_moment_ratio/dense_1"]).all()


def test_mnist_example_from_idx_files(tmp_path, capsys):
    data = tmp_path / "data"
    write_mnist_idx(data)
    inits = ["he", "glorot", "fractional", "random_walk"]
    rows = mnist.main(
        TINY + ["--data-dir", str(data), "--inits", ",".join(inits), "--out", str(tmp_path / "out")]
    )
    assert len(rows) == 8
    _check_outputs(tmp_path / "out", inits)
    out = capsys.readouterr().out
    assert "mean ± sd over 2 seeds" in out
    assert "init=he seed=0 (run 1 of 2)" in out and "init=he seed=1 (run 2 of 2)" in out
    assert "monitor_random_walk.png, monitor_random_walk.json" in out.splitlines()[-1]


def test_mnist_example_reads_the_classic_pickle(tmp_path):
    write_mnist_pickle(tmp_path / "data", sizes=(60, 20, 30))
    rows = mnist.main(
        [
            "--depth",
            "3",
            "--width",
            "8",
            "--epochs",
            "2",
            "--seeds",
            "1",
            "--verbose",
            "0",
            "--dataset",
            "mnist",
            "--data-dir",
            str(tmp_path / "data"),
            "--inits",
            "fractional",
            "--no-monitor",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    _check_outputs(tmp_path / "out", ["fractional"], seeds=1, epochs=2, monitored=False)
    assert len(rows) == 2


def test_mnist_example_from_npz_with_leaky_relu_and_logit_quirk(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "data").mkdir()
    np.savez(
        tmp_path / "data" / "mnist.npz",
        x_train=rng.integers(0, 256, (64, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, 64),
        x_test=rng.integers(0, 256, (16, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, 16),
    )
    mnist.main(
        TINY
        + [
            "--data-dir",
            str(tmp_path / "data"),
            "--activation",
            "leaky_relu",
            "--logit-activation",
            "--inits",
            "fractional",
            "--no-monitor",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    _check_outputs(tmp_path / "out", ["fractional"], monitored=False)
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["config"]["logit_activation"]


@pytest.mark.parametrize("quirk", [False, True])
def test_the_logits_get_the_activation_only_with_the_authors_quirk(quirk):
    # The authors' code applies the hidden activation to the logits too;
    # by default the logit layer is linear (and drawn for a linear layer).
    args = mnist.build_parser().parse_args(["--activation", "leaky_relu", "--depth", "3", "--width", "8"])
    args.logit_activation = quirk
    inputs = protocol.keras.Input((20,))
    model = protocol.keras.Model(
        inputs,
        protocol.dense_stack(inputs, inputs_dim=20, classes=10, init="fractional", args=args, seed=0),
    )
    logits = model.get_layer("dense_3")
    if quirk:
        assert isinstance(logits.activation, protocol.keras.layers.LeakyReLU)
    else:
        assert logits.activation is protocol.keras.activations.linear
    assert isinstance(model.get_layer("dense_2").activation, protocol.keras.layers.LeakyReLU)


@pytest.mark.backend_independent
def test_fashion_mnist_through_keras_datasets_cache(tmp_path):
    # The real keras.datasets loader, offline: files copied into KERAS_HOME.
    write_mnist_idx(tmp_path / "keras_home" / "datasets" / "fashion-mnist")
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras_home"), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fracinit_experiments.mnist",
            "--dataset",
            "fashion_mnist",
            "--inits",
            "fractional",
            "--out",
            str(tmp_path / "out"),
        ]
        + TINY,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    _check_outputs(tmp_path / "out", ["fractional"])


def test_missing_data_stops_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        mnist.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "IDX" in err
    assert not (tmp_path / "out").exists()


def test_bad_inits_flag(tmp_path, capsys):
    with pytest.raises(SystemExit):
        mnist.main(["--inits", "he,lsuv", "--data-dir", str(tmp_path)])
    assert (
        "argument --inits: expected one of he, glorot, fractional, random_walk, stable_1.5, "
        "stable_1.8; got 'lsuv'" in (capsys.readouterr().err)
    )


def _write_cifar_batches(directory, per_batch=16, test=16):
    rng = np.random.default_rng(2)
    directory.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = test if name == "test_batch" else per_batch
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, n).tolist(),
        }
        with open(directory / name, "wb") as handle:
            pickle.dump(batch, handle)
    return directory


def test_cifar_example_from_python_batches(tmp_path):
    data = _write_cifar_batches(tmp_path / "cifar-10-batches-py")
    rows = cifar10.main(
        TINY
        + [
            "--data-dir",
            str(data),
            "--inits",
            "he,fractional",
            "--batch-size",
            "32",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert len(rows) == 4
    _check_outputs(tmp_path / "out", ["he", "fractional"])


def test_cifar_missing_data_stops_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cifar10.main(["--data-dir", str(tmp_path)])
    assert info.value.code == 2
    assert "data_batch_1..5" in capsys.readouterr().err


@pytest.mark.backend_independent
def test_protocol_pieces():
    # Sussillo & Abbott's random-walk scale and the learning-rate drop
    assert protocol.random_walk_stddev(64, "linear") == pytest.approx(np.exp(1 / 128) / 8)
    assert protocol.random_walk_stddev(64, "relu") == pytest.approx(np.sqrt(2) * np.exp(1.2 / 61.6) / 8)
    schedule = cifar10.step_decay(0.01)
    assert schedule(29, None) == 0.01 and schedule(30, None) == pytest.approx(0.001)
