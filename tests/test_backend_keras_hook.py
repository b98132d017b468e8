"""`keras_fracinit._backend.keras_hook`: a function runs right after Keras loads, once."""

from helpers import last_json_line
from helpers import run_fresh_python

HOOKED = """
import json, sys
from keras_fracinit._backend import keras_hook

calls = []
def note():
    calls.append("keras" in sys.modules and hasattr(sys.modules["keras"], "layers"))

keras_hook.run_once_keras_is_loaded(note)  # after the package's own registration
watchers = [f for f in sys.meta_path if type(f).__name__ == "_KerasImportWatcher"]
assert len(watchers) == 1, watchers
before = list(calls)
import keras
import keras  # already loaded: nothing more
after_import = list(calls)
keras_hook.run_once_keras_is_loaded(note)  # Keras is loaded: runs at once
registered = type(keras.initializers.get("fractional_moment")).__name__
print(json.dumps([before, after_import, calls, registered]))
"""


def test_the_function_runs_once_after_keras_has_loaded_and_at_once_when_it_already_has():
    # Importing the module imports the package, whose own registration waits too.
    before, after_import, calls, registered = last_json_line(run_fresh_python(HOOKED))
    assert before == []
    assert after_import == [True]  # once, with keras fully executed
    assert calls == [True, True]
    assert registered == "FractionalMomentNormal"
