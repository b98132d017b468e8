"""`initialize` and the monitor on real models: counts, stds, calibration, memory.

    python benchmarks/bench_real_models.py

Prints, and `python tools/publish.py benchmarks/bench_real_models.py` puts into docs/real-models.md
(see report.py):

- per model (keras.applications ResNet50, MobileNetV2, DenseNet121, VGG16 with
  weights=None, 32 x 32 x 3 inputs, 10 classes; a transformer block), the
  kernels it holds and how many `initialize(model, 1.0, calibrate_with=x)`
  drew exactly, calibrated and skipped, with the calibration's worst
  |ratio - 1| and its steps;
- EinsumDense and MultiHeadAttention kernel stddevs from `initialize` and
  from `FractionalMomentNormal` passed as `kernel_initializer`, next to
  Keras' `VarianceScaling` in the same layers;
- the monitor's peak extra memory with `tail_index=True` (process RSS
  sampled every 2 ms during its first and second measurement, minus the RSS
  before), per model parameter, on VGG16 and on a 17M-parameter Dense model.
"""

import argparse
import os
import re
import threading
import time
import warnings

import keras
import numpy as np
import report

import keras_fracinit
from fracinit_experiments.small_models import transformer_block
from keras_fracinit._backend import kernel_draws

APPLICATIONS = (
    "ResNet50",
    "MobileNetV2",
    "DenseNet121",
    "VGG16",
    "EfficientNetB0",
    "EfficientNetV2B0",
    "MobileNetV3Small",
    "ConvNeXtTiny",
    "Xception",
    "NASNetMobile",
    "InceptionV3",
)
# the smallest inputs these accept; 48 x 48 for the others
SIDE = {"Xception": 71, "InceptionV3": 75}
HUB_SMALL = dict(vocabulary_size=100, num_layers=2, hidden_dim=16, intermediate_dim=32)


def hub_models():
    """`(name, backbone, batch)` for keras_hub backbones built small from their constructors."""
    import keras_hub

    rng = np.random.default_rng(0)
    tokens = {
        "token_ids": rng.integers(0, 100, size=(8, 12)).astype("int32"),
        "padding_mask": np.ones((8, 12), "int32"),
    }
    heads = dict(num_query_heads=2, num_key_value_heads=1)
    yield (
        "GPT2Backbone",
        keras_hub.models.GPT2Backbone(num_heads=2, max_sequence_length=16, **HUB_SMALL),
        tokens,
    )
    bert = keras_hub.models.BertBackbone(num_heads=2, max_sequence_length=16, **HUB_SMALL)
    yield "BertBackbone", bert, {**tokens, "segment_ids": np.zeros((8, 12), "int32")}
    yield "LlamaBackbone", keras_hub.models.LlamaBackbone(**heads, **HUB_SMALL), tokens
    yield "GemmaBackbone", keras_hub.models.GemmaBackbone(**heads, head_dim=8, **HUB_SMALL), tokens
    yield "MistralBackbone", keras_hub.models.MistralBackbone(**heads, **HUB_SMALL), tokens
    vit = keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=4, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32
    )
    yield "ViTBackbone", vit, rng.normal(size=(8, 16, 16, 3)).astype("float32")


def all_models():
    rng = np.random.default_rng(0)
    for name in APPLICATIONS:
        side = SIDE.get(name, 48)
        model = getattr(keras.applications, name)(weights=None, input_shape=(side, side, 3), classes=10)
        yield name, model, rng.normal(size=(16, side, side, 3)).astype("float32")
    yield from hub_models()
    yield "transformer block", transformer_block(), rng.normal(size=(32, 10, 32)).astype("float32")


def _short_reason(entry):
    """A reason in a few words, without layer names: `silu`, `paths disagree`, `path meets LayerScale`."""
    reason = entry.reason.split("; stopped at ratio")[0]
    if reason.startswith("activation '"):
        return reason.split("'")[1]
    if reason.startswith("its paths disagree"):
        return "paths disagree"
    if reason.startswith("inside "):
        return "inside a composite layer"
    if reason.startswith("the path "):
        met = re.sub(r" '[^']*'", "", reason.split(" meets ", 1)[1])
        return "path meets " + met.replace(" (law not known)", "")
    return reason


def _reasons(entries):
    """The distinct short reasons of entries, with their counts."""
    found: dict = {}
    for entry in entries:
        found[_short_reason(entry)] = found.get(_short_reason(entry), 0) + 1
    return ", ".join(f"{count}× {reason}" for reason, count in sorted(found.items(), key=lambda kv: -kv[1]))


def rss_bytes():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_extra_rss(function):
    """`(result, peak RSS during function() minus RSS before)`."""
    before, peak, done = rss_bytes(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.002)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        result = function()
    finally:
        done.set()
        thread.join()
    return result, max(peak[0], rss_bytes()) - before


