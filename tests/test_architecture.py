"""The house rules of CONTRIBUTING.md, enforced on the source tree.

- The stages import downward only, and the entry points not each other.
- The keras-free modules import no Keras, no backend, and nothing that does.
- Only `_backend/keras_private.py` touches `keras.src`.
- Functions have at most 60 lines of code; modules fewer than 400 lines;
  the package's top level at most 12 modules.
- Every module has its test file (or is listed below with the one that tests it).

The source is read, not run: lazy imports inside functions count too.
"""

import ast
import pathlib

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_fracinit"

# In pipeline order: a module may import from its own stage and the ones before it.
STAGES = (
    ("checks", ("keras_fracinit._checks",)),
    ("theory", ("keras_fracinit.theory", "keras_fracinit.datasets")),
    ("tails", ("keras_fracinit.tails",)),
    ("backend", ("keras_fracinit._backend",)),
    ("initializers", ("keras_fracinit.initializers",)),
    ("graph", ("keras_fracinit._graph",)),
    ("calibration", ("keras_fracinit._calibration",)),
    (
        "entry points",
        (
            "keras_fracinit.model_init",
            "keras_fracinit.simulate",
            "keras_fracinit.suggest",
            "keras_fracinit.monitor",
            "keras_fracinit.cli",
            "keras_fracinit.tail_index",
            "keras_fracinit.heavy_tails",
        ),
    ),
    ("package", ("keras_fracinit", "keras_fracinit.__main__")),
)
KERAS_FREE = (
    "keras_fracinit",
    "keras_fracinit.__main__",
    "keras_fracinit._checks",
    "keras_fracinit.datasets",
    "keras_fracinit.cli",
    "keras_fracinit.tails",
    "keras_fracinit.tails.estimators",
    "keras_fracinit.tails.assessment",
    "keras_fracinit.tail_index",
    "keras_fracinit.heavy_tails",
    "keras_fracinit._backend",
    "keras_fracinit._backend.keras_hook",
    "keras_fracinit._graph",
)
KERAS_FREE_PACKAGES = ("keras_fracinit.theory",)  # every module in them
HEAVY = ("keras", "tensorflow", "jax", "torch", "keras_hub")
FENCE = "keras_fracinit._backend.keras_private"
# Modules whose tests live in a file not named after them, and why.
TESTED_ELSEWHERE = {
    "keras_fracinit.__main__": "test_cli.py",  # runs cli.main
    "keras_fracinit.tail_index": "test_package.py",  # a deprecated alias of tails
    "keras_fracinit.heavy_tails": "test_package.py",  # likewise
    "keras_fracinit.initializers": "test_initializers_serialization.py",
    "keras_fracinit.initializers.base": "test_initializers.py",
    "keras_fracinit.initializers.gaussian": "test_initializers.py",
    "keras_fracinit.monitor.callback": "test_monitor.py",
    "keras_fracinit.monitor.plot": "test_monitor_keras.py",
    "keras_fracinit.monitor.probe": "test_monitor_keras.py",
    "keras_fracinit.monitor.progress": "test_monitor_keras.py",
    "keras_fracinit.monitor.scalars": "test_monitor_keras.py",
    "keras_fracinit.monitor.statistics": "test_monitor.py",
    "keras_fracinit._calibration": "test_calibration.py",
}
MAX_FUNCTION_LINES, MAX_MODULE_LINES, MAX_TOP_LEVEL_MODULES = 60, 400, 12


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _stage(name):
    found = [
        (index, len(prefix))
        for index, (_, prefixes) in enumerate(STAGES)
        for prefix in prefixes
        if name == prefix or name.startswith(prefix + ".")
    ]
    assert found, f"{name} belongs to no stage: add it to STAGES (and to CONTRIBUTING.md)"
    return max(found, key=lambda item: item[1])[0]


