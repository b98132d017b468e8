"""The package's suite: the shared configuration (suite_config.py) and nothing else."""

from suite_config import float64_backend  # noqa: F401
from suite_config import pytest_collection_modifyitems  # noqa: F401
from suite_config import pytest_configure  # noqa: F401
