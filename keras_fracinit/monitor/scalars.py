"""The monitor's own TensorBoard scalars (`log_dir=`), a sink separate from `logs`.

`keras.callbacks.TensorBoard` already records whatever the monitor puts into
`logs` (as `epoch_<key>`). This writer is for runs without it: one scalar per
value, step = epoch (or global batch, prefixed `batch_`).
"""


def check_tensorboard(log_dir):
    """Returns `log_dir` as a string if TensorBoard is installed, else raises."""
    try:
        import tensorboard  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "Argument `log_dir` needs TensorBoard: `pip install tensorboard` "
            f"(or keras-fracinit[tensorboard]). Received: log_dir={log_dir!r}"
        ) from error
    return str(log_dir)


class ScalarWriter:
    """Writes dicts of floats as TensorBoard scalars into `log_dir`."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self._writer = None

    def write(self, values, step, prefix=""):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            for key, value in values.items():
                tf.summary.scalar(prefix + key, value, step=step)
        self._writer.flush()

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
