"""The research harness's suite: the package suite's shared configuration (tests/suite_config.py)."""

from suite_config import pytest_collection_modifyitems  # noqa: F401
from suite_config import pytest_configure  # noqa: F401
