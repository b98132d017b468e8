"""Runs a function right after Keras loads, without loading it.

The package registers its initializers' names with Keras this way (see
`keras_fracinit/__init__.py`): the registration has to happen before a
model is built or loaded, but importing Keras to register eagerly would cost
every user of the pure-numpy half (`keras_fracinit.theory`, the command
line) the seconds it takes to start a backend. If Keras is already imported
the function runs at once; otherwise a one-shot import hook runs it right
after `import keras` has finished.
"""

import importlib
import importlib.abc
import importlib.util
import sys

# What runs right after `import keras`, in the order it was asked for.
_pending: list = []


def _run_pending():
    while _pending:
        _pending.pop(0)()


class _RunAfterExec(importlib.abc.Loader):
    """Keras' own loader, followed by the pending functions."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _run_pending()

    def __getattr__(self, name):
        # Resource readers and the like: whatever Keras' loader offers.
        return getattr(self._loader, name)


class _KerasImportWatcher(importlib.abc.MetaPathFinder):
    """Finds `keras` the usual way and wraps its loader, once."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        _remove_watchers()
        spec = importlib.util.find_spec("keras")
        if spec is not None and spec.loader is not None:
            spec.loader = _RunAfterExec(spec.loader)
        return spec


def _remove_watchers():
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _KerasImportWatcher)]


def run_once_keras_is_loaded(function):
    """Calls `function()` now if Keras is loaded, else right after `import keras` (once)."""
    if "keras" in sys.modules:
        function()
        return
    _pending.append(function)
    if not any(isinstance(finder, _KerasImportWatcher) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KerasImportWatcher())
