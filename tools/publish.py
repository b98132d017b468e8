"""Runs a benchmark and writes the sections it prints into the docs.

    python tools/publish.py benchmarks/bench_initializers.py [its flags ...]

The benchmark runs with `--sections FILE` and prints as usual; each
section it records then replaces its marked part (`<!-- NAME:begin -->`
to `<!-- NAME:end -->`) of the pages it names, and its quote in README.md,
through `fracinit_experiments.docs_sections`, the one writer of marked
sections. Nothing is written if the benchmark fails.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_and_write(script, *flags):
    """Runs `script` (a path under the repository root) with `flags`; writes what it recorded."""
    from fracinit_experiments.docs_sections import replace_section

    with tempfile.TemporaryDirectory() as folder:
        sections = pathlib.Path(folder) / "sections.jsonl"
        command = [sys.executable, str(ROOT / script), *flags, "--sections", str(sections)]
        print("$", " ".join([pathlib.Path(sys.executable).name, script, *flags]), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)
        records = (
            [json.loads(line) for line in sections.read_text().splitlines()] if sections.exists() else []
        )
    for record in records:
        for page in record["pages"]:
            replace_section(ROOT / page, record["name"], record["markdown"])
        if record["readme"] is not None:
            replace_section(ROOT / "README.md", record["name"], record["readme"])
        where = record["pages"] + (["README.md"] if record["readme"] is not None else [])
        print(f"(wrote {record['name']} into {', '.join(where)})", flush=True)
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", help="the benchmark, e.g. benchmarks/bench_simulate.py")
    parser.add_argument("flags", nargs=argparse.REMAINDER, help="the benchmark's own flags")
    args = parser.parse_args()
    if not (ROOT / args.script).is_file():
        parser.error(f"argument script: no such file under the repository: {args.script}")
    try:
        run_and_write(args.script, *args.flags)
    except subprocess.CalledProcessError as failed:
        sys.exit(f"{args.script} failed (exit {failed.returncode}); nothing was written")


if __name__ == "__main__":
    main()
