"""How strong a search result is, judged per query (pure).

A cosine means nothing on its own: CLIP's text-to-image cosines of a good match sit around
0.3 for one query and 0.22 for another, and whatever is asked, something comes first. So a
dense hit is strong when it stands far out of *that query's* score distribution: its
distance above the median of the query's candidates, in units of their spread (the median
absolute deviation, robust to the few real matches themselves). In a channel that found
nothing in particular, the best of 300 candidates is about 7 such units above the median
(the top of a smooth, exponential-like tail) and above 14 less than once in a hundred
queries; a real match stands much further out.
"""

from collections.abc import Sequence

import numpy as np

STRONG_SPREADS = 14.0
"""How many spreads above the median a dense score must be to be strong."""
MIN_CANDIDATES = 30
"""Fewer candidates say nothing about the distribution: no dense hit is called strong."""


def strong_above(scores: Sequence[float], spreads: float = STRONG_SPREADS) -> float:
    """The score above which a candidate of this query stands out (``inf``: none can)."""
    if len(scores) < MIN_CANDIDATES:
        return float("inf")
    values = np.sort(np.asarray(scores, dtype=np.float64))
    median = _median(values)
    spread = 1.4826 * _median(np.sort(np.abs(values - median)))  # MAD, scaled to a normal's sigma
    if spread <= 0:
        return float("inf")
    return median + spreads * spread


def _median(ordered: np.ndarray) -> float:
    """``np.median`` of values already in order (a third of its time on a few hundred)."""
    n = len(ordered)
    return float((ordered[(n - 1) // 2] + ordered[n // 2]) / 2)
