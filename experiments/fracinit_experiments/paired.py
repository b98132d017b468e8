"""The paired comparison behind every results table: same seeds, two settings."""

import numpy as np
from scipy import stats


def paired_test(ours, theirs):
    """`(mean, sd, p)` of the differences `ours - theirs`, paired by position.

    p is the paired t-test's two-sided p-value; where every difference is the
    same, it is 1 if they are all zero and 0 otherwise.
    """
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    diff = ours - theirs
    mean, sd = float(diff.mean()), float(diff.std(ddof=1))
    if sd == 0.0:
        return mean, sd, (1.0 if mean == 0.0 else 0.0)
    return mean, sd, float(stats.ttest_rel(ours, theirs).pvalue)
