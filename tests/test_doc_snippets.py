"""Every python block of README.md and docs/*.md runs as written, in order.

The blocks of one page run one after the other in one namespace, in a
scratch folder of their own, so a page may build on its earlier blocks.
All pages share one fresh interpreter (one backend start-up), with Keras'
session cleared between pages. A block whose first line is a comment starting
with `# Not run by the tests:` says visibly why it cannot run here (data that
cannot be had offline); the test honours that marker and checks it is rare.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = "# Not run by the tests:"
FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)

RUNNER = """
import json, os, pathlib, sys, traceback
import keras

results = {}
for name, blocks, folder in json.loads(pathlib.Path(sys.argv[1]).read_text()):
    keras.utils.clear_session()
    os.makedirs(folder)
    os.chdir(folder)
    namespace = {"__name__": "__main__"}
    ran = 0
    try:
        for index, block in enumerate(blocks, 1):
            exec(compile(block, f"{name} python block {index}", "exec"), namespace)
            ran = index
        results[name] = {"ran": ran, "error": None}
    except BaseException:
        results[name] = {"ran": ran, "error": traceback.format_exc()[-4000:]}
pathlib.Path(sys.argv[2]).write_text(json.dumps(results))
"""


def python_blocks(page):
    return BLOCK.findall(page.read_text())


def runnable_blocks(page):
    return [block for block in python_blocks(page) if not block.startswith(NOT_RUN)]


PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page)]


@pytest.fixture(scope="module")
def page_results(tmp_path_factory):
    work = tmp_path_factory.mktemp("doc_snippets")
    if any("fashion-mnist" in b for page in PAGES_WITH_CODE for b in runnable_blocks(page)):
        assert FASHION_MNIST.is_dir(), (
            "the documentation's examples read Debian's Fashion-MNIST: apt-get install dataset-fashion-mnist"
        )
    pages = [[page.name, runnable_blocks(page), str(work / page.stem)] for page in PAGES_WITH_CODE]
    (work / "pages.json").write_text(json.dumps(pages))
    (work / "runner.py").write_text(RUNNER)
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, str(work / "runner.py"), str(work / "pages.json"), str(work / "results.json")],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((work / "results.json").read_text())


def test_the_pages_hold_python_blocks():
    counts = {page.name: len(python_blocks(page)) for page in PAGES_WITH_CODE}
    assert sum(counts.values()) >= 8, counts
    markers = [b for page in PAGES for b in python_blocks(page) if b.startswith(NOT_RUN)]
    assert len(markers) <= 1, "only data that cannot be had offline may be left out"


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: p.name)
def test_python_blocks_run_in_order(page, page_results):
    result = page_results[page.name]
    assert result["error"] is None, result["error"]
    assert result["ran"] == len(runnable_blocks(page))
