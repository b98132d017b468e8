"""Every `python ...` command that README.md and docs/ show names a script or
module that exists and only flags that it takes.

The commands themselves train for minutes to hours; what can go stale
when code moves is the path, the module name or a flag, and that is what
is checked here: the examples, the harness's commands and the package's
command line by their `--help`, the benchmarks by the flags they define.
"""

import concurrent.futures
import importlib.util
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHONS = {"python", "python3", ".venv/bin/python"}
NOT_OURS = {"pip", "pytest", "venv", "ruff", "mypy"}


def _snippets(text):
    """Shell text of the bash blocks (continuation lines joined) and inline code spans."""
    blocks = re.findall(r"^```bash\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    yield from (block.replace("\\\n", " ") for block in blocks)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    yield from (span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", prose))


def documented_commands():
    """`(page, target, flags)`: target a module (`-m name`) or a script path."""
    found = []
    for page in PAGES:
        for snippet in _snippets(page.read_text()):
            for line in snippet.splitlines():
                for part in re.split(r"&&|;|\|", line):
                    try:
                        words = shlex.split(part, comments=True)
                    except ValueError:  # prose in backticks (an apostrophe), not a command
                        assert not re.match(r"\s*([A-Z_]+=\S*\s+)*(python3?|\.venv/bin/python)\s", part), part
                        continue
                    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # KERAS_BACKEND=jax python ...
                        words = words[1:]
                    if len(words) < 2 or words[0] not in PYTHONS or words[1] == "-c" or "<" in words[1]:
                        continue  # not ours, or a placeholder (`python benchmarks/<script>.py`)
                    if words[1] == "-m":
                        target, rest = "-m " + words[2], words[3:]
                        if words[2] in NOT_OURS:
                            continue
                    else:
                        target, rest = words[1], words[2:]
                    if target == "-m keras_fracinit" and rest and not rest[0].startswith("-"):
                        target, rest = f"{target} {rest[0]}", rest[1:]
                    if target == "tools/publish.py" and rest and "<" not in rest[0]:
                        # publish.py runs the benchmark it names, with the flags that follow
                        found.append((page.name, target, []))
                        target, rest = rest[0], rest[1:]
                    flags = sorted({word.split("=")[0] for word in rest if word.startswith("--")})
                    found.append((page.name, target, flags))
    return found


COMMANDS = documented_commands()


def _help(target):
    command = target.split() if target.startswith("-m ") else [str(ROOT / target)]
    result = subprocess.run(
        [sys.executable, *command, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, (target, result.stderr[-2000:])
    return result.stdout


def test_the_pages_show_commands_of_every_kind():
    targets = {target for _, target, _ in COMMANDS}
    assert "examples/mnist_dense.py" in targets and "-m keras_fracinit table" in targets
    assert any(t.startswith("-m fracinit_experiments.") for t in targets)
    assert any(t.startswith("benchmarks/") for t in targets) and "tools/publish.py" in targets


def test_every_documented_command_exists_and_takes_its_flags():
    targets = sorted({target for _, target, _ in COMMANDS})
    for target in targets:
        if target.startswith("-m "):
            assert importlib.util.find_spec(target.split()[1]) is not None, target
        else:
            assert (ROOT / target).is_file(), target
    # Benchmarks start Keras on import; they are read, the others asked.
    asked = [target for target in targets if not target.startswith("benchmarks/")]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        helps = dict(zip(asked, pool.map(_help, asked)))
    for page, target, flags in COMMANDS:
        text = helps.get(target) or (ROOT / target).read_text()
        for flag in flags:
            assert re.search(rf"{re.escape(flag)}\b", text), (page, target, flag)
