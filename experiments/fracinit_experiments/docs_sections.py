"""Writes measured tables and figures into the documentation pages.

A page marks each generated section with `<!-- NAME:begin -->` and
`<!-- NAME:end -->` lines; `replace_section` is the one writer of those
sections, for the harness's reports and for the benchmarks alike.
"""

import pathlib
import re
import shutil


def replace_section(page, name, text):
    """Replaces what lies between the page's `<!-- name:begin/end -->` markers with `text`.

    Args:
        page: the markdown file.
        name: the section's name in its markers.
        text: the new content (leading and trailing blank lines dropped).
    """
    path = pathlib.Path(page)
    content = path.read_text()
    pattern = re.compile(
        rf"(<!-- {re.escape(name)}:begin -->\n).*?(\n?<!-- {re.escape(name)}:end -->)", re.DOTALL
    )
    if not pattern.search(content):
        raise SystemExit(f"{path.name} has no section markers for {name!r}")
    path.write_text(pattern.sub(lambda m: m[1] + text.strip("\n") + "\n" + m[2].lstrip("\n"), content))


def copy_results(folder, page, name, files):
    """Copies `files` of `folder` to `results/<name>/` next to the page; returns that folder."""
    target = pathlib.Path(page).parent / "results" / name
    target.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy(pathlib.Path(folder) / file, target / file)
    return target
