"""Keras, started with TensorFlow's start-up notices kept off the terminal.

TensorFlow's C++ runtime writes informational lines straight to the
process's stderr while it loads and sets up its devices: "Could not find
cuda drivers", "failed call to cuInit" on a machine without a GPU, CPU
instruction and oneDNN notices. Some come before its logging is configured,
so `TF_CPP_MIN_LOG_LEVEL` cannot silence them. This module starts Keras (and
its backend's devices) with stderr captured, drops exactly those notices and
passes every other line through, errors included.

    from fracinit_experiments.quiet_keras import keras
"""

import contextlib
import os
import re
import sys
import tempfile

# Each pattern is a known, harmless start-up notice of TensorFlow/XLA.
NOTICES = re.compile(
    "|".join(
        [
            r"All log messages before absl::InitializeLog\(\) is called",
            r"cudart_stub\.cc.*Could not find cuda drivers",
            r"failed call to cuInit",
            r"cpu_feature_guard\.cc",
            r"^To enable the following instructions: .* rebuild TensorFlow",
            r"oneDNN custom operations are on",
            r"Unable to register cu(DNN|FFT|BLAS) factory",
            r"computation placer already registered",
        ]
    )
)


@contextlib.contextmanager
def notices_filtered():
    """Captures fd 2 for the block, then writes back every line that is no notice."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines(keepends=True):
                if not NOTICES.search(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


with notices_filtered():
    import keras

    # The backend finds its devices, and logs about CUDA, on the first operation.
    keras.ops.convert_to_numpy(keras.ops.zeros(()))
