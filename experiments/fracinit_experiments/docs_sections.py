"""Writes measured tables and figures into the documentation pages."""

import pathlib
import re
import shutil


def write_between_markers(page, name, text):
    """Replaces what lies between the page's `<!-- name:begin/end -->` markers."""
    content = pathlib.Path(page).read_text()
    pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    if not pattern.search(content):
        raise SystemExit(f"{page} has no markers for {name}")
    pathlib.Path(page).write_text(pattern.sub(lambda m: m[1] + text + "\n" + m[2], content))


def copy_results(folder, page, name, files):
    """Copies `files` of `folder` to `results/<name>/` next to the page; returns that folder."""
    target = pathlib.Path(page).parent / "results" / name
    target.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy(pathlib.Path(folder) / file, target / file)
    return target
