"""The preregistered heavy-tailed comparison: pruning, gradient noise and the tests, after training.

For a finished side-by-side run of `fracinit_experiments.mnist` (inits he,
fractional, stable_1.5, stable_1.8), this measures what docs/results.md
preregistered: every network's test accuracy after magnitude pruning of each
kernel at 80, 90 and 95% sparsity, and `keras_fracinit.suggest_s` on every
network at initialization (the very kernels trained, drawn again from their
seeds) and after training. It writes `<run>/heavy_tailed.json`; a run already
measured is read back.

    python -m fracinit_experiments.heavy_tailed runs/heavy_tailed_mnist \\
        --data-dir /path/to/folder-with-mnist.pkl.gz --dataset mnist
    python -m fracinit_experiments.heavy_tailed runs/heavy_tailed_mnist runs/heavy_tailed_fashion_mnist \\
        --page docs/results.md

With several runs (measured), the tests run over all of them, each family
corrected by Holm's procedure across the runs given, and `--page` writes the
tables between the page's `heavy_tailed` markers and copies each run's
metrics, summary, curves and measurements to `results/heavy_tailed_<dataset>/`
beside the page.
"""

import argparse
import json
import math
import os
import pathlib

import numpy as np

from fracinit_experiments import docs_sections
from fracinit_experiments import flags
from fracinit_experiments import mnist
from fracinit_experiments.flags import LazyModule

# Keras and JAX start on first use, after the flags are checked.
side_by_side = LazyModule("fracinit_experiments.side_by_side")
stacked_dense = LazyModule("fracinit_experiments.stacked_dense")
protocol = LazyModule("fracinit_experiments.protocol")
paired = LazyModule("fracinit_experiments.paired")
keras = LazyModule("fracinit_experiments.quiet_keras", "keras")
keras_fracinit = LazyModule("keras_fracinit")
os.environ.setdefault("KERAS_BACKEND", "jax")

SPARSITIES = (0.8, 0.9, 0.95)
BATCHES, BATCH_SIZE = 32, 128
REFERENCE = "he"
FAMILY_LEVEL = 0.05


