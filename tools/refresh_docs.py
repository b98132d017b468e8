"""Regenerates every recorded output the README and the docs quote (one command).

    python tools/refresh_docs.py [--only NAME ...] [--mnist-dir DIR]

In order, each step writing its own marked section (see publish.py):

- `cli_table`: `python -m keras_fracinit table --width 64` into README.md;
- `startup`: `benchmarks/bench_startup.py` (README.md, docs/benchmarks.md);
- `tests`, `main_job`, `monitor_example`: `benchmarks/bench_commands.py` (the
  test count and time, the Fashion-MNIST example's and the monitoring
  example's printed summaries, in README.md, docs/monitoring.md and
  docs/benchmarks.md; the monitoring figures are copied to docs/figures/);
- `tail_index_validation`: `benchmarks/tail_index_validation.py`
  (docs/monitoring.md);
- `suggest_s_tables`: `python -m fracinit_experiments.suggest_s_table` on the two regime maps
  in docs/results/ (docs/results.md); MNIST needs `--mnist-dir` (a folder
  with mnist.pkl.gz), so without it only Fashion-MNIST's table is redone.

The regime maps and the paper-protocol runs themselves take hours and are
not redone here: docs/results.md gives their commands, nor are the other
benchmarks, which each take `python tools/publish.py benchmarks/<script>.py`.
About 15 minutes on 2 CPU cores.
"""

import argparse
import shutil
import subprocess
import sys

import publish

STEPS = (
    "cli_table",
    "startup",
    "tests",
    "main_job",
    "monitor_example",
    "tail_index_validation",
    "suggest_s_tables",
)


def run(*command):
    print("$", " ".join(command), flush=True)
    subprocess.run([sys.executable, *command], cwd=publish.ROOT, check=True)


def cli_table():
    table = subprocess.run(
        [sys.executable, "-m", "keras_fracinit", "table", "--width", "64"],
        cwd=publish.ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    from fracinit_experiments.docs_sections import replace_section

    replace_section(publish.ROOT / "README.md", "cli_table", "```\n" + table + "```")


def suggest_s_tables(mnist_dir):
    run(
        "-m",
        "fracinit_experiments.suggest_s_table",
        "docs/results/regime_map_fashion_mnist",
        "--page",
        "docs/results.md",
    )
    if mnist_dir is None:
        print("(MNIST's suggest_s table left as it was: pass --mnist-dir with mnist.pkl.gz)", flush=True)
    else:
        run(
            "-m",
            "fracinit_experiments.suggest_s_table",
            "docs/results/regime_map_mnist",
            "--data-dir",
            mnist_dir,
            "--page",
            "docs/results.md",
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=STEPS, action="append", help="run only this step (repeatable)")
    parser.add_argument("--mnist-dir", default=None, help="folder with mnist.pkl.gz, for the MNIST table")
    args = parser.parse_args()
    for step in args.only or STEPS:
        print(f"== {step}", flush=True)
        if step == "cli_table":
            cli_table()
        elif step == "startup":
            publish.run_and_write("benchmarks/bench_startup.py")
        elif step in ("tests", "main_job", "monitor_example"):
            publish.run_and_write("benchmarks/bench_commands.py", "--only", step)
            if step == "monitor_example":
                for init in ("fractional", "he"):
                    shutil.copy(
                        publish.ROOT / "runs" / "monitor" / f"monitor_{init}.png",
                        publish.ROOT / "docs" / "figures" / f"monitor_fashion_mnist_{init}.png",
                    )
        elif step == "tail_index_validation":
            publish.run_and_write("benchmarks/tail_index_validation.py")
        else:
            suggest_s_tables(args.mnist_dir)


if __name__ == "__main__":
    main()
