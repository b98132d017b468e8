"""Tail-index estimators for heavy-tailed samples (numpy only).

The paper motivates `s < 2` by heavy-tailed stochastic gradients: if the
gradient noise has tail index `alpha < 2` (infinite variance), its
`alpha`-stable limit suggests preserving a moment of order `s <= alpha`
instead of the variance. These estimators measure `alpha`.

- `block_sum_tail_index`: the estimator of Mohammadi, Mohammadpour and
  Ogata (2015, Cor. 2.4) used by Simsekli, Sagun and Gurbuzbalaban
  (ICML 2019): split `N = K m` samples into `K` blocks of size `m` and sum
  each block into `Y_j`; then
  `1/alpha = (mean log|Y_j| - mean log|X_i|) / log m`.
  It relies on the sums of `m` samples scaling like `m^(1/alpha)`, exact for
  symmetric alpha-stable samples.
- `hill_tail_index`: Hill's estimator on the `k` largest `|X_i|`, the usual
  second opinion.

Reference:
    M. Gurbuzbalaban and Y. Hu, AISTATS 2021; U. Simsekli, L. Sagun and
    M. Gurbuzbalaban, ICML 2019; M. Mohammadi, A. Mohammadpour and H. Ogata,
    Metrika 78 (2015); B. M. Hill, Ann. Statist. 3 (1975).
"""

import math

import numpy as np
from numpy.typing import ArrayLike

from keras_fracinit.theory.activation import check_width


def _samples(samples, minimum):
    values = np.asarray(samples, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError("Argument `samples` must be finite. Received: samples holding NaN or inf")
    if values.size < minimum:
        raise ValueError(
            f"Argument `samples` must hold at least {minimum} values. Received: {values.size} values"
        )
    return values


def block_sum_tail_index(samples: ArrayLike, block_size: int | None = None) -> float:
    """Tail index `alpha` by block sums (Mohammadi et al. 2015, Cor. 2.4).

        1/alpha = (mean_j log|Y_j| - mean_i log|X_i|) / log m,

    with `Y_j` the sums of `K = N // m` consecutive blocks of `m` samples
    (samples past `K m` are dropped). Exact zeros, which carry no tail (dead
    units), are left out first, so `N` counts the nonzero samples and every
    block sums `m` of them.

    Args:
        samples: Array of (centred) noise samples, any shape.
        block_size: Block length `m >= 2`; default `round(sqrt(N))` for the
            `N` nonzero samples.

    Returns:
        The estimate `alpha` (a float; about 2 for Gaussian samples, smaller
        for heavier tails; not clipped).

    Example:

    >>> import numpy as np
    >>> noise = np.random.default_rng(0).standard_cauchy(100_000)
    >>> round(block_sum_tail_index(noise), 1)
    1.0

    Reference:
        Mohammadi, Mohammadpour and Ogata (2015); Simsekli et al. (2019).
    """
    values = _samples(samples, 4)
    # Exact zeros (dead units) carry no tail: blocks are formed from the rest,
    # so each block sums m samples of the law whose index is estimated.
    values = values[values != 0]
    if values.size == 0:
        raise ValueError(
            "Argument `samples` must not be all zeros (no tail to estimate). Received: all zeros"
        )
    m = round(math.sqrt(values.size)) if block_size is None else check_width(block_size, "block_size")
    if m < 2 or m > values.size // 2:
        raise ValueError(
            "Argument `block_size` must be in [2, N/2] for the N nonzero samples. "
            f"Received: block_size={block_size} with N={values.size}"
        )
    blocks = values[: (values.size // m) * m].reshape(-1, m).sum(axis=1)
    nonzero = np.abs(values)
    block_sums = np.abs(blocks[blocks != 0])
    inverse = (np.mean(np.log(block_sums)) - np.mean(np.log(nonzero))) / math.log(m)
    return float(1.0 / inverse) if inverse > 0 else math.inf


def hill_tail_index(samples: ArrayLike, k: int | None = None) -> float:
    """Hill's estimate of the tail index of `|X|` from its `k` largest values.

        alpha = 1 / mean_{i<k} log(|X|_(i) / |X|_(k)),

    with `|X|_(0) >= |X|_(1) >= ...` the order statistics. Its standard error
    is about `alpha / sqrt(k)`; it is biased when `k` reaches beyond the
    power-law part of the tail.

    Args:
        samples: Array of samples, any shape.
        k: Number of upper order statistics; default `round(sqrt(N))`.

    Returns:
        The estimate `alpha`, a float.

    Example:

    >>> import numpy as np
    >>> pareto = np.random.default_rng(0).pareto(1.5, 100_000) + 1
    >>> abs(hill_tail_index(pareto, k=1000) - 1.5) < 4 * 1.5 / 1000**0.5
    True

    Reference:
        Hill (1975).
    """
    values = np.abs(_samples(samples, 3))
    k = round(math.sqrt(values.size)) if k is None else check_width(k, "k")
    if not 1 <= k < values.size:
        raise ValueError(
            f"Argument `k` must be in [1, N) for N samples. Received: k={k} with N={values.size}"
        )
    top = np.sort(values)[::-1][: k + 1]
    if top[k] <= 0:
        raise ValueError(
            f"Argument `samples` must hold at least k + 1 = {k + 1} nonzero values. "
            f"Received: {np.count_nonzero(values)} nonzero values"
        )
    return float(1.0 / np.mean(np.log(top[:k] / top[k])))
