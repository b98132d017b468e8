"""`fracinit_experiments.protocol_report` and the paired statistics of `paper_protocol`."""

import json

import numpy as np
import pytest
from scipy import stats

from fracinit_experiments import protocol
from fracinit_experiments import protocol_report

pytestmark = pytest.mark.backend_independent

HE = {1: [0.50, 0.60, 0.55, 0.58], 2: [0.70, 0.72, 0.69, 0.75]}
FRACTIONAL = {1: [0.52, 0.61, 0.58, 0.58], 2: [0.69, 0.72, 0.70, 0.74]}


def _rows():
    rows = []
    for init, accuracy in (("he", HE), ("fractional", FRACTIONAL)):
        # seeds listed in reverse: pairing must go by seed, not by order
        for seed in reversed(range(4)):
            for epoch in (1, 2):
                rows.append(
                    {
                        "init": init,
                        "seed": seed,
                        "epoch": epoch,
                        "train_loss": 1.0 / epoch,
                        "train_accuracy": 0.5,
                        "test_loss": 1.0,
                        "test_accuracy": accuracy[epoch][seed],
                        "seconds": 10.0,
                    }
                )
    return rows


def test_paired_differences_match_the_t_statistic_by_hand():
    table = protocol.paired_differences(_rows(), [1, 2])
    assert list(table) == ["fractional"]
    for epoch in (1, 2):
        diff = np.subtract(FRACTIONAL[epoch], HE[epoch])
        t = diff.mean() / (diff.std(ddof=1) / np.sqrt(len(diff)))
        mean, sd, p = table["fractional"][epoch]
        assert mean == pytest.approx(diff.mean()) and sd == pytest.approx(diff.std(ddof=1))
        assert p == pytest.approx(2 * stats.t.sf(abs(t), len(diff) - 1))
    same = [dict(row, test_accuracy=0.5) for row in _rows()]
    assert protocol.paired_differences(same, [1])["fractional"][1] == (0.0, 0.0, 1.0)


def test_report_writes_both_tables_and_copies_the_run_without_its_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    config = {"inits": ["he", "fractional"], "seeds": 4, "epochs": 2, "activation": "relu", "s": 0.8}
    config.update(depth=20, width=64, side_by_side=True)
    (run / "metrics.json").write_text(json.dumps({"dataset": "mnist", "config": config, "rows": _rows()}))
    for name in ("metrics.csv", "curves.png", "summary.md", "checkpoint.npz"):
        (run / name).write_text(name)
    page = tmp_path / "docs" / "results.md"
    page.parent.mkdir()
    page.write_text("<!-- mnist_relu:begin -->\n<!-- mnist_relu:end -->\n")
    protocol_report.main([str(run), str(page), "--name", "mnist_relu"])
    text = page.read_text()
    assert "| he | 0.5575 ± 0.0435 | 0.7150 ± 0.0265 |" in text
    assert "| fractional | +0.0150 ± 0.0129 (p 0.1) | -0.0025 ± 0.0096 (p 0.64) |" in text
    assert "Median epoch: 10 s (all 8 networks side by side" in text
    copied = sorted(path.name for path in (page.parent / "results" / "mnist_relu").iterdir())
    assert copied == ["curves.png", "metrics.csv", "metrics.json", "summary.md"]
