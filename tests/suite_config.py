"""Test configuration shared by the package's suite (tests/) and the harness's (experiments/tests/).

Each suite's conftest.py imports these hooks and fixtures, so both run
with the same environment, markers and selection; pytest finds this module
through the `pythonpath` setting in pyproject.toml. Keras is imported
inside the hooks and fixtures, so that the environment below is set before
any backend starts.
"""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# JAX truncates float64 to float32 unless x64 is enabled before it is
# imported; the dtype tests ask for float64 on every backend.
os.environ.setdefault("JAX_ENABLE_X64", "1")
if os.environ.get("KERAS_BACKEND") == "jax":
    # The suite's workloads are tiny, so XLA's compile time dominates on JAX
    # (Keras compiles one random op per new kernel shape when it builds a
    # model: 40 s of the keras.applications tests). Unoptimized code compiles
    # about twice as fast and computes the same values.
    os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")


def pytest_collection_modifyitems(config, items):
    """Deselects (rather than skips) tests that do not concern this run, and starts the longest files first.

    KERAS_FRACINIT_ALL_TESTS=1 keeps the numpy-only tests on any backend (CI's
    run against the installed wheel); KERAS_FRACINIT_EXPECT_INSTALLED=1 adds
    the check that the package under test is the installed one.

    The suite runs once per backend in CI. A feature of some backends only
    (tf.distribute; SavedModel export, which Keras offers on TensorFlow and
    JAX) does not apply elsewhere, and pure numpy/scipy tests need to run only
    once (on the default backend), so they are left out of the other runs
    instead of being reported as skipped.
    """
    import keras

    backend = keras.backend.backend()
    testing_the_wheel = bool(os.environ.get("KERAS_FRACINIT_EXPECT_INSTALLED"))
    selected, deselected = [], []
    for item in items:
        only = item.get_closest_marker("backends")
        if only is not None and backend not in only.args:
            deselected.append(item)
        elif item.get_closest_marker("installed_wheel") and not testing_the_wheel:
            deselected.append(item)
        elif backend != "tensorflow" and item.get_closest_marker("tensorflow_only"):
            deselected.append(item)
        elif (
            backend != "tensorflow"
            and item.get_closest_marker("backend_independent")
            and not os.environ.get("KERAS_FRACINIT_ALL_TESTS")
        ):
            deselected.append(item)
        else:
            selected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = sorted(selected, key=_start_order)


# The files that take longest (20 to 50 s each on 2 cores), in that order. pytest-xdist hands out
# whole files in the collection's order (`--dist loadfile --no-loadscope-reorder`): started
# first, they end about when the short files do, instead of running on alone at the end.
LONGEST_FILES = (
    "test_doc_snippets.py",
    "test_backend_kernel_draws.py",
    "test_protocol.py",
    "test_examples.py",
    "test_monitor_keras.py",
    "test_regime_map.py",
)


def _start_order(item):
    name = item.path.name
    return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)


@pytest.fixture
def float64_backend():
    """Switches keras' floatx to float64 for the duration of a test."""
    import keras

    previous = keras.backend.floatx()
    keras.backend.set_floatx("float64")
    yield
    keras.backend.set_floatx(previous)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "backend_independent: pure numpy/scipy; run once, on the default backend",
    )
    config.addinivalue_line("markers", "backends(*names): runs only on the named Keras backends")
    config.addinivalue_line(
        "markers",
        "installed_wheel: runs only where CI tests the built wheel (KERAS_FRACINIT_EXPECT_INSTALLED=1)",
    )
