"""`python -m keras_fracinit`: see `keras_fracinit.cli`."""

import sys

from keras_fracinit.cli import main

sys.exit(main())
