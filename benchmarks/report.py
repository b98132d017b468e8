"""Where benchmark figures go: one script writes each number the docs quote.

A benchmark prints its markdown; with `--write` it also replaces its own
section of docs/benchmarks.md (between `<!-- NAME:begin -->` and
`<!-- NAME:end -->`, written by `fracinit_experiments.docs_sections`, the one
writer of marked sections) and, where it has one, its one-line quote in
README.md, stamped with the date and the machine it was measured on.
"""

import datetime
import os
import pathlib
import platform

from fracinit_experiments.docs_sections import replace_section

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCHMARKS_PAGE = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"


def machine(backend=None):
    """`2026-11-27, 2 CPU cores, Python 3.11, Keras 3.15.1 (tensorflow 2.21.0)`."""
    parts = [
        datetime.date.today().isoformat(),
        f"{os.cpu_count()} CPU cores",
        f"Python {platform.python_version()}",
    ]
    if backend is not None:
        import keras

        module = __import__(backend)
        parts.append(f"Keras {keras.__version__} ({backend} {module.__version__})")
    return ", ".join(parts)


def publish(name, markdown, *, readme=None, pages=(), write=False):
    """Prints `markdown`; with `write`, puts it in place.

    It goes into docs/benchmarks.md and the other `pages` (paths under the
    repository root); `readme`, if given, into README.md.
    """
    print(markdown)
    if write:
        for page in (BENCHMARKS_PAGE, *(ROOT / page for page in pages)):
            replace_section(page, name, markdown)
        if readme is not None:
            replace_section(README, name, readme)
        print(
            f"(written to docs/benchmarks.md{''.join(', ' + str(page) for page in pages)}"
            + (" and README.md)" if readme is not None else ")")
        )
