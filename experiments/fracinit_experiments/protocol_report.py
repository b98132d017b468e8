"""Puts a finished `mnist` / `cifar10` run into a documentation page.

    python -m fracinit_experiments.protocol_report runs/mnist_relu docs/results.md --name mnist_relu

writes, between the page's `<!-- NAME:begin/end -->` markers, the mean ± sd
table at epochs 1, 5 and the last, and every init's test-accuracy difference
to He paired by seed with the paired t-test's p-value; and copies the run's
`metrics.json`, `metrics.csv`, `curves.png` and `summary.md` to
`results/NAME/` next to the page (checkpoints stay behind).
"""

import argparse
import json
import pathlib

import numpy as np

from fracinit_experiments import docs_sections
from fracinit_experiments.flags import LazyModule

protocol = LazyModule("fracinit_experiments.protocol")  # Keras starts on first use, after the flags

FILES = ("metrics.json", "metrics.csv", "curves.png", "summary.md")


def markdown(payload):
    rows, config = payload["rows"], payload["config"]
    seconds = float(np.median([row["seconds"] for row in rows])) if "seconds" in rows[0] else 0.0
    lines = [
        f"Mean ± sd over {config['seeds']} seeds ({payload['dataset']}, {config['activation']}, "
        f"s = {config['s']:g}, {config['depth']} layers of {config['width']}):",
        "",
        protocol.results_markdown(rows, config["epochs"]),
    ]
    if seconds:
        networks = len(config["inits"]) * config["seeds"]
        if config.get("side_by_side"):
            how = f"all {networks} networks side by side in one JAX program"
        else:
            how = "one network"
        lines += ["", f"Median epoch: {seconds:.0f} s ({how})."]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=pathlib.Path, help="the run's --out folder")
    parser.add_argument("page", help="the documentation page")
    parser.add_argument("--name", required=True, help="the page's marker name and results folder")
    args = parser.parse_args(argv)
    payload = json.loads((args.run / "metrics.json").read_text())
    docs_sections.copy_results(args.run, args.page, args.name, FILES)
    docs_sections.replace_section(args.page, args.name, markdown(payload))
    return payload


if __name__ == "__main__":
    main()
