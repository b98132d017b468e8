"""Statistics, figures and the summary of a regime-map sweep (`regime_map`).

    python -m fracinit_experiments.regime_map_report runs/regime_map_mnist [docs/results.md] [--name NAME]

rewrites `heatmaps.png`, `log_norm.png` and `summary.md` from the folder's
`regime_map.json` (also partial: only the finished cells); with a page, also
writes the compact table between its `regime_map_<dataset>` markers (or
`--name`'s) and copies the figures to `docs/results/<name>/`. A sweep over
several learning rates also gets a table of fractional - He at each.

Definitions used in every table:

- a network *trains* when its final test accuracy beats chance (1/10) by at
  least `TRAIN_MARGIN`;
- *epochs to target*: the first epoch whose test accuracy reaches the
  dataset's target (`TARGET_ACCURACY`), the median over seeds (`-` when
  fewer than half the seeds reach it);
- fractional - He differences are paired by seed (same batches, same normal
  draws scaled differently); p is the paired t-test's two-sided p-value on
  the final test accuracy; d is the mean difference over its sd.
"""

import json
import math
import pathlib

import numpy as np

from fracinit_experiments import docs_sections
from fracinit_experiments.flags import LazyModule
from fracinit_experiments.flags import pyplot

paired_lib = LazyModule("fracinit_experiments.paired")  # scipy starts on first use, after the flags

TRAIN_MARGIN = 0.1
TARGET_ACCURACY = {"mnist": 0.9, "fashion_mnist": 0.8}
SIGNIFICANCE = 0.01


def by_cell(results):
    """`{(width, depth, batch, lr): {scheme: [record per seed]}}` of the finished cells."""
    table = {}
    for cell in results["cells"].values():
        for record in cell["records"]:
            key = (record["width"], record["depth"], record["batch_size"], record["lr"])
            table.setdefault(key, {}).setdefault(record["scheme"], []).append(record)
    return table


def final_accuracy(records):
    return np.array([r["epochs"][-1]["test_accuracy"] for r in records])


def epochs_to_target(records, target):
    firsts = []
    for r in records:
        reached = [e for e, epoch in enumerate(r["epochs"], 1) if epoch["test_accuracy"] >= target]
        firsts.append(reached[0] if reached else math.inf)
    median = float(np.median(firsts))
    return median if math.isfinite(median) else None


def paired(he, other):
    """Mean difference, its sd, the paired t-test's p and d = mean / sd."""
    mean, sd, p = paired_lib.paired_test(final_accuracy(other), final_accuracy(he))
    if sd == 0.0:
        return mean, sd, p, (0.0 if mean == 0.0 else math.copysign(math.inf, mean))
    return mean, sd, p, mean / sd


def cell_summary(per_scheme, target):
    rows = {}
    for scheme, records in per_scheme.items():
        acc = final_accuracy(records)
        log_ratio = np.array([r["init"]["median_log_ratio"] for r in records])
        finite = log_ratio[np.isfinite(log_ratio)]
        rows[scheme] = {
            "accuracy": (float(acc.mean()), float(acc.std(ddof=1)) if len(acc) > 1 else 0.0),
            "trained": float(np.mean(acc >= 0.1 + TRAIN_MARGIN)),
            "epochs_to_target": epochs_to_target(records, target),
            "zero_output": float(np.mean([r["init"]["zero_output"] for r in records])),
            "measured_log_ratio": float(np.median(finite)) if len(finite) else -math.inf,
            "predicted_log_ratio": records[0]["init"]["predicted_log_ratio"],
        }
    return rows


def significant_cells(table):
    """Rows `(cell, scheme, mean, sd, p, d)` with p < SIGNIFICANCE, largest |d| first."""
    found = []
    for cell, per_scheme in table.items():
        if "he" not in per_scheme:
            continue
        for scheme, records in per_scheme.items():
            if scheme == "he":
                continue
            mean, sd, p, d = paired(per_scheme["he"], records)
            if p < SIGNIFICANCE:
                found.append((cell, scheme, mean, sd, p, d))
    return sorted(found, key=lambda row: -abs(row[5]))


