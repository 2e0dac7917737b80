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
    lists = [(np.asarray(r, dtype=np.int64), w) for r, w in zip(rankings, weights) if w > 0 and len(r)]
    if not lists:
        return []
    items, where = np.unique(np.concatenate([ids for ids, _ in lists]), return_inverse=True)
    scores, start = np.zeros(len(items), dtype=np.float32), 0
    for ids, weight in lists:  # one list after the other, as the engine adds them up
        positions = np.arange(1, len(ids) + 1, dtype=np.float32)
        scores[where[start : start + len(ids)]] += 1 / (positions / np.float32(weight) + np.float32(k) - np.float32(1))
        start += len(ids)
    order = np.lexsort((items, -scores))[:limit]
    return list(zip(items[order].tolist(), scores[order].astype(np.float64).tolist()))
