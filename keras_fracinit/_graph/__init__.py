"""Reading a model: which kernels it has, how their fans count, and what each one's output reaches.

`model_layers` names every layer by its path, nested models opened; `fans`
finds the kernels of one layer and counts their fans per layer type;
`look_through` says which layers and ops a route may be read through, and
reads activations; `routes` follows every branch from a kernel's output to
the activation it feeds; `kernel_plan` puts these together into one plan
per kernel, and `select` chooses plans by name, path or layer for every
caller. Importing this package imports nothing.
"""
