"""`python -m keras_fracinit`: see `keras_fracinit.cli`."""

import os
import sys

# A command-line user wants the table, not TensorFlow's start-up log lines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_fracinit.cli import main  # noqa: E402

sys.exit(main())