def plot_heatmaps(table, config, path):
    plt = pyplot()
    widths, depths = config["widths"], config["depths"]
    batch, lr = config["batch_size"], config["lr"][0]
    s_schemes = [f"s={s:g}" for s in config["s"]]
    fig, axes = plt.subplots(1, len(s_schemes), figsize=(3.6 * len(s_schemes), 3.4), squeeze=False)
    for axis, scheme in zip(axes[0], s_schemes):
        grid = np.full((len(widths), len(depths)), np.nan)
        marks = np.zeros_like(grid, dtype=bool)
        for i, w in enumerate(widths):
            for j, d in enumerate(depths):
                per_scheme = table.get((w, d, batch, lr))
                if per_scheme and scheme in per_scheme and "he" in per_scheme:
                    mean, _, p, _ = paired(per_scheme["he"], per_scheme[scheme])
                    grid[i, j], marks[i, j] = mean, p < SIGNIFICANCE
        image = axis.imshow(grid, cmap="RdBu", vmin=-0.5, vmax=0.5, origin="lower", aspect="auto")
        for i in range(len(widths)):
            for j in range(len(depths)):
                if np.isfinite(grid[i, j]):
                    text = f"{grid[i, j]:+.2f}" + ("*" if marks[i, j] else "")
                    axis.text(j, i, text, ha="center", va="center", fontsize=7)
        axis.set(xticks=range(len(depths)), xticklabels=depths, yticks=range(len(widths)), yticklabels=widths)
        axis.set(xlabel="depth (Dense layers)", title=f"{scheme} − He")
    axes[0][0].set_ylabel("width")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="final test accuracy difference")
    fig.suptitle(
        f"{config['dataset']}: fractional − He, final test accuracy (mean over {config['seeds']} paired "
        "seeds; * paired t-test p < 0.01), "
        f"batch {batch}, lr {lr:g}",
        fontsize=9,
    )
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_log_norm(table, path):
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(4.8, 4.4))
    points = {}
    for per_scheme in table.values():
        for scheme, records in per_scheme.items():
            for r in records:
                measured = r["init"]["median_log_ratio"]
                if math.isfinite(measured):
                    points.setdefault(scheme, []).append((r["init"]["predicted_log_ratio"], measured))
    for scheme, xy in points.items():
        xy = np.array(xy)
        axis.scatter(xy[:, 0], xy[:, 1], s=8, alpha=0.6, label=scheme)
    limits = [min(axis.get_xlim()[0], axis.get_ylim()[0]), max(axis.get_xlim()[1], axis.get_ylim()[1])]
    axis.plot(limits, limits, color="k", lw=0.8)
    axis.set(
        xlabel="predicted mean of log(‖h_L‖/‖h_1‖)",
        ylabel="measured median over the batch",
        title="at initialization, one point per network",
    )
    axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_markdown(results):
    config = results["config"]
    table = by_cell(results)
    target = TARGET_ACCURACY[config["dataset"]]
    lines = [
        f"Regime map on {config['dataset']}: {config['activation']}, {config['seeds']} seeds, "
        f"{config['epochs']} epochs, SGD. Final test accuracy mean ± sd; trained = fraction of seeds "
        f"beating chance by {TRAIN_MARGIN:g}; epochs to {target:g} test accuracy (median); zero = "
        "fraction of seeds with identically zero logits at initialization; log-ratio measured / predicted.",
        "",
        "| width | depth | batch | lr | scheme | test acc. | trained | epochs to target | zero | log-ratio |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for cell in sorted(table):
        for scheme, row in cell_summary(table[cell], target).items():
            epochs = "-" if row["epochs_to_target"] is None else f"{row['epochs_to_target']:g}"
            lines.append(
                f"| {cell[0]} | {cell[1]} | {cell[2]} | {cell[3]:g} | {scheme} | "
                f"{row['accuracy'][0]:.3f} ± {row['accuracy'][1]:.3f} | {row['trained']:.1f} | "
                f"{epochs} | "
                f"{row['zero_output']:.1f} | {row['measured_log_ratio']:.2f} / "
                f"{row['predicted_log_ratio']:.2f} |"
            )
    lines += ["", f"Cells where fractional − He differs (paired t-test, p < {SIGNIFICANCE:g}):", ""]
    found = significant_cells(table)
    if not found:
        lines.append("None.")
    else:
        lines += [
            "| width | depth | batch | lr | scheme | difference | p | d |",
            "|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        for cell, scheme, mean, sd, p, d in found:
            lines.append(
                f"| {cell[0]} | {cell[1]} | {cell[2]} | {cell[3]:g} | {scheme} | {mean:+.3f} ± {sd:.3f} | "
                f"{p:.2g} | {d:+.1f} |"
            )
    seconds = sum(cell["seconds"] for cell in results["cells"].values())
    backends = sorted({cell["backend"] for cell in results["cells"].values()})
    lines += [
        "",
        f"{len(results['cells'])} cells, {seconds / 60:.1f} min of training ({', '.join(backends)}).",
    ]
    return "\n".join(lines) + "\n"


def write_report(results, out):
    out = pathlib.Path(out)
    table = by_cell(results)
    if not table:
        return
    plot_heatmaps(table, results["config"], out / "heatmaps.png")
    plot_log_norm(table, out / "log_norm.png")
    (out / "summary.md").write_text(summary_markdown(results))
    print(f"wrote {out}/: regime_map.json, heatmaps.png, log_norm.png, summary.md")


def best_learning_rate(runs, scheme):
    """`(lr, records)` of the learning rate with the best mean final test accuracy."""
    lr = max(runs, key=lambda lr: final_accuracy(runs[lr][scheme]).mean())
    return lr, runs[lr][scheme]


def learning_rate_markdown(results):
    """Per cell and fractional scheme: the paired difference to He at each
    learning rate, and each scheme at its own best learning rate."""
    config = results["config"]
    table = by_cell(results)
    lrs = sorted(config["lr"])
    lines = [
        "| width | depth | batch | scheme | "
        + " | ".join(f"lr {lr:g}" for lr in lrs)
        + " | He at its best lr | scheme at its best lr | best − best (p) |",
        "|---:|---:|---:|---|" + "---:|" * (len(lrs) + 3),
    ]
    for width, depth, batch in sorted({cell[:3] for cell in table}):
        runs = {lr: table.get((width, depth, batch, lr), {}) for lr in lrs}
        if any("he" not in per_scheme for per_scheme in runs.values()):
            continue
        he_lr, he_best = best_learning_rate(runs, "he")
        for scheme in [f"s={s:g}" for s in config["s"]]:
            entries = []
            for lr in lrs:
                mean, _, p, _ = paired(runs[lr]["he"], runs[lr][scheme])
                text = f"{mean:+.3f} (p {p:.2g})"
                entries.append(f"**{text}**" if p < SIGNIFICANCE else text)
            s_lr, s_best = best_learning_rate(runs, scheme)
            mean, _, p, _ = paired(he_best, s_best)
            lines.append(
                f"| {width} | {depth} | {batch} | {scheme} | " + " | ".join(entries) + " | "
                f"{final_accuracy(he_best).mean():.3f} ({he_lr:g}) | "
                f"{final_accuracy(s_best).mean():.3f} ({s_lr:g}) | {mean:+.3f} (p {p:.2g}) |"
            )
    return "\n".join(lines)


def docs_markdown(results):
    """The compact per-cell table and the significant cells, for the results page."""
    config = results["config"]
    table = by_cell(results)
    schemes = ["he"] + [f"s={s:g}" for s in config["s"]]
    several_lrs = len(config["lr"]) > 1
    lines = [
        "| width | depth | batch | " + ("lr | " if several_lrs else "") + " | ".join(schemes) + " |",
        "|---:|---:|---:|" + ("---:|" if several_lrs else "") + "---:|" * len(schemes),
    ]
    for cell in sorted(table, key=lambda c: (c[2] != config["batch_size"], c[0], c[1], c[3])):
        per_scheme = table[cell]
        entries = []
        for scheme in schemes:
            if scheme not in per_scheme:
                entries.append("")
                continue
            acc = final_accuracy(per_scheme[scheme])
            text = f"{acc.mean():.3f} ({np.mean(acc >= 0.1 + TRAIN_MARGIN) * len(acc):.0f}/{len(acc)})"
            if scheme != "he" and "he" in per_scheme:
                mean, _, p, _ = paired(per_scheme["he"], per_scheme[scheme])
                difference = f"{mean:+.3f}"
                text += f" **{difference}**" if p < SIGNIFICANCE else f" {difference}"
            entries.append(text)
        lr = f"{cell[3]:g} | " if several_lrs else ""
        lines.append(f"| {cell[0]} | {cell[1]} | {cell[2]} | {lr}" + " | ".join(entries) + " |")
    found = significant_cells(table)
    lines += [
        "",
        f"Cells where fractional − He differs at p < {SIGNIFICANCE:g} (paired t-test over seeds):",
        "",
    ]
    if not found:
        lines.append("None.")
    else:
        lines += [
            "| width | depth | batch | lr | scheme | difference (mean ± sd) | p | d |",
            "|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        lines += [
            f"| {c[0]} | {c[1]} | {c[2]} | {c[3]:g} | {scheme} | {mean:+.3f} ± {sd:.3f} | "
            f"{p:.2g} | {d:+.1f} |"
            for c, scheme, mean, sd, p, d in found
        ]
    if several_lrs:
        lines += ["", learning_rate_markdown(results)]
    seconds = sum(cell["seconds"] for cell in results["cells"].values())
    backends = ", ".join(sorted({cell["backend"] for cell in results["cells"].values()}))
    lines += [
        "",
        f"{len(results['cells'])} cells, {config['seeds']} seeds, {config['epochs']} epochs; "
        f"{seconds / 60:.0f} min of training on 2 CPU cores (side by side, {backends}).",
    ]
    return "\n".join(lines)


def write_docs(results, folder, page, name=None):
    """Puts `docs_markdown` between the page's `<name>` markers (default
    `regime_map_<dataset>`) and copies the figures next to it
    (`docs/results/<name>/`)."""
    name = name or f"regime_map_{results['config']['dataset']}"
    figures = docs_sections.copy_results(folder, page, name, ("heatmaps.png", "log_norm.png", "summary.md"))
    (figures / "regime_map.json").write_text(json.dumps(results, separators=(",", ":")))
    docs_sections.replace_section(page, name, docs_markdown(results))


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=pathlib.Path, help="the sweep's --out folder")
    parser.add_argument("page", nargs="?", help="a documentation page to write the tables into")
    parser.add_argument("--name", help="the page's marker name (default regime_map_<dataset>)")
    args = parser.parse_args(argv)
    results = json.loads((args.folder / "regime_map.json").read_text())
    write_report(results, args.folder)
    if args.page:
        write_docs(results, args.folder, args.page, args.name)


if __name__ == "__main__":
    main()
