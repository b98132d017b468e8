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
- `standardized_noise` and `per_entry_tail_index`: for noise that comes as
  draws of many entries (a kernel's gradient noise over mini-batches). Pooled
  over entries, samples that do not share one scale (or one mean) read as
  heavy-tailed to both estimators above even when each entry's noise is
  Gaussian. `per_entry_tail_index` compares each entry's block sums with its
  own draws, so per-entry means and scales cancel exactly: it measures the
  tail across draws (iterations), pooled over entries.

Reference:
    M. Gurbuzbalaban and Y. Hu, AISTATS 2021; U. Simsekli, L. Sagun and
    M. Gurbuzbalaban, ICML 2019; M. Mohammadi, A. Mohammadpour and H. Ogata,
    Metrika 78 (2015); B. M. Hill, Ann. Statist. 3 (1975); Z. Xie, I. Sato
    and M. Sugiyama, ICLR 2021 (heavy tails across parameters, not across
    iterations).
"""

import math

import numpy as np
from numpy.typing import ArrayLike

from keras_fracinit import _checks


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

    Examples:
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
    m = (
        round(math.sqrt(values.size))
        if block_size is None
        else _checks.check_positive_int(block_size, "block_size")
    )
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

    Examples:
        >>> import numpy as np
        >>> pareto = np.random.default_rng(0).pareto(1.5, 100_000) + 1
        >>> abs(hill_tail_index(pareto, k=1000) - 1.5) < 4 * 1.5 / 1000**0.5
        True

    Reference:
        Hill (1975).
    """
    values = np.abs(_samples(samples, 3))
    k = round(math.sqrt(values.size)) if k is None else _checks.check_positive_int(k, "k")
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


def paired_differences(draws: ArrayLike) -> np.ndarray:
    """Differences of consecutive pairs of draws: `d_ke = X_(2k)e - X_(2k+1)e`.

    A difference of two independent draws is symmetric and has the draws'
    tail index, whatever their common mean, and no centring ties the draws
    of an entry together.

    Args:
        draws: Array of shape `(draws, ...)`, at least 2 draws; an odd last
            draw is dropped.

    Returns:
        A float64 array of shape `(draws // 2, entries)`.
    """
    values = np.asarray(draws, dtype=np.float64)
    if values.ndim < 2 or values.shape[0] < 2:
        raise ValueError(
            "Argument `draws` must have one row per draw and at least 2 draws: shape (draws, ...). "
            f"Received: shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("Argument `draws` must be finite. Received: draws holding NaN or inf")
    flat = values.reshape(values.shape[0], -1)
    pairs = flat.shape[0] // 2
    return flat[0 : 2 * pairs : 2] - flat[1 : 2 * pairs : 2]


def _blocks(differences, block_size):
    """`(grouped, valid)`: the differences as `(groups, block_size, entries)`, and
    where a block has a logarithm (no zero difference, no zero sum)."""
    groups = differences.shape[0] // block_size
    grouped = differences[: groups * block_size].reshape(groups, block_size, -1)
    return grouped, np.all(grouped != 0, axis=1) & (grouped.sum(axis=1) != 0)


def block_terms(draws: ArrayLike, block_size: int = 2) -> tuple[np.ndarray, int]:
    """Per-group terms of `per_entry_tail_index`, independent across groups.

    Group `g` holds `block_size` consecutive draw-pair differences of every
    entry; its term is

        T_g = mean_e (log|sum_(k in g) d_ke| - mean_(k in g) log|d_ke|),

    and `E[T_g] = log(block_size) / alpha` for symmetric alpha-stable draws.
    Each entry's term is unchanged by its scale. An entry whose draws do not
    differ within a pair (zero gradient on both mini-batches: an inactive
    unit) has no logarithm there and is left out of that group. Groups use
    disjoint draws, so for independent draws the `T_g` are independent even
    when entries are correlated.

    Args:
        draws: Array of shape `(draws, ...)`, at least `2 block_size` draws.
        block_size: Differences summed per block, `m >= 2`.

    Returns:
        `(T, entries)`: the `draws // (2 block_size)` terms (nan for a group
            without any entry to measure) and the number of entries measured in
            at least one group.
    """
    m = _checks.check_positive_int(block_size, "block_size")
    differences = paired_differences(draws)
    if m < 2 or differences.shape[0] < m:
        raise ValueError(
            "Argument `block_size` must be at least 2 and leave one block of draw-pair differences: "
            f"at most {differences.shape[0]} here. Received: block_size={block_size} with "
            f"{2 * differences.shape[0]} draws"
        )
    grouped, valid = _blocks(differences, m)
    if not valid.any():
        raise ValueError(
            "Argument `draws` must have an entry whose draws differ (no tail to estimate). "
            "Received: draws whose entries do not differ between mini-batches"
        )
    safe = np.where(valid[:, None, :], grouped, 1.0)
    cells = np.log(np.abs(safe.sum(axis=1))) - np.log(np.abs(safe)).mean(axis=1)
    counts = valid.sum(axis=1)
    terms = np.full(len(counts), np.nan)
    measured = counts > 0
    terms[measured] = np.where(valid, cells, 0.0)[measured].sum(axis=1) / counts[measured]
    return terms, int(valid.any(axis=0).sum())


def carries_noise(draws: ArrayLike) -> bool:
    """Whether `per_entry_tail_index` has something to estimate in `draws`.

    True when the draws are finite, number at least 4 (two draw-pair
    differences) and some entry differs within two consecutive pairs.
    """
    values = np.asarray(draws, dtype=np.float64)
    if values.ndim < 2 or values.shape[0] < 4 or not np.all(np.isfinite(values)):
        return False
    return bool(_blocks(paired_differences(values), 2)[1].any())


def standardized_noise(draws: ArrayLike) -> np.ndarray:
    """Noise standardized per entry: differences of draw pairs over each entry's own scale.

        d_ke = X_(2k)e - X_(2k+1)e,    z_ke = d_ke / exp(mean_k log|d_ke|),

    for draws `X_ie` (row `i` one draw, for instance one mini-batch's
    gradient; column `e` one entry), the mean over the nonzero differences.
    Each entry's per-draw mean cancels in the differences and its scale in
    the division, so `z` pools entries of different scales into one sample
    whose tail is the draws' tail. Zero differences stay zero; entries
    without a nonzero difference (dead units) are left out.

    Args:
        draws: Array of shape `(draws, ...)`, at least 2 draws; an odd last
            draw is dropped.

    Returns:
        A float64 array of shape `(draws // 2, kept entries)`.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> scales = np.exp(2 * rng.standard_normal(1000))  # per-entry scales
        >>> z = standardized_noise(3 + scales * rng.standard_normal((8, 1000)))
        >>> z.shape, round(float(np.abs(np.mean(np.log(np.abs(z)), axis=0)).max()), 12)
        ((4, 1000), 0.0)

    Reference:
        Xie, Sato and Sugiyama, ICLR 2021 (why pooled entries mislead).
    """
    differences = paired_differences(draws)
    nonzero = differences != 0
    kept = nonzero.any(axis=0)
    differences, nonzero = differences[:, kept], nonzero[:, kept]
    logs = np.log(np.abs(np.where(nonzero, differences, 1.0)))
    scale = np.exp(logs.sum(axis=0) / nonzero.sum(axis=0))
    return differences / scale


def per_entry_tail_index(draws: ArrayLike, block_size: int = 2) -> float:
    """Tail index across draws, pooled over entries (block sums within each entry).

        1/alpha = mean_(j, e) log|sum_(k in block j) z_ke| / log m,

    with `z` the `standardized_noise` of the draws and blocks of
    `m = block_size` consecutive differences of one entry (the differences
    past the last whole block, and blocks with a zero difference, are
    dropped: see `block_terms`). This is the block-sum estimator
    of Mohammadi et al. (2015) with each entry as its own sample: exact in
    expectation (of `1/alpha`) for symmetric alpha-stable draws, and
    unchanged by per-entry means and scales.

    Args:
        draws: Array of shape `(draws, ...)`: one row per draw (a
            mini-batch's gradient, or the gradient noise), at least
            `2 block_size` draws.
        block_size: Differences summed per block, `m >= 2`.

    Returns:
        The estimate `alpha` (about 2 for Gaussian draws whatever their
            per-entry scales; `inf` when the block sums do not grow).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> scales = np.exp(rng.standard_normal(4096))  # one scale per entry
        >>> draws = scales * rng.standard_normal((32, 4096))
        >>> round(per_entry_tail_index(draws), 1)  # Gaussian: 2
        2.0
        >>> round(block_sum_tail_index(draws - draws.mean(axis=0)), 1)  # pooled: reads heavy
        1.5

    Reference:
        Mohammadi, Mohammadpour and Ogata (2015); Xie, Sato and Sugiyama
        (ICLR 2021).
    """
    terms, _ = block_terms(draws, block_size)
    inverse = float(np.nanmean(terms)) / math.log(block_size)
    return 1.0 / inverse if inverse > 0 else math.inf
