"""`tools/publish.py`: a benchmark prints and records its sections; the tool writes them."""

import importlib.util
import json
import pathlib
import subprocess

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = pathlib.Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("publish", ROOT / "tools" / "publish.py")
publish = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(publish)

FAKE_BENCHMARK = """
import argparse, json
parser = argparse.ArgumentParser()
parser.add_argument("--value")
parser.add_argument("--sections")
parser.add_argument("--fail", action="store_true")
args = parser.parse_args()
print("figure", args.value)
record = {"name": "fake", "markdown": f"figure {args.value}", "readme": None, "pages": [PAGE]}
with open(args.sections, "a") as out:
    out.write(json.dumps(record) + "\\n")
raise SystemExit(3 if args.fail else 0)
"""


def _setup(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("before\n<!-- fake:begin -->\nold\n<!-- fake:end -->\nafter\n")
    script = tmp_path / "bench_fake.py"
    script.write_text(FAKE_BENCHMARK.replace("PAGE", json.dumps(str(page))))
    return page, script


def test_the_recorded_section_replaces_its_marked_part(tmp_path):
    page, script = _setup(tmp_path)
    records = publish.run_and_write(str(script), "--value", "42")
    assert [record["name"] for record in records] == ["fake"]
    assert page.read_text() == "before\n<!-- fake:begin -->\nfigure 42\n<!-- fake:end -->\nafter\n"


def test_a_failing_benchmark_writes_nothing(tmp_path):
    page, script = _setup(tmp_path)
    before = page.read_text()
    with pytest.raises(subprocess.CalledProcessError):
        publish.run_and_write(str(script), "--value", "1", "--fail")
    assert page.read_text() == before
