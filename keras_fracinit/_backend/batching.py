"""Batches of data as numpy structures, whatever form the user's data takes."""

import keras


def take_batches(dataset, count, batch_size=32):
    """The first `count` `(x, y)` batches of `dataset` as numpy structures.

    Args:
        dataset: A tuple `(x, y)` of arrays (cut into full batches of
            `batch_size`), or an iterable of batches.
        count: Number of batches wanted.
        batch_size: Batch size for a tuple of arrays.

    Raises:
        ValueError: If `dataset` holds fewer than `count` batches.
    """
    if isinstance(dataset, tuple):
        x, y = keras.utils.unpack_x_y_sample_weight(dataset)[:2]
        size = sample_count(x)
        # Full batches only: a short last batch would have a larger noise scale.
        batches = [
            (_rows(x, start, batch_size), _rows(y, start, batch_size))
            for start in range(0, size - batch_size + 1, batch_size)
        ][:count]
    elif isinstance(dataset, keras.utils.PyDataset):
        batches = [
            keras.utils.unpack_x_y_sample_weight(dataset[i])[:2] for i in range(min(count, len(dataset)))
        ]
    else:
        batches = []
        for batch in dataset:
            if not isinstance(batch, tuple):
                batch = (batch,)
            batches.append(keras.utils.unpack_x_y_sample_weight(batch)[:2])
            if len(batches) == count:
                break
    if len(batches) < count:
        raise ValueError(
            f"Argument `dataset` must hold at least {count} batches. Received: {len(batches)} batches"
        )
    return [(_to_numpy(x), _to_numpy(y)) for x, y in batches]


def sample_count(structure):
    """Number of samples (leading dimension) of an array or a structure of arrays."""
    return len(keras.tree.flatten(structure)[0])


def _rows(structure, start, size):
    if structure is None:
        return None
    return keras.tree.map_structure(lambda a: a[start : start + size], structure)


def _to_numpy(structure):
    if structure is None:
        return None
    return keras.tree.map_structure(keras.ops.convert_to_numpy, structure)
