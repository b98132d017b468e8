"""The docstring examples hold and the documentation builds."""

import doctest
import importlib
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTED_MODULES = [
    "keras_fracinit.theory.activation",
    "keras_fracinit.theory.moments",
    "keras_fracinit.theory.approximations",
    "keras_fracinit.theory.depth",
    "keras_fracinit.initializers",
    "keras_fracinit.datasets",
    "keras_fracinit.simulate",
    "keras_fracinit.model_init",
    "keras_fracinit.tails.estimators",
    "keras_fracinit.tails.assessment",
    "keras_fracinit._graph.model_layers",
    "keras_fracinit.tails._gradient_noise",
    "keras_fracinit.suggest",
    "keras_fracinit.monitor.callback",
]


@pytest.mark.parametrize("name", DOCUMENTED_MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_mkdocs_build_is_strict_clean(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    api = (tmp_path / "api" / "index.html").read_text()
    assert "FractionalMomentNormal" in api and "moment_gain" in api
    _check_rendered_api(api)


def _check_rendered_api(api):
    """Every docstring example is a code block; every Returns table has one row."""
    outside_code = re.sub(r"<pre>.*?</pre>", "", api, flags=re.DOTALL)
    assert "&gt;&gt;&gt;" not in outside_code, "a `>>>` example rendered as text"
    examples = [m.end() for m in re.finditer(r'doc-section-title">Examples:</span>', api)]
    assert len(examples) >= 15
    for end in examples:
        assert api[end : end + 200].lstrip().startswith('</p>\n    <div class="highlight"><pre>'), api[
            end : end + 200
        ]
    returns = [m.end() for m in re.finditer(r'doc-section-title">Returns:</span>', api)]
    assert len(returns) >= 15
    for end in returns:
        body = api[api.index("<tbody>", end) : api.index("</tbody>", end)]
        # One value per function: a second row is a wrapped line read as a second value.
        assert body.count("<tr") == 1, re.sub(r"<[^>]+>|\s+", " ", body)[:300]


def test_the_real_models_page_lists_every_step_a_path_is_read_through():
    from keras_fracinit._graph import look_through

    page = (ROOT / "docs" / "real-models.md").read_text()
    section = page.split("<!-- real_models_look_through:begin -->")[1].split(
        "<!-- real_models_look_through:end -->"
    )[0]
    for entry in look_through.LOOK_THROUGH:
        assert f"| {entry.category} |" in section and entry.why in section, entry.category
        for name in [cls.__name__ for cls in entry.layers] + list(entry.ops):
            assert f"`{name}`" in section, name


DOCUMENTED_NAMES_RESOLVE = """
import importlib, json, pathlib, re, sys, types
import keras_fracinit

fresh = set(vars(keras_fracinit))  # what `import keras_fracinit` alone binds
problems = []
for path in re.findall(r"^::: (keras_fracinit[.\\w]+)", pathlib.Path(sys.argv[1]).read_text(), re.M):
    first, *rest = path.split(".")[1:]
    try:
        # the package's own lookup, as on first access in a fresh interpreter: an
        # attribute another import happened to bind here would not count
        value = getattr(keras_fracinit, first) if first in fresh else keras_fracinit.__getattr__(first)
        for name in rest:
            owner, value = value, getattr(value, name)
            if isinstance(value, types.ModuleType) and name not in getattr(owner, "__all__", ()):
                problems.append(f"{path}: {name} is a module only another import binds")
    except AttributeError as error:
        problems.append(f"{path}: {error}")
print(json.dumps(problems))
"""


def test_every_name_the_api_page_documents_resolves_right_after_import():
    result = subprocess.run(
        [sys.executable, "-c", DOCUMENTED_NAMES_RESOLVE, str(ROOT / "docs" / "api.md")],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    documented = re.findall(r"^::: (keras_fracinit[.\w]+)", (ROOT / "docs" / "api.md").read_text(), re.M)
    assert len(documented) >= 25 and "keras_fracinit.tails.assess_heavy_tails" in documented
