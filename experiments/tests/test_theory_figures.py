"""The figure script of docs/theory.md runs and writes its PNG files."""

import runpy
import sys

import pytest

pytestmark = pytest.mark.backend_independent


def test_theory_figures_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["theory_figures.py", "--out", str(tmp_path), "--networks", "200"])
    runpy.run_module("fracinit_experiments.theory_figures", run_name="__main__", alter_sys=True)
    for name in ("gain", "moment_vs_depth", "log_norm_histogram", "small_outputs"):
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 10_000
