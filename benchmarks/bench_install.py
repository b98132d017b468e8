"""What the README's set-up costs: the downloads and the size of the virtual environment.

    python benchmarks/bench_install.py [--extras examples] [--extras test,docs,jax]

For each extras set, in a fresh temporary folder: `pip download` of the
package with those extras (everything pip would fetch, wheels only where
they exist), then a fresh venv made with the system `python3` and the
package installed into it from those files alone. Prints the downloads'
total size and the venv's size on disk. Minutes, and about a gigabyte of
traffic per run.
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile

import report

ROOT = report.ROOT


def _size(folder):
    return sum(path.stat().st_size for path in pathlib.Path(folder).rglob("*") if path.is_file())


def measure(extras):
    """`(download bytes, venv bytes)` of installing the package with `extras` from scratch."""
    target = f"{ROOT}[{extras}]" if extras else str(ROOT)
    with tempfile.TemporaryDirectory() as folder:
        files, venv = pathlib.Path(folder) / "files", pathlib.Path(folder) / "venv"
        quiet = ["-q", "--disable-pip-version-check", "--no-cache-dir"]
        subprocess.run([sys.executable, "-m", "pip", "download", *quiet, "-d", files, target], check=True)
        subprocess.run(["python3", "-m", "venv", venv], check=True)
        python = venv / "bin" / "python"
        install = [python, "-m", "pip", "install", *quiet, "--no-index", "--find-links", files]
        subprocess.run([*install, "-e", target], check=True)
        return _size(files), _size(venv)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--extras",
        action="append",
        help="comma-separated extras (repeatable; default: examples, test,docs,jax)",
    )
    parser.add_argument("--sections", metavar="FILE", help=report.SECTIONS_HELP)
    args = parser.parse_args()
    rows = []
    for extras in args.extras or ["examples", "test,docs,jax"]:
        downloaded, installed = measure(extras)
        rows.append(f"| `.[{extras}]` | {downloaded / 1e9:.2f} GB | {installed / 1e9:.2f} GB |")
    lines = [
        f"Measured {report.machine()} (`python benchmarks/bench_install.py`): a fresh venv, "
        "the package installed with its extras from files downloaded for it.",
        "",
        "| install | downloads | .venv on disk |",
        "|---|---:|---:|",
        *rows,
    ]
    report.publish("bench_install", "\n".join(lines), sections=args.sections)


if __name__ == "__main__":
    main()
