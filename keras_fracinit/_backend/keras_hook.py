"""Registers the initializers with Keras when Keras loads, without loading it.

Keras resolves initializer names such as `"fractional_moment"` through its
registry of custom objects, so the registration has to happen before a model
is built or loaded. Importing Keras to register eagerly would cost every user
of the pure-numpy half (`keras_fracinit.theory`, the command line) the
seconds it takes to start a backend. Instead, if Keras is already imported
the initializers register at once; otherwise a one-shot import hook
registers them right after `import keras` has finished.
"""

import importlib
import importlib.abc
import importlib.util
import sys

_INITIALIZERS_MODULE = "keras_fracinit.initializers"


def _register():
    importlib.import_module(_INITIALIZERS_MODULE)


class _RegisterAfterExec(importlib.abc.Loader):
    """Keras' own loader, followed by the registration."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _register()

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
            spec.loader = _RegisterAfterExec(spec.loader)
        return spec


def _remove_watchers():
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _KerasImportWatcher)]


def register_initializers_with_keras():
    """Registers now if Keras is loaded, else as soon as it is."""
    if "keras" in sys.modules:
        _register()
    elif not any(isinstance(finder, _KerasImportWatcher) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KerasImportWatcher())
