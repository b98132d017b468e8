"""The package's top level: lazy imports and registration with Keras."""

import importlib.metadata
import pathlib
import re
import subprocess
import sys

import pytest
import tomllib

import keras_fracinit

HEAVY = ("keras", "tensorflow", "jax", "torch")
ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_fresh(code):
    """Runs `code` in a new interpreter: what the package imports, not what this run holds."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.backend_independent
def test_theory_datasets_and_command_line_import_no_keras_and_no_backend():
    out = run_fresh(
        "import runpy, sys\n"
        "import keras_fracinit.theory, keras_fracinit.datasets, keras_fracinit.tails\n"
        "keras_fracinit.theory.moment_gain(0.8, width=64)\n"
        "sys.argv = ['keras_fracinit', 'table', '--width', '8']\n"
        "try:\n"
        "    runpy.run_module('keras_fracinit', run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])\n"
        # The package came first here: Keras must find the names all the same.
        "import keras\n"
        "print(type(keras.initializers.get('fractional_moment')).__name__)\n"
    )
    assert "Exact s-moment gains" in out
    assert "HEAVY []" in out
    assert "FractionalMomentNormal" in out


def test_names_are_registered_when_keras_comes_first():
    out = run_fresh(
        "import keras\nimport keras_fracinit\n"
        "init = keras.initializers.get('fractional_moment')\n"
        "layer = keras.layers.Dense(3, kernel_initializer='fractional_moment_uniform')\n"
        "layer.build((None, 4))\n"
        "print(type(init).__name__, type(layer.kernel_initializer).__name__)\n"
    )
    assert "FractionalMomentNormal FractionalMomentUniform" in out


def test_every_public_name_resolves():
    lazy = set(keras_fracinit._LAZY_ATTRIBUTES) | set(keras_fracinit._LAZY_SUBMODULES)
    assert sorted(keras_fracinit.__all__) == sorted(lazy)
    for name in keras_fracinit.__all__:
        assert getattr(keras_fracinit, name) is not None
    assert set(keras_fracinit.__all__) <= set(dir(keras_fracinit))
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        keras_fracinit.nonexistent  # noqa: B018


@pytest.mark.installed_wheel
def test_the_installed_wheel_is_under_test():
    # CI sets the variable when it runs the suite against the built wheel
    # from outside the checkout: the package must not come from the sources.
    source_tree = ROOT / "keras_fracinit"
    installed = pathlib.Path(keras_fracinit.__file__).resolve().parent
    assert installed != source_tree
    assert "site-packages" in installed.parts
    assert (installed / "py.typed").exists()


def test_one_version_everywhere():
    # pyproject.toml reads the version from keras_fracinit.__version__.
    assert importlib.metadata.version("keras-fracinit") == keras_fracinit.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{keras_fracinit.__version__}]" in changelog


def test_readme_documents_every_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    readme = (ROOT / "README.md").read_text()
    install = readme[readme.index("## Install") : readme.index("## Reproduce")]
    for extra in extras:
        assert f"| `{extra}` |" in install, extra


def _readme_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("## Reproduce: two commands") :]
    block = block[block.index("```bash\n") + 8 : block.index("\n```", block.index("```bash\n"))]
    lines = block.splitlines()
    return {line.split(":")[0][2:]: lines[i + 1] for i, line in enumerate(lines) if line.startswith("# ")}


def test_readme_commands_make_their_environment_from_the_system_python():
    # A fresh Debian 12 has python3 but no `python`, and pip refuses system
    # installs (PEP 668): each command makes .venv and uses it.
    commands = _readme_commands()
    assert sorted(commands) == ["example", "tests"]
    for command in commands.values():
        steps = command.split(" && ")
        assert steps[1].startswith("apt-get install -y python3-venv ")
        assert steps[2] == "python3 -m venv .venv"
        assert all(step.startswith(".venv/bin/python ") for step in steps[3:]), steps
        assert " python " not in f" {command} " and "pip install" not in command.replace("-m pip install", "")


def test_ci_runs_the_readme_test_command_as_written():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "awk '/^# tests:/ {getline; print; exit}' README.md" in ci
    assert 'bash -euo pipefail -c "$readme_tests"' in ci


def test_readme_opens_with_a_quickstart_of_at_most_15_lines():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Quickstart")
    section = readme[start : readme.index("\n## ", start + 1)]
    code = [
        line
        for block in re.findall(r"```(?:bash|python)\n(.*?)```", section, re.DOTALL)
        for line in block.splitlines()
        if line.strip()
    ]
    assert readme[:start].count("\n") < 40 and 0 < len(code) <= 15, code
    for step in (
        "FractionalMomentNormal(",
        "initialize(model",
        "FractionalMomentMonitor(",
        "callbacks=[monitor]",
    ):
        assert step in section, step
    assert "pip install keras-fracinit" not in readme  # no release on PyPI yet


@pytest.mark.backend_independent
def test_the_old_homes_of_tails_still_work_and_say_they_are_deprecated():
    out = run_fresh(
        "import sys, warnings\n"
        "warnings.simplefilter('always')\n"
        "import keras_fracinit\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    old_index, old_tails = keras_fracinit.tail_index, keras_fracinit.heavy_tails\n"
        "import keras_fracinit.tails as tails\n"
        "print(old_index.per_entry_tail_index is tails.per_entry_tail_index,\n"
        "      old_tails.assess_heavy_tails is tails.assess_heavy_tails)\n"
        "print(sorted(str(w.message).split(' is ')[0] for w in caught if w.category is DeprecationWarning))\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    assert "True True" in out
    assert "['keras_fracinit.heavy_tails', 'keras_fracinit.tail_index']" in out
    assert "HEAVY []" in out


def test_the_kernel_report_keeps_its_old_name_with_a_deprecation_warning():
    with pytest.warns(
        DeprecationWarning, match="keras_fracinit.LayerReport is deprecated: use keras_fracinit.KernelReport"
    ):
        old = keras_fracinit.LayerReport
    assert old is keras_fracinit.KernelReport
    assert "LayerReport" not in keras_fracinit.__all__


def test_every_apt_get_install_shown_comes_after_an_apt_get_update():
    # A fresh Debian image has empty package lists: `apt-get install` alone fails there.
    for page in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        snippets = re.findall(r"```bash\n(.*?)```", text, re.DOTALL) + re.findall(r"`([^`\n]+)`", text)
        for snippet in snippets:
            for match in re.finditer(r"apt-get install", snippet):
                assert "apt-get update" in snippet[: match.start()], (page.name, snippet[:200])
    readme = (ROOT / "README.md").read_text()
    assert "apt-get install -y git" in readme  # a fresh image has no git to clone with


def test_ci_tests_the_pinned_keras_nightly_and_the_readme_names_it():
    pin = [
        line
        for line in (ROOT / ".ci" / "keras-nightly.txt").read_text().splitlines()
        if not line.startswith("#")
    ]
    assert len(pin) == 1 and re.fullmatch(r"keras-nightly==3\.\d+\.\d+\.dev\d+", pin[0]), pin
    assert f"`{pin[0]}`" in (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "keras-nightly.txt" in ci and 'python -m pip install -q "$nightly"' in ci
    assert (
        ci.count("KERAS_BACKEND=tensorflow python -m pytest") == 1
        and "python -m pip uninstall -q -y keras" in ci
    )
