"""Recorded outputs in README.md and docs/ have the shape the code prints today.

`python tools/refresh_docs.py` regenerates them; these tests fail when
a recorded output's lines, headers or columns no longer match what the code
prints (numbers aside), so that a change to an output cannot leave a stale
copy behind.
"""

import pathlib
import re

import pytest
from data_files import write_mnist_idx
from helpers import run_example

from keras_fracinit import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _section(page, name):
    text = (ROOT / page).read_text()
    return text.split(f"<!-- {name}:begin -->\n")[1].split(f"<!-- {name}:end -->")[0]


def _recorded_block(page, name):
    """The lines of the recorded output (the ```text block) in a marked section."""
    return _section(page, name).split("```text\n")[1].split("\n```")[0].splitlines()


def _shape(line):
    """The line with every number masked (values change from run to run; the layout must not).

    A table cell "-" stands for a p-value where the paired differences do
    not vary (tiny test data often trains identical networks), so it is a number too.
    """
    return re.sub(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", line).replace("| - |", "| # |")


def test_the_readme_gain_table_is_what_the_cli_prints(capsys):
    cli.main(["table", "--width", "64"])
    assert _section("README.md", "cli_table").strip() == "```\n" + capsys.readouterr().out + "```"


def test_the_fashion_mnist_example_prints_the_recorded_layout(tmp_path, capsys, monkeypatch):
    write_mnist_idx(tmp_path / "data")
    out = tmp_path / "out"
    args = ["--data-dir", str(tmp_path / "data"), "--out", str(out), "--depth", "3", "--width", "8"]
    run_example("mnist_dense", [*args, "--epochs", "3", "--seeds", "2"], monkeypatch)
    printed = capsys.readouterr().out.strip().replace(str(out), "runs/fashion_mnist").splitlines()
    recorded = _recorded_block("README.md", "time_main_job")
    assert [_shape(line) for line in printed[-len(recorded) :]] == [_shape(line) for line in recorded]
    assert _recorded_block("docs/benchmarks.md", "time_main_job") == recorded


def test_the_monitoring_example_prints_the_recorded_layout(tmp_path, capsys, monkeypatch):
    write_mnist_idx(tmp_path / "data", train=256)
    out = tmp_path / "out"
    args = ["--data-dir", str(tmp_path / "data"), "--out", str(out), "--depth", "3", "--width", "8"]
    run_example(
        "monitor_fashion_mnist",
        [*args, "--epochs", "2", "--batch-size", "16", "--noise-batches", "16"],
        monkeypatch,
    )
    printed = capsys.readouterr().out.strip().replace(str(out), "runs/monitor").splitlines()
    recorded = _recorded_block("docs/monitoring.md", "time_monitor_example")
    # Verdicts and their reasons change with the data; what each line is does not.
    prefix = [_shape(line.split(":")[0]) for line in recorded]
    assert [_shape(line.split(":")[0]) for line in printed[-len(recorded) :]] == prefix
    assert prefix[0] == "suggest_s at initialization (# batches)"


@pytest.mark.parametrize("page", ["README.md", "docs/benchmarks.md"])
def test_the_recorded_test_count_has_the_pytest_layout(page):
    assert re.search(
        r"the last printed \d+ passed(, \d+ warnings?)? in [\d.]+s", _section(page, "time_tests")
    )
