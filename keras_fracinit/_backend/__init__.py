"""Everything that touches Keras internals or a backend's mechanics.

`keras_private` is the one fence around private Keras APIs; `keras_hook`
registers the initializers when Keras loads (without importing it);
`taps` measures layer signals in one pass; `kernel_draws` draws kernels
in place on the devices that hold them; `batching` turns user data into
numpy batches; `keras_checks` checks the arguments only Keras can judge
(a seed, a dtype). Importing this package imports nothing.
"""