def holm(p_values):
    """Holm's step-down adjusted p-values (reject where adjusted <= level)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def prune(params, fraction):
    """Every kernel with its `fraction` smallest-magnitude entries set to 0 (biases kept).

    `params` as `stacked_dense` holds them: kernels with leading network
    axes, the last two axes `(fan_in, fan_out)`; each kernel is pruned alone.
    """
    pruned = {}
    for key, (kernel, bias) in params.items():
        kernel = np.asarray(kernel)
        flat = kernel.reshape(*kernel.shape[:-2], -1)
        count = int(round(fraction * flat.shape[-1]))
        smallest = np.argpartition(np.abs(flat), count - 1, axis=-1)[..., :count]
        flat = flat.copy()
        np.put_along_axis(flat, smallest, 0.0, axis=-1)
        pruned[key] = (flat.reshape(kernel.shape), np.asarray(bias))
    return pruned


def pruned_accuracy(params, x_test, y_test, activation):
    """`{sparsity: (schemes, seeds) test accuracy}`, sparsity 0 the unpruned networks."""
    accuracy = {0.0: stacked_dense.evaluate(params, x_test, y_test, activation)[1]}
    for fraction in SPARSITIES:
        accuracy[fraction] = stacked_dense.evaluate(prune(params, fraction), x_test, y_test, activation)[1]
    return {key: np.asarray(value).tolist() for key, value in accuracy.items()}


def network(params, g, j, activation):
    """Network `(g, j)` of the stacked params as a Keras model (linear logits)."""
    kernels = [params["first"], *zip(*params["middle"]), params["last"]]
    layers = [keras.Input((np.asarray(params["first"][0]).shape[-2],))]
    for k, (kernel, _) in enumerate(kernels):
        fed = None if k == len(kernels) - 1 else protocol.keras_activation(activation)
        layers.append(keras.layers.Dense(np.asarray(kernel).shape[-1], activation=fed))
    model = keras.Sequential(layers)
    for layer, (kernel, bias) in zip(model.layers, kernels):
        layer.set_weights([np.asarray(kernel)[g, j], np.asarray(bias)[g, j]])
    return model


def gradient_noise(params, inits, seeds, data, activation, saved):
    """`suggest_s` on every network: `{init: [{"alpha", "verdict", "s"} per seed]}`.

    A network whose gradient noise is zero in every layer (its signal died)
    has no tail index: it is recorded as `"no gradient noise"` with `alpha`
    nan. `saved` (a path) keeps the networks done, so a stopped run resumes.
    """
    x_train, y_train = data
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    done = json.loads(saved.read_text()) if saved.exists() else {}
    for g, init in enumerate(inits):
        for j, seed in enumerate(seeds):
            if f"{init}/{seed}" in done:
                continue
            order = np.random.default_rng(seed).permutation(len(x_train))[: BATCHES * BATCH_SIZE]
            keras.utils.clear_session()  # one model per network: keep the session small
            model = network(params, g, j, activation)
            try:
                found = keras_fracinit.suggest_s(
                    model, (x_train[order], y_train[order]), loss, batches=BATCHES, batch_size=BATCH_SIZE
                )
                done[f"{init}/{seed}"] = {
                    "alpha": float(found.alpha),
                    "verdict": found.verdict,
                    "s": float(found.s),
                }
            except ValueError as error:
                if "gradient noise is zero" not in str(error):
                    raise
                done[f"{init}/{seed}"] = {"alpha": math.nan, "verdict": "no gradient noise", "s": math.nan}
            saved.write_text(json.dumps(done))
    return {init: [done[f"{init}/{seed}"] for seed in seeds] for init in inits}


def measure(run, data):
    """Pruning and gradient noise of one finished run; the dict saved as `heavy_tailed.json`."""
    config = json.loads((run / "metrics.json").read_text())["config"]
    state = stacked_dense.load_checkpoint(run / "checkpoint.npz")
    if state is None or len(state["history"]) < config["epochs"]:
        flags.fail(f"{run} has not finished training")
    (x_train, y_train), (x_test, y_test) = data
    inits, seeds, activation = config["inits"], list(range(config["seeds"])), config["activation"]
    dims = stacked_dense.layer_dims(x_train.shape[1], config["width"], config["depth"], 10)
    drawer = side_by_side.kernel_drawer(activation, config["s"], config["depth"])
    initial = stacked_dense.init_params(drawer, schemes=inits, seeds=seeds, dims=dims)
    train = (x_train, y_train)
    return {
        "config": config,
        "pruned_accuracy": pruned_accuracy(state["params"], x_test, y_test, activation),
        "noise_at_init": gradient_noise(initial, inits, seeds, train, activation, run / "noise_at_init.json"),
        "noise_trained": gradient_noise(
            state["params"], inits, seeds, train, activation, run / "noise_trained.json"
        ),
    }


def _by_seed(rows, init, epoch, metric):
    chosen = sorted(
        (row["seed"], row[metric]) for row in rows if row["init"] == init and row["epoch"] == epoch
    )
    return np.array([value for _, value in chosen], dtype=float)


def _wilcoxon(ours, theirs):
    from scipy import stats  # on first use: --help answers without it

    difference = np.asarray(ours) - np.asarray(theirs)
    if not np.any(difference):
        return 1.0
    return float(stats.wilcoxon(ours, theirs).pvalue)


def _finite_pairs(ours, theirs):
    """The seeds where both values are finite (a network without gradient noise has no tail index)."""
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    both = np.isfinite(ours) & np.isfinite(theirs)
    return ours[both], theirs[both]


def _comparison(family, dataset, scheme, endpoint, ours, theirs, test):
    mean, sd, p_t = paired.paired_test(ours, theirs)
    p_w = _wilcoxon(ours, theirs)
    return {
        "family": family,
        "dataset": dataset,
        "scheme": scheme,
        "endpoint": endpoint,
        "ours": [float(np.mean(ours)), float(np.std(ours, ddof=1))],
        "he": [float(np.mean(theirs)), float(np.std(theirs, ddof=1))],
        "difference": [mean, sd],
        "p_t": p_t,
        "p_wilcoxon": p_w,
        "p": p_t if test == "t" else p_w,
        "test": test,
    }


def comparisons(runs):
    """Every preregistered comparison of the runs `[(metrics_rows, measured)]`, Holm-adjusted per family."""
    found = []
    for rows, measured in runs:
        config = measured["config"]
        dataset, last = config["dataset"], config["epochs"]
        for scheme in [init for init in config["inits"] if init != REFERENCE]:
            for endpoint in ("test_accuracy", "train_loss"):
                # a diverged network has an accuracy but no finite loss: the loss test pairs the rest
                ours, theirs = _finite_pairs(
                    *(_by_seed(rows, init, last, endpoint) for init in (scheme, REFERENCE))
                )
                label = f"{endpoint} epoch {last}" + (
                    f" ({len(ours)} pairs)" if len(ours) < config["seeds"] else ""
                )
                found.append(_comparison("performance", dataset, scheme, label, ours, theirs, "t"))
            accuracy = {float(q): np.asarray(v) for q, v in measured["pruned_accuracy"].items()}
            g, h = config["inits"].index(scheme), config["inits"].index(REFERENCE)
            for q in SPARSITIES:
                drops = accuracy[0.0] - accuracy[q]
                found.append(
                    _comparison(
                        "compressibility", dataset, scheme, f"drop at {q:.0%}", drops[g], drops[h], "t"
                    )
                )
            for time, when in (("noise_at_init", "at initialization"), ("noise_trained", "after training")):
                ours, theirs = _finite_pairs(
                    *([n["alpha"] for n in measured[time][i]] for i in (scheme, REFERENCE))
                )
                found.append(
                    _comparison(
                        "gradient noise",
                        dataset,
                        scheme,
                        f"tail index {when} ({len(ours)} pairs)",
                        ours,
                        theirs,
                        "wilcoxon",
                    )
                )
    for family in {row["family"] for row in found}:
        members = [row for row in found if row["family"] == family]
        for row, adjusted in zip(members, holm([row["p"] for row in members])):
            row["p_holm"], row["reject"] = float(adjusted), bool(adjusted <= FAMILY_LEVEL)
    return found


def _mean_sd(pair, digits=4):
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def comparison_table(found, family):
    lines = [
        "| dataset | scheme | endpoint | scheme | He | scheme − He | test p | Wilcoxon p | Holm p "
        "| decision |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in (r for r in found if r["family"] == family):
        decision = "differs" if row["reject"] else "no difference shown"
        lines.append(
            f"| {row['dataset']} | {row['scheme']} | {row['endpoint']} | {_mean_sd(row['ours'])} | "
            f"{_mean_sd(row['he'])} | {row['difference'][0]:+.4f} ± {row['difference'][1]:.4f} | "
            f"{row['p_t']:.2g} | {row['p_wilcoxon']:.2g} | {row['p_holm']:.2g} | {decision} |"
        )
    return "\n".join(lines)


def descriptive_table(runs):
    """Test accuracy at epochs 1, 5 and the last, networks with a non-finite loss, noise verdicts."""
    lines = [
        "| dataset | scheme | test acc. epoch 1 | epoch 5 | last epoch | non-finite | verdicts at init "
        "| verdicts trained |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for rows, measured in runs:
        config = measured["config"]
        for init in config["inits"]:
            accuracy = [_by_seed(rows, init, e, "test_accuracy") for e in (1, 5, config["epochs"])]
            losses = _by_seed(rows, init, config["epochs"], "train_loss")
            verdicts = []
            for time in ("noise_at_init", "noise_trained"):
                names = [n["verdict"] for n in measured[time][init]]
                verdicts.append(", ".join(f"{v} ×{names.count(v)}" for v in dict.fromkeys(names)))
            cells = " | ".join(f"{a.mean():.4f} ± {a.std(ddof=1):.4f}" for a in accuracy)
            lines.append(
                f"| {config['dataset']} | {init} | {cells} | {int(np.sum(~np.isfinite(losses)))} | "
                f"{verdicts[0]} | {verdicts[1]} |"
            )
    return "\n".join(lines)


def pruning_table(runs):
    """Test accuracy before and after pruning, mean ± sd over seeds (the drops' context)."""
    header = " | ".join(f"{q:.0%} pruned" for q in SPARSITIES)
    lines = [f"| dataset | scheme | unpruned | {header} |", "|---|---|---:|" + "---:|" * len(SPARSITIES)]
    for _, measured in runs:
        accuracy = {float(q): np.asarray(v) for q, v in measured["pruned_accuracy"].items()}
        for g, init in enumerate(measured["config"]["inits"]):
            cells = " | ".join(
                f"{accuracy[q][g].mean():.4f} ± {accuracy[q][g].std(ddof=1):.4f}" for q in (0.0, *SPARSITIES)
            )
            lines.append(f"| {measured['config']['dataset']} | {init} | {cells} |")
    return "\n".join(lines)


def report(runs):
    found = comparisons(runs)
    parts = [descriptive_table(runs), pruning_table(runs)]
    for family in ("performance", "compressibility", "gradient noise"):
        parts += [
            f"**{family.capitalize()}** (Holm over the {sum(r['family'] == family for r in found)} tests):",
            comparison_table(found, family),
        ]
    return "\n\n".join(parts), found


def _measured(run, args):
    saved = run / "heavy_tailed.json"
    if saved.exists():
        return json.loads(saved.read_text())
    config = json.loads((run / "metrics.json").read_text())["config"]
    if args.dataset is not None and args.dataset != config["dataset"]:
        flags.fail(f"{run} holds {config['dataset']}, not --dataset {args.dataset}")
    try:
        (x_train, y_train), (x_test, y_test) = mnist.load_data(config["dataset"], args.data_dir)
    except flags.DataUnavailable as error:
        flags.fail(str(error))
    data = (
        (mnist.preprocess(x_train), y_train.astype("int32")),
        (mnist.preprocess(x_test), y_test.astype("int32")),
    )
    measured = measure(run, data)
    saved.write_text(json.dumps(measured) + "\n")
    return measured


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "runs", type=pathlib.Path, nargs="+", help="finished side-by-side runs (--out folders)"
    )
    parser.add_argument(
        "--data-dir", default=None, help="the dataset's folder, to measure a run not yet measured"
    )
    parser.add_argument(
        "--dataset", choices=("mnist", "fashion_mnist"), default=None, help="check the run's dataset"
    )
    parser.add_argument("--page", default=None, help="a documentation page with heavy_tailed markers")
    args = parser.parse_args(argv)
    runs = []
    for run in args.runs:
        measured = _measured(run, args)
        runs.append((json.loads((run / "metrics.json").read_text())["rows"], measured))
    text, found = report(runs)
    print(text)
    (args.runs[0] / "heavy_tailed_tests.json").write_text(json.dumps(found, indent=1) + "\n")
    if args.page:
        docs_sections.replace_section(args.page, "heavy_tailed", text)
        for run, (_, measured) in zip(args.runs, runs):
            name = f"heavy_tailed_{measured['config']['dataset']}"
            files = ["metrics.csv", "summary.md", "curves.png", "heavy_tailed.json"]
            docs_sections.copy_results(run, args.page, name, files)


if __name__ == "__main__":
    main()
