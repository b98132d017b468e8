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
    args = ["--depth", "3", "--width", "8", "--epochs", "2", "--seeds", "3", "--out", str(tmp_path / "out")]
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
    assert all(len(runs) == 3 and len(runs[0]["loss"]) == 2 for runs in histories.values())
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
    write_mnist_idx(data, train=256)  # suggest_s: 16 mini-batches of 16
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
