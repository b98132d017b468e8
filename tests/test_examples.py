"""The standalone examples run end to end, as a reader would run them."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from data_files import write_mnist_idx
from helpers import EXAMPLES
from helpers import run_example
from helpers import run_without_keras
from scipy import stats

SCRIPTS = sorted(path.name for path in EXAMPLES.glob("*.py"))
BACKENDS = {"keras", "tensorflow", "jax", "torch"}


@pytest.mark.backend_independent
def test_examples_answer_help_and_bad_flags_before_keras_starts():
    assert SCRIPTS == ["mnist_dense.py", "monitor_fashion_mnist.py"]
    cases = [[str(EXAMPLES / script), ["--help"]] for script in SCRIPTS] + [
        [str(EXAMPLES / script), args]
        for script in SCRIPTS
        for args in (["--s", "2.5"], ["--width", "-5"], ["--depth", "1"])
    ]
    expected = [None, None] + [
        "argument --s: must be in (0, 2]; got 2.5",
        "argument --width: must be an integer >= 1; got '-5'",
        "argument --depth: must be an integer >= 2; got '1'",
    ] * len(SCRIPTS)
    for (command, args), message, (code, last_line, heavy) in zip(cases, expected, run_without_keras(cases)):
        assert code == (0 if message is None else 2), (command, args, last_line)
        assert message is None or last_line.endswith(message), (command, last_line)
        assert not BACKENDS & set(heavy), (command, heavy)


@pytest.mark.backend_independent
def test_the_main_job_reads_keras_datasets_and_pairs_the_inits_by_seed(tmp_path):
    # The keras.datasets path, offline: the files copied into KERAS_HOME's cache.
    write_mnist_idx(tmp_path / "keras_home" / "datasets" / "fashion-mnist")
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras_home"), TF_CPP_MIN_LOG_LEVEL="3")
    args = ["--depth", "3", "--width", "8", "--epochs", "2", "--seeds", "2", "--out", str(tmp_path / "out")]
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "mnist_dense.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads((tmp_path / "out" / "metrics.json").read_text())
    histories = payload["histories"]
    assert list(histories) == ["he", "fractional", "glorot"] and payload["config"]["s"] == 0.8
    final = {init: np.array([run["val_accuracy"][-1] for run in runs]) for init, runs in histories.items()}
    assert all(len(runs) == 2 and len(runs[0]["loss"]) == 2 for runs in histories.values())
    # The printed table: mean ± sd over seeds, and glorot - he paired by seed (scipy's paired t-test).
    rows = {
        line.split(" | ")[0][2:]: line.split(" | ") for line in result.stdout.splitlines() if "| " in line
    }
    assert rows["he"][1] == f"{final['he'].mean():.4f} ± {final['he'].std(ddof=1):.4f}"
    difference = final["glorot"] - final["he"]
    assert rows["glorot"][2] == f"{difference.mean():+.4f} ± {difference.std(ddof=1):.4f}"
    p = stats.ttest_rel(final["glorot"], final["he"]).pvalue if difference.std() > 0 else "-"
    assert rows["glorot"][3] == (p if p == "-" else f"{p:.2g}") + " |"
    assert (tmp_path / "out" / "summary.md").read_text().count("\n| ") == 4
    assert (tmp_path / "out" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_monitor_example_writes_plots_csv_and_tensorboard(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    # suggest_s: 16 mini-batches of 16. Uniform bytes (mean pixel 127.5, which the loader
    # takes for Fashion-MNIST): the data this test's finite tail indices were checked on.
    write_mnist_idx(data, train=256, mean=127.5)
    out = tmp_path / "out"
    run_example(
        "monitor_fashion_mnist",
        [
            "--data-dir",
            str(data),
            "--depth",
            "3",
            "--width",
            "8",
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--noise-batches",
            "16",
            "--out",
            out,
        ],
        monkeypatch,
    )
    for init in ("fractional", "he"):
        assert (out / f"monitor_{init}.png").read_bytes()[:4] == b"\x89PNG"
        with open(out / f"{init}.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 2
        for key in ("s_moment_ratio/dense_1", "kernel_s_moment/logits", "tail_index/dense_2"):
            assert np.isfinite(float(rows[-1][key])), key
        assert list((out / "tensorboard" / init).glob("events.out.tfevents.*"))
    printed = capsys.readouterr().out
    assert "suggest_s at initialization (16 batches): s = " in printed and "before training: mean" in printed
    assert "per layer: " in printed and "suggest_s after 2 epochs (he): s = " in printed


@pytest.mark.backend_independent
def test_missing_or_mislabelled_data_stop_in_one_line_before_keras_starts(tmp_path):
    write_mnist_idx(tmp_path / "fashion")  # Fashion-MNIST-like images, as Debian installs them
    cases = [
        [str(EXAMPLES / script), ["--data-dir", str(tmp_path / "absent"), "--out", str(tmp_path)]]
        for script in SCRIPTS
    ] + [[str(EXAMPLES / "mnist_dense.py"), ["--dataset", "mnist", "--data-dir", str(tmp_path / "fashion")]]]
    (absent, absent_monitor, mislabelled) = run_without_keras(cases)
    for (code, _, heavy), script in zip((absent, absent_monitor), SCRIPTS):
        assert code == (
            f"{script}: no Fashion-MNIST in {tmp_path / 'absent'}: not a directory. Get it with: "
            "apt-get update && apt-get install -y dataset-fashion-mnist (it installs into "
            "/usr/share/datasets/fashion-mnist)"
        )
        assert not BACKENDS & set(heavy)
    assert mislabelled[0].startswith(f"mnist_dense.py: {tmp_path / 'fashion'} holds Fashion-MNIST, not MNIST")
    assert not BACKENDS & set(mislabelled[2])


def test_one_seed_runs_and_says_why_it_gives_no_statistics(tmp_path, capsys, monkeypatch):
    import matplotlib.figure

    titles, suptitle = [], matplotlib.figure.Figure.suptitle

    def recorded(figure, title, **kwargs):
        titles.append(title)
        return suptitle(figure, title, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "suptitle", recorded)
    write_mnist_idx(tmp_path / "data")
    out = tmp_path / "out"
    args = ["--data-dir", tmp_path / "data", "--depth", "3", "--width", "8", "--epochs", "1", "--seeds", "1"]
    run_example("mnist_dense", [*args, "--out", out], monkeypatch)
    assert titles == ["fashion_mnist: He, fractional (s = 0.8) and Glorot; one seed"]  # curves.png names both
    summary = (out / "summary.md").read_text()
    assert "one seed (fractional: s = 0.8)" in summary and "| init | test accuracy | minus He's |" in summary
    assert "no sd and no paired t-test" in summary and "±" not in summary
    histories = json.loads((out / "metrics.json").read_text())["histories"]
    accuracy = {init: runs[0]["val_accuracy"][-1] for init, runs in histories.items()}
    assert f"| glorot | {accuracy['glorot']:.4f} | {accuracy['glorot'] - accuracy['he']:+.4f} |" in summary
    assert summary in capsys.readouterr().out