def counts_table():
    rows = [
        "| model | kernels | drawn exactly | calibrated (why outside the class) | skipped "
        "| calibration: worst \\|ratio − 1\\| (converged), stopped short |",
        "|---|---:|---:|---|---:|---|",
    ]
    for name, model, x in all_models():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)
        counts = result.counts()
        calibrated = [r for r in result if r.status == "calibrated"]
        short = [r for r in calibrated if "stopped at ratio" in r.reason]
        converged = [r for r in calibrated if r not in short]
        worst = f"{max(abs(r.ratio - 1) for r in converged):.4f}" if converged else "-"
        stopped = f"{len(short)} ({_reasons(short)})" if short else "0"
        why = f" ({_reasons(calibrated)})" if calibrated else ""
        skipped = ", ".join(sorted({r.reason for r in result if r.status == "skipped"}))
        rows.append(
            f"| {name} | {len(result)} | {counts['initialized']} | {counts['calibrated']}{why} | "
            f"{counts['skipped']}{' (' + skipped + ')' if skipped else ''} | {worst}, {stopped} |"
        )
    return "\n".join(rows)


def look_through_table():
    """Every layer and op `initialize` reads a path through, and why its law is known."""
    from keras_fracinit._graph import look_through

    rows = ["| step | layers | `keras.ops` calls | why the law is known |", "|---|---|---|---|"]
    for entry in look_through.LOOK_THROUGH:
        layers = ", ".join(f"`{cls.__name__}`" for cls in entry.layers)
        if entry.category == look_through.REARRANGE:
            layers += ", `Activation('linear')`"
        ops = ", ".join(f"`{op}`" for op in entry.ops) or "-"
        rows.append(f"| {entry.category} | {layers} | {ops} | {entry.why} |")
    return "\n".join(rows)


def _median_seconds(function, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def calibration_cost_table():
    """ConvNeXtTiny, 32 x 32, batch 16: calibration time in forward passes of that batch."""
    model = keras.applications.ConvNeXtTiny(weights=None, input_shape=(32, 32, 3), classes=10)
    x = np.random.default_rng(0).normal(size=(16, 32, 32, 3)).astype("float32")
    model(x, training=False)
    model.predict_on_batch(x)  # compiled once
    eager = _median_seconds(lambda: model(x, training=False))
    compiled = _median_seconds(lambda: model.predict_on_batch(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)  # warm-up
        # every kernel drawn (the calibrated ones as linear), as initialize draws them
        kernels = [(w, 0.01) for w in model.weights if w.name.endswith("kernel")]
        draws = _median_seconds(lambda: kernel_draws.draw(kernels, keras.random.SeedGenerator(0)), 3)
        reports = []
        total = _median_seconds(
            lambda: reports.append(keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)), 3
        )
    calibrated = [r for r in reports[-1] if r.status == "calibrated"]
    steps = float(np.mean([r.iterations for r in calibrated]))
    passes = (total - draws) / eager
    return "\n".join(
        [
            "| calibrated kernels | mean steps | forward pass (eager, compiled) | drawing every kernel "
            "| initialize with calibration | calibration in eager forward passes | goal: mean steps + 2 |",
            "|---:|---:|---|---:|---:|---:|---:|",
            f"| {len(calibrated)} | {steps:.2f} | {eager * 1e3:.0f} ms, {compiled * 1e3:.0f} ms | "
            f"{draws:.2f} s | {total:.2f} s | {passes:.2f} | {steps + 2:.2f} |",
        ]
    )


def monitor_coverage_table():
    """Kernels the monitor measures, of those `initialize` reports, on a GPT2 classifier and Xception."""
    name, backbone, tokens = next(hub_models())
    inputs = {key: keras.Input((12,), dtype="int32", name=key) for key in tokens}
    pooled = keras.layers.GlobalAveragePooling1D()(backbone(inputs))
    gpt2 = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="head")(pooled))
    xception = keras.applications.Xception(weights=None, input_shape=(71, 71, 3), classes=10)
    images = np.random.default_rng(0).normal(size=(8, 71, 71, 3)).astype("float32")
    rows = ["| model | kernels reported | kernels monitored |", "|---|---:|---:|"]
    for label, model, x in (("GPT2 classifier", gpt2, tokens), ("Xception", xception, images)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)
            monitor = keras_fracinit.FractionalMomentMonitor(1.0, probe=x)
            monitor.set_model(model)
            values = monitor.measure()
        monitored = {k.split("/", 1)[1] for k in values if k.startswith("s_moment_ratio/")}
        reported = {r.layer for r in result}
        rows.append(f"| {label} | {len(reported)} | {len(monitored & reported)} |")
    return "\n".join(rows)


