"""The research harness behind keras-fracinit's results pages.

Not part of the keras-fracinit wheel: install it from a checkout with
`python -m pip install -e ./experiments` (next to `-e .`). Every module with
a command line runs as `python -m fracinit_experiments.<module> --help`:

- `mnist`, `cifar10`: the paper's protocol (Dense stacks, several inits and
  seeds), with `protocol` (training, summaries, plots) and `side_by_side`
  (every network of a run at once, on `stacked_dense`'s JAX program);
- `regime_map`, `regime_map_report`: the width x depth x s sweep and its
  statistics; `suggest_s_table`: `suggest_s` checked against that sweep;
- `protocol_report`, `theory_figures`: the tables and figures of the docs,
  written between markers by `docs_sections`;
- `flags`, `quiet_keras`, `paired`: command-line flags, Keras started without
  TensorFlow's start-up notices, the paired comparison of two settings.
"""
