"""The harness's commands check their flags before Keras, JAX or the data start."""

import pathlib

import pytest
from helpers import run_without_keras

import fracinit_experiments

PACKAGE = pathlib.Path(fracinit_experiments.__file__).parent
SCRIPTS = sorted(
    path.name for path in PACKAGE.glob("*.py") if 'if __name__ == "__main__":' in path.read_text()
)
pytestmark = pytest.mark.backend_independent


def _run(cases):
    return run_without_keras([[f"fracinit_experiments.{script[:-3]}", args] for script, args in cases])


def test_every_command_answers_help_without_starting_keras():
    assert len(SCRIPTS) == 8, (
        SCRIPTS
    )  # mnist, cifar10, the three reports, regime_map, theory_figures, heavy_tailed
    for script, (code, _, heavy) in zip(SCRIPTS, _run([[script, ["--help"]] for script in SCRIPTS])):
        assert code == 0, script
        assert heavy == [], (script, heavy)


BAD_FLAGS = [
    (["--width", "-5"], "argument --width: must be a positive integer; got '-5'"),
    (["--seeds", "0"], "argument --seeds: must be a positive integer; got '0'"),
    (["--epochs", "0"], "argument --epochs: must be a positive integer; got '0'"),
    (["--batch-size", "0"], "argument --batch-size: must be a positive integer; got '0'"),
    (["--depth", "0"], "argument --depth: must be an integer >= 2; got '0'"),
    (["--s", "2.5"], "argument --s: must be in (0, 2]; got '2.5'"),
    (["--lr", "-1"], "argument --lr: must be a finite number > 0; got '-1'"),
    (
        ["--inits", "he,,glorot"],
        "argument --inits: expected a comma-separated list, none empty; got 'he,,glorot'",
    ),
    (
        ["--inits", "he,kaiming"],
        "argument --inits: expected one of he, glorot, fractional, random_walk, stable_1.5, "
        "stable_1.8; got 'kaiming'",
    ),
]


@pytest.mark.parametrize("script", ["mnist.py", "cifar10.py"])
def test_protocol_examples_reject_bad_flags_in_one_line_before_keras(script):
    results = _run([[script, args] for args, _ in BAD_FLAGS])
    for (args, message), (code, last_line, heavy) in zip(BAD_FLAGS, results):
        assert code == 2 and last_line == f"{script}: error: {message}", (args, last_line)
        assert heavy == [], (args, heavy)


def test_the_other_commands_reject_bad_flags_before_keras():
    cases = [
        ["regime_map.py", ["--widths", "4,,8"]],
        ["regime_map.py", ["--depths", "1"]],
        ["regime_map.py", ["--lr", "0"]],
        ["suggest_s_table.py", ["runs/x", "--cells", "4x1"]],
        ["suggest_s_table.py", ["runs/x", "--batches", "7"]],
        ["theory_figures.py", ["--networks", "0"]],
    ]
    expected = [
        "argument --widths: expected a comma-separated list, none empty; got '4,,8'",
        "argument --depths: must be an integer >= 2; got '1'",
        "argument --lr: must be a finite number > 0; got '0'",
        "argument --cells: must be an integer >= 2; got '1'",
        "argument --batches: must be an integer >= 16; got '7'",
        "argument --networks: must be a positive integer; got '0'",
    ]
    for (script, args), message, (code, last_line, heavy) in zip(cases, expected, _run(cases)):
        assert code == 2 and last_line.endswith(message), (script, args, last_line)
        assert heavy == [], (script, heavy)
