"""`InitializationReport`: its tallies and its table, from reports built by hand."""

import pytest

from keras_fracinit.model_init.report import InitializationReport
from keras_fracinit.model_init.report import KernelReport

pytestmark = pytest.mark.backend_independent


def _entry(layer, status, **changes):
    fields = dict(
        layer=layer,
        layer_type="Dense",
        activation="relu",
        negative_slope=None,
        dropout=0.0,
        found_in="layer",
        fan_in=4,
        fan_out=2,
        stddev=0.5,
        status=status,
    )
    fields.update(changes)
    return KernelReport(**fields)


def test_counts_tally_every_status_even_absent_ones():
    report = InitializationReport([_entry("a", "initialized"), _entry("b", "initialized")])
    assert report.counts() == {"initialized": 2, "calibrated": 0, "skipped": 0}


def test_table_shows_the_final_scale_the_ratio_and_the_reason():
    report = InitializationReport(
        [
            _entry(
                "gelu_dense",
                "calibrated",
                activation="gelu",
                scale=2.0,
                ratio=1.004,
                iterations=3,
                reason="outside",
            ),
            _entry("lstm/kernel", "skipped", stddev=None, activation="-", reason="recurrent"),
        ]
    )
    lines = str(report).splitlines()
    assert lines[0].split() == [
        "layer",
        "type",
        "activation",
        "from",
        "fan_in",
        "fan_out",
        "stddev",
        "status",
    ]
    assert "1.000000" in lines[1] and "calibrated (ratio 1.004, 3 steps): outside" in lines[1]
    assert lines[2].split()[-2:] == ["skipped:", "recurrent"] and " - " in lines[2]
