"""Choosing what a feed page shows: pure functions over arrays, no I/O."""

import numpy as np


def quotas(shares: list[float], total: int) -> list[int]:
    """``total`` slots split in proportion to ``shares`` (largest remainder), every
    share getting at least one slot while there are slots to give."""
    if not shares or total <= 0:
        return [0] * len(shares)
    shares_arr = np.asarray(shares, dtype=np.float64)
    exact = shares_arr / shares_arr.sum() * total
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    for i in np.flatnonzero(counts == 0):  # the weakest interests still get a voice
        donor = int(np.argmax(counts))
        if counts[donor] > 1:
            counts[donor] -= 1
            counts[i] += 1
    return counts.tolist()


def interleave_order(counts: list[int]) -> list[int]:
    """The order in which to fill slots from sources with these ``counts``: smooth
    weighted round robin, so a 3:1 split reads a a b a a a b ..., not a a a a a a b b."""
    credit = [0.0] * len(counts)
    left = list(counts)
    order = []
    for _ in range(sum(counts)):
        for i, n in enumerate(counts):
            if left[i]:
                credit[i] += n
        pick = max((i for i in range(len(counts)) if left[i]), key=lambda i: credit[i])
        credit[pick] -= sum(n for i, n in enumerate(counts) if left[i] or i == pick)
        left[pick] -= 1
        order.append(pick)
    return order


def mmr_pick(
    relevance: np.ndarray,
    vectors: np.ndarray,
    chosen: np.ndarray,
    diversity: float = 0.3,
    duplicate_above: float = 0.95,
) -> int | None:
    """The candidate with the best maximal-marginal-relevance score given the vectors
    already ``chosen``: ``(1 - diversity) * relevance - diversity * max similarity``.
    Candidates within ``duplicate_above`` cosine of a chosen one are near-duplicates and
    never picked. ``None`` when nothing is left."""
    if not len(relevance):
        return None
    if len(chosen):
        redundancy = (vectors @ chosen.T).max(axis=1)
        score = (1 - diversity) * relevance - diversity * redundancy
        score = np.where(redundancy > duplicate_above, -np.inf, score)
    else:
        score = relevance.astype(np.float64)
    best = int(np.argmax(score))
    return None if np.isneginf(score[best]) else best


def mmr(
    relevance: np.ndarray, vectors: np.ndarray, count: int, diversity: float = 0.3, duplicate_above: float = 0.95
) -> list[int]:
    """Up to ``count`` candidate indexes in maximal-marginal-relevance order, near-duplicates
    collapsed (only the most relevant of a group is kept)."""
    picked: list[int] = []
    available = np.ones(len(relevance), bool)
    while len(picked) < count:
        pool = np.flatnonzero(available)
        best = mmr_pick(relevance[pool], vectors[pool], vectors[picked], diversity, duplicate_above)
        if best is None:
            break
        picked.append(int(pool[best]))
        available[pool[best]] = False
    return picked


def affinity(vectors: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """How well each row of ``vectors`` (unit) fits a taste whose interests point along
    ``directions`` (unit rows): its cosine to the nearest interest. Zeros without any."""
    if not len(directions) or not len(vectors):
        return np.zeros(len(vectors), np.float32)
    return (vectors @ directions.T).max(axis=1)
