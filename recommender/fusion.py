"""Weighted reciprocal-rank fusion, exactly as Qdrant's ``Fusion.Rrf(k, weights)`` scores it.

The item at (0-based) position ``p`` of a list weighted ``w`` scores ``1 / ((p + 1) / w + k - 1)``
(a weight divides a list's ranks: with 2, a list's 10th counts as another's 5th), and an
item's scores add up over the lists it is in. The engine cannot return the inputs of a
fused query, and text search needs them (which channels found a result, how far it
stands out), so search asks for each channel's list once and fuses them here: a second
search of every channel inside the engine cost more than the rest of the request.
"""

from collections.abc import Sequence

import numpy as np


def rrf(rankings: Sequence[Sequence[int]], k: int = 60, weights: Sequence[float] | None = None,
        limit: int | None = None) -> list[tuple[int, float]]:
    """``(id, score)`` best first (ties by id, so a ranking is repeatable), ``limit`` of them.
    Computed in float32, as the engine does, so that near-ties fall the same way."""
    weights = weights if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[int, np.float32] = {}
    for ranking, weight in zip(rankings, weights):
        if weight <= 0 or not len(ranking):
            continue
        positions = np.arange(1, len(ranking) + 1, dtype=np.float32)
        for item, score in zip(ranking, 1 / (positions / np.float32(weight) + np.float32(k) - np.float32(1))):
            scores[item] = scores[item] + score if item in scores else score
    fused = sorted(((item, float(score)) for item, score in scores.items()), key=lambda entry: (-entry[1], entry[0]))
    return fused if limit is None else fused[:limit]
