"""How a benchmark reports: it prints its figures, stamped with where they were measured.

A benchmark prints markdown. With `--sections FILE` it also appends each
printed section, and the pages that quote it, to FILE as JSON lines; the
benchmark itself never rewrites a page. `tools/publish.py` runs a
benchmark that way and writes the sections into docs/benchmarks.md, the
other pages named and README.md.
"""

import datetime
import json
import os
import pathlib
import platform

ROOT = pathlib.Path(__file__).resolve().parents[1]
SECTIONS_HELP = (
    "also append each printed section, and the pages that quote it, to FILE as JSON lines "
    "(tools/publish.py writes them into the docs)"
)


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


def publish(name, markdown, *, readme=None, pages=(), sections=None, benchmarks_page=True):
    """Prints `markdown`; with `sections` (a path), records where it goes.

    The section `name` belongs in docs/benchmarks.md (unless
    `benchmarks_page` is False), in each of `pages` (paths under the
    repository root) and, as `readme` (a shorter quote), in README.md.
    """
    print(markdown)
    if sections is not None:
        where = (["docs/benchmarks.md"] if benchmarks_page else []) + [str(page) for page in pages]
        record = {"name": name, "markdown": markdown, "readme": readme, "pages": where}
        with open(sections, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
