"""`initialize` and the monitor on real models: counts, stds, calibration, memory.

    python benchmarks/bench_real_models.py [--write]

Prints, and with `--write` puts into docs/real-models.md (see report.py):

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
import sys
import threading
import time
import warnings

import keras
import numpy as np
import report

import keras_fracinit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from test_calibration import transformer_block  # noqa: E402

APPLICATIONS = ("ResNet50", "MobileNetV2", "DenseNet121", "VGG16")


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
    rng = np.random.default_rng(0)
    rows = [
        "| model | kernels | drawn exactly | calibrated | skipped "
        "| calibration: worst \\|ratio − 1\\|, steps |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in (*APPLICATIONS, "transformer block"):
        if name == "transformer block":
            model, x = transformer_block(), rng.normal(size=(32, 10, 32)).astype("float32")
        else:
            model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=10)
            x = rng.normal(size=(32, 32, 32, 3)).astype("float32")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = keras_fracinit.initialize(model, 1.0, seed=0, calibrate_with=x)
        counts = result.counts()
        calibrated = [r for r in result if r.status == "calibrated"]
        activations = ", ".join(sorted({r.activation for r in calibrated}))
        worst = (
            f"{max(abs(r.ratio - 1) for r in calibrated):.4f}, {min(r.iterations for r in calibrated)}–"
            f"{max(r.iterations for r in calibrated)} steps ({activations})"
            if calibrated
            else "-"
        )
        skipped = ", ".join(sorted({r.reason for r in result if r.status == "skipped"}))
        rows.append(
            f"| {name} | {len(result)} | {counts['initialized']} | {counts['calibrated']} | "
            f"{counts['skipped']}{' (' + skipped + ')' if skipped else ''} | {worst} |"
        )
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    stamp = f"Measured {report.machine(keras.backend.backend())}; `python benchmarks/bench_real_models.py`."
    memory = memory_table()  # first, in a process that has not yet held other models
    report.publish(
        "real_models_counts", counts_table() + "\n\n" + stamp, pages=["docs/real-models.md"], write=args.write
    )
    report.publish(
        "real_models_attention",
        attention_table() + "\n\n" + stamp,
        pages=["docs/real-models.md"],
        write=args.write,
    )
    report.publish(
        "real_models_memory", memory + "\n\n" + stamp, pages=["docs/real-models.md"], write=args.write
    )


if __name__ == "__main__":
    main()
