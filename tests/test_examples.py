"""The standalone examples run end to end, as a reader would run them."""

import csv

import numpy as np
from data_files import write_mnist_idx
from helpers import run_example


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
        for key in ("s_moment_ratio/dense_1", "kernel_s_moment/dense_3", "tail_index/dense_2"):
            assert np.isfinite(float(rows[-1][key])), key
        assert list((out / "tensorboard" / init).glob("events.out.tfevents.*"))
    printed = capsys.readouterr().out
    assert "suggest_s at initialization (16 batches): s = " in printed and "before training: mean" in printed
    assert "per layer: " in printed and "suggest_s after 2 epochs (he): s = " in printed