def _is_type_checking(node):
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree):
    """Every node, except those under `if TYPE_CHECKING:` (seen by type checkers only)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack += [child for child in ast.iter_child_nodes(node) if not _is_type_checking(child)]


def imports(name):
    """`(ours, theirs)`: the package modules and the outside top-level modules `name` imports."""
    ours, theirs = set(), set()
    for node in _nodes(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = ours if alias.name.split(".")[0] == "keras_fracinit" else theirs
                target.add(alias.name if target is ours else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "keras_fracinit":
                theirs.add(node.module.split(".")[0])
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in MODULES:
                    ours.add(full)
                elif not (node.module == "keras_fracinit" and alias.name == "__version__"):
                    ours.add(node.module)  # the package's version is everyone's to read
    return ours, theirs


def _with_parents(name):
    parts = name.split(".")
    return {".".join(parts[: i + 1]) for i in range(len(parts))} & set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_nothing_imports_upward(name):
    ours, _ = imports(name)
    for target in ours:
        assert _stage(target) <= _stage(name), (
            f"{name} (stage {STAGES[_stage(name)][0]}) imports {target} "
            f"(stage {STAGES[_stage(target)][0]}), a later stage"
        )


def test_entry_points_do_not_import_each_other():
    entry = STAGES[[stage for stage, _ in STAGES].index("entry points")][1]
    for name in MODULES:
        own = [prefix for prefix in entry if name == prefix or name.startswith(prefix + ".")]
        if not own:
            continue
        for target in imports(name)[0]:
            others = [p for p in entry if p != own[0] and (target == p or target.startswith(p + "."))]
            assert not others or own[0] in ("keras_fracinit.tail_index", "keras_fracinit.heavy_tails"), (
                name,
                target,
            )


def keras_free(name):
    return name in KERAS_FREE or any(name == p or name.startswith(p + ".") for p in KERAS_FREE_PACKAGES)


@pytest.mark.parametrize("name", [name for name in MODULES if keras_free(name)])
def test_keras_free_modules_import_no_keras_and_nothing_that_does(name):
    # Each of these is tested, so "nothing that does" holds however deep the imports go.
    ours, theirs = imports(name)
    assert not set(theirs) & set(HEAVY), f"{name} imports {sorted(set(theirs) & set(HEAVY))}"
    for target in set().union(*map(_with_parents, ours)) | _with_parents(name):
        assert keras_free(target), f"{name} imports {target}, which is not keras-free"


def test_every_package_folder_is_a_package():
    # setuptools ships only folders with an __init__.py: a namespace folder would be left out of the wheel.
    for folder in [PACKAGE, *[p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__"]]:
        assert (folder / "__init__.py").is_file(), folder


def _touches_keras_src(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras.src"):
            return True
        if isinstance(node, ast.Import) and any(a.name.startswith("keras.src") for a in node.names):
            return True
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "src"
            and getattr(node.value, "id", "") == "keras"
        ):
            return True
    return False


def test_only_the_fence_touches_keras_internals():
    touching = sorted(
        name for name, path in MODULES.items() if _touches_keras_src(ast.parse(path.read_text()))
    )
    assert touching == [FENCE]


def code_lines(function, lines):
    """Lines of a function that are code: not blank, not comments, not its docstring."""
    body = function.body
    docstring = set()
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            docstring = set(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(
        1
        for number in range(function.lineno, function.end_lineno + 1)
        if number not in docstring
        and lines[number - 1].strip()
        and not lines[number - 1].strip().startswith("#")
    )


def _our_python_files():
    folders = ("keras_fracinit", "experiments", "examples", "benchmarks", "tools", "tests")
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))]


def test_functions_and_modules_stay_small():
    too_long = []
    for path in _our_python_files():
        text = path.read_text()
        lines = text.splitlines()
        if len(lines) >= MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                count = code_lines(node, lines)
                if count > MAX_FUNCTION_LINES:
                    too_long.append(
                        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {count} lines of code"
                    )
    assert not too_long, too_long


def test_code_lines_count_what_the_rule_means():
    source = 'def f():\n    """Doc.\n\n    More."""\n    # why\n    x = 1\n\n    return x\n'
    (function,) = ast.parse(source).body
    assert code_lines(function, source.splitlines()) == 3  # def, x = 1, return


def test_the_top_level_is_short():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def _mirror(name):
    """`keras_fracinit._graph.routes` -> `test_graph_routes.py`; a package -> `test_<package>.py`."""
    parts = [part.lstrip("_") for part in name.split(".")[1:]]
    return "test_" + "_".join(parts) + ".py" if parts else "test_package.py"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_has_its_test_file(name):
    tests = {path.name for path in (ROOT / "tests").glob("test_*.py")}
    mirror = _mirror(name)
    if name in TESTED_ELSEWHERE:
        assert TESTED_ELSEWHERE[name] in tests
        return
    tree = ast.parse(MODULES[name].read_text())
    if MODULES[name].name == "__init__.py" and not any(
        isinstance(node, (ast.FunctionDef, ast.ClassDef)) for node in tree.body
    ):
        return  # a package that only gathers its modules' names
    assert mirror in tests or any(t.startswith(mirror[:-3] + "_") for t in tests), f"{name}: no {mirror}"


def test_contributing_draws_every_stage():
    page = (ROOT / "CONTRIBUTING.md").read_text()
    picture = page[page.index("```text") : page.index("```", page.index("```text") + 7)]
    for _, prefixes in STAGES:
        for prefix in prefixes:
            last = prefix.split(".")[-1]
            if prefix == "keras_fracinit":
                shown = "__init__.py"  # the package itself
            else:
                shown = f"{last}/" if (PACKAGE / last).is_dir() else last
            assert shown in picture, prefix