def attention_table():
    def std(layer_or_kernel):
        return float(np.std(keras.ops.convert_to_numpy(layer_or_kernel)))

    rows = [
        "| kernel | shape | initialize(s=2) | FractionalMomentNormal(2, linear) "
        "| VarianceScaling(1, fan_in) | FractionalMomentNormal(1, linear) |",
        "|---|---|---:|---:|---:|---:|",
    ]

    def kernels(init):
        """The EinsumDense kernel and MHA's query and output kernels, drawn by `init`."""
        einsum = keras.layers.EinsumDense(
            "abc,cde->abde", output_shape=(None, 8, 64), kernel_initializer=init
        )
        einsum.build((None, 10, 256))
        attention = keras.layers.MultiHeadAttention(8, 64, kernel_initializer=init)
        attention.build((None, 10, 512), (None, 10, 512))
        return {
            "EinsumDense": einsum.kernel,
            "MHA query": attention.query_dense.kernel,
            "MHA output": attention.output_dense.kernel,
        }

    inputs = keras.Input((10, 256))
    model = keras.Model(inputs, keras.layers.EinsumDense("abc,cde->abde", (None, 8, 64), name="e")(inputs))
    drawn = {r.layer: r.stddev for r in keras_fracinit.initialize(model, 2.0, seed=0)}
    inputs = keras.Input((10, 512))
    mha = keras.Model(inputs, keras.layers.MultiHeadAttention(8, 64, name="mha")(inputs, inputs))
    drawn.update({r.layer: r.stddev for r in keras_fracinit.initialize(mha, 2.0, seed=0)})
    planned = {"EinsumDense": drawn["e"], "MHA query": drawn["mha/query"], "MHA output": drawn["mha/output"]}
    columns = [
        kernels(keras_fracinit.FractionalMomentNormal(2.0, "linear", seed=1)),
        kernels(keras.initializers.VarianceScaling(1.0, "fan_in", "untruncated_normal", seed=1)),
        kernels(keras_fracinit.FractionalMomentNormal(1.0, "linear", seed=1)),
    ]
    for name, kernel in columns[0].items():
        stds = " | ".join(f"{std(column[name]):.5f}" for column in columns)
        rows.append(f"| {name} | {tuple(kernel.shape)} | {planned[name]:.5f} | {stds} |")
    return "\n".join(rows)


def dense_17m():
    inputs = keras.Input((1024,))
    x = keras.layers.Dense(4096, activation="relu")(inputs)
    x = keras.layers.Dense(2048, activation="relu")(x)
    x = keras.layers.Dense(2048, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def memory_table():
    rng = np.random.default_rng(0)
    rows = [
        "| model | parameters | first measurement: peak extra RSS | per parameter | second: per parameter |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("VGG16", "Dense 1024-4096-2048-2048-10"):
        if name == "VGG16":
            model = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=10)
            x = rng.normal(size=(64, 32, 32, 3)).astype("float32")
        else:
            model = dense_17m()
            x = rng.normal(size=(64, 1024)).astype("float32")
        y = np.arange(64) % 10
        model.compile(
            keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        monitor = keras_fracinit.FractionalMomentMonitor(1.0, probe=(x, y), tail_index=True)
        monitor.set_model(model)
        params = model.count_params()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, first = peak_extra_rss(monitor.measure)
            _, second = peak_extra_rss(monitor.measure)
        rows.append(
            f"| {name} | {params / 1e6:.1f} M | {first / 2**20:.0f} MiB | {first / params:.1f} B | "
            f"{second / params:.1f} B |"
        )
    return "\n".join(rows)


PAGE = ["docs/real-models.md"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", metavar="FILE", help=report.SECTIONS_HELP)
    parser.add_argument(
        "--only", choices=("counts", "cost", "coverage", "look_through"), help="one table, printed"
    )
    args = parser.parse_args()
    stamp = f"Measured {report.machine(keras.backend.backend())}; `python benchmarks/bench_real_models.py`."
    backend = keras.backend.backend()
    if args.only or backend != "tensorflow":
        # on another backend, the calibration cost only (its own section)
        tables = {
            "counts": counts_table,
            "cost": calibration_cost_table,
            "coverage": monitor_coverage_table,
            "look_through": look_through_table,
        }
        name = args.only or "cost"
        section = f"real_models_{name}" + (f"_{backend}" if name == "cost" else "")
        text = tables[name]() + ("" if name == "look_through" else "\n\n" + stamp)
        report.publish(section, text, pages=PAGE, sections=args.sections)
        return
    memory = memory_table()  # first, in a process that has not yet held other models
    report.publish(
        "real_models_counts",
        counts_table() + "\n\n" + stamp,
        pages=["docs/real-models.md"],
        sections=args.sections,
    )
    report.publish(
        "real_models_attention",
        attention_table() + "\n\n" + stamp,
        pages=["docs/real-models.md"],
        sections=args.sections,
    )
    report.publish("real_models_memory", memory + "\n\n" + stamp, pages=PAGE, sections=args.sections)
    report.publish(
        "real_models_look_through",
        look_through_table(),
        pages=["docs/real-models.md"],
        sections=args.sections,
    )
    for section, table in (
        ("real_models_cost_tensorflow", calibration_cost_table),
        ("real_models_coverage", monitor_coverage_table),
    ):
        report.publish(section, table() + "\n\n" + stamp, pages=PAGE, sections=args.sections)


if __name__ == "__main__":
    main()
