"""The `python -m keras_fracinit table` command."""

import csv
import io

import pytest

import keras_fracinit
from keras_fracinit import cli
from keras_fracinit.theory import ActivationSpec
from keras_fracinit.theory import large_width_gain
from keras_fracinit.theory import moment_gain

pytestmark = pytest.mark.backend_independent


def test_csv_table_holds_the_exact_gains(capsys):
    assert cli.main(["table", "--width", "64", "--s", "0.8,2", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    header, body = rows[0], rows[1:]
    assert header[0] == "s" and header[1] == "relu" and header[4] == "linear"
    assert [float(row[0]) for row in body] == [0.8, 2.0]
    assert float(body[0][1]) == pytest.approx(moment_gain(0.8, width=64), abs=1e-6)
    assert float(body[0][2]) == pytest.approx(moment_gain(0.8, "leaky_relu", width=64), abs=1e-6)
    assert float(body[0][3]) == pytest.approx(moment_gain(0.8, "rrelu", width=64), abs=1e-6)
    assert float(body[0][5]) == pytest.approx(large_width_gain(0.8, width=64), abs=1e-6)
    # The s = 2 row is He and LeCun.
    assert (float(body[1][1]), float(body[1][4])) == (2.0, 1.0)


@pytest.mark.parametrize("style", ["text", "markdown"])
def test_human_formats(capsys, style):
    cli.main(["table", "--width", "8", "--dropout", "0.5", "--format", style])
    out = capsys.readouterr().out
    assert "relu" in out and f"{moment_gain(1.0, ActivationSpec(dropout=0.5), width=8):.6f}" in out


def test_with_dropout_the_authors_column_is_left_out_and_the_table_says_why(capsys):
    cli.main(["table", "--width", "64", "--dropout", "0.5", "--s", "1,2", "--format", "csv"])
    header, _, second = csv.reader(io.StringIO(capsys.readouterr().out))
    assert header == ["s", "relu", "leaky_relu(a=0.2)", "rrelu(l=0.125,u=0.333)", "linear"]
    assert float(second[1]) == pytest.approx(1.0)  # He with keep 0.5: 2 * 0.5
    cli.main(["table", "--dropout", "0.5"])
    assert "approximation has no dropout, so its column is left out" in capsys.readouterr().out
    cli.main(["table"])
    assert "relu (authors' approx.)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["table", "--s", "0.5,3"], "argument --s: must be in (0, 2]; got '3'"),
        (["table", "--width", "0"], "argument --width: must be a positive integer; got '0'"),
        (["table", "--width", "2.5"], "argument --width: expected an integer, got '2.5'"),
        (["table", "--s", "a,b"], "argument --s: expected a number, got 'a'"),
        (["table", "--s", ","], "argument --s: expected comma-separated numbers"),
        (
            ["table", "--s", "0.5,,1"],
            "argument --s: expected comma-separated numbers, none empty; got '0.5,,1'",
        ),
        (["table", "--s", "0.5,"], "none empty"),
        (["table", "--dropout", "1"], "argument --dropout: must be in [0, 1); got '1'"),
        (["table", "--negative-slope", "-1"], "argument --negative-slope: must be a finite"),
        (
            ["table", "--lower", "0.5", "--upper", "0.2"],
            "argument --lower: must be at most --upper (0.2); got 0.5",
        ),
    ],
)
def test_bad_arguments_name_the_flag_under_the_table_usage(capsys, args, message):
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("usage: python -m keras_fracinit table")
    assert "Argument `" not in err


def test_help_shows_every_default_and_a_help_text(capsys):
    with pytest.raises(SystemExit):
        cli.main(["table", "--help"])
    options = capsys.readouterr().out.split("options:")[1]
    # One "(default: ...)" per flag besides --help, each after its own help text.
    flags = ["--width", "--s", "--negative-slope", "--lower", "--upper", "--dropout", "--format"]
    assert " ".join(options.split()).count("(default:") == len(flags)
    table = cli.build_parser()._subparsers._group_actions[0].choices["table"]
    documented = {
        action.option_strings[0]: action.help
        for action in table._actions
        if action.option_strings and action.option_strings[0] != "-h"
    }
    assert sorted(documented) == sorted(flags)
    assert all(documented.values())


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"python -m keras_fracinit {keras_fracinit.__version__}\n"
