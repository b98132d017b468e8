"""The monitor's probe batch: from the user's argument, or from `fit`'s own data."""

import keras

from keras_fracinit._backend import batching
from keras_fracinit._backend import keras_private
from keras_fracinit._graph import kernel_plan


def probe_batch(probe):
    """`(x, y)` from a probe argument: arrays, a tuple, or a dataset."""
    if isinstance(probe, tuple):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(probe)
    elif isinstance(probe, (dict, list)) or hasattr(probe, "shape"):
        x, y = probe, None
    elif isinstance(probe, keras.utils.PyDataset) or hasattr(probe, "__iter__"):
        return batching.take_batches(probe, 1)[0]
    else:
        raise ValueError(
            "Argument `probe` must be an array, a tuple (x, y), a dict or "
            f"list of arrays, or a dataset. Received: probe of type {type(probe).__name__}"
        )
    return batching.take_batches((x, y), 1, batch_size=batching.sample_count(x))[0]


def first_training_batch(fit_locals):
    """The first batch of the data `fit` is training on, or None."""
    source = keras_private.training_data_source(fit_locals)
    return None if source is None else batching.take_batches(source, 1)[0]


def check_probe(probe, tail_index, gradient_batches):
    """Raises if `tail_index=True` lacks targets or samples in the `(x, y)` probe."""
    x, y = probe
    if not tail_index:
        return
    if y is None:
        raise ValueError(
            "Argument `probe` must hold targets with tail_index=True: pass probe=(x, y). "
            "Received: a probe without targets"
        )
    size = batching.sample_count(x)
    if size < 2 * gradient_batches:
        raise ValueError(
            f"tail_index=True with gradient_batches={gradient_batches} "
            f"needs a probe of at least {2 * gradient_batches} "
            f"samples. Received: a probe of {size} samples"
        )


def select_kernels(model, layers, tail_index):
    """The monitored kernels' plans by name (`kernel_plan.select`); a tail index needs trainable ones."""
    chosen = kernel_plan.select(model, layers)
    if tail_index and layers is not None:
        frozen = [path for path, plan in chosen.items() if not plan.variable.trainable]
        if frozen:
            raise ValueError(
                f"Argument `tail_index=True` needs trainable kernels. Received: frozen kernels in {frozen}"
            )
    return chosen
