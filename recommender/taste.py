"""A user's taste: a few interests in CLIP space, learned from what they did.

Pure functions over arrays: no clock, settings or I/O; callers pass ``now`` and the
parameters. Every signal (a like, a click, a search's text embedding) adds
``weight * v`` to one interest's running sum; sums decay exponentially with a half-life,
so an interest fades unless fed. One mean of mixed tastes points at nothing, so signals
join the nearest interest only when they are close to it (cosine >= ``join_above``);
otherwise they start a new interest, up to ``max_interests`` (then the nearest takes
them). ``build_taste`` replays signals in time order and refines the assignment with
weighted spherical k-means: the exact rebuild used after an unlike or a forget.

A signal with a negative weight ("not interested") never starts an interest: it pulls
the interest it is close to (cosine >= ``join_above``) away from itself and shrinks its
share; one far from every interest leaves the taste as it is (the image itself is kept
out of the feed all the same).
"""

import math
from dataclasses import dataclass, field

import numpy as np

EXEMPLARS = 3
"""Strongest signals remembered per interest, to explain recommendations."""


@dataclass(frozen=True)
class Signal:
    id: int
    vector: np.ndarray
    weight: float
    at: float
    """Epoch seconds."""


@dataclass(frozen=True)
class Taste:
    sums: np.ndarray
    """(interests, dim): the decayed, weighted sum of each interest's signal vectors."""
    weights: np.ndarray
    """(interests,): the decayed total weight of each interest."""
    at: float
    """The time the sums are decayed to."""
    exemplars: list[list[tuple[int, float]]] = field(default_factory=list)
    """Per interest, its strongest signals as (signal id, decayed weight), strongest first."""

    @classmethod
    def empty(cls, dim: int, at: float = 0.0) -> "Taste":
        return cls(np.zeros((0, dim), np.float32), np.zeros(0, np.float32), at, [])

    def __len__(self) -> int:
        return len(self.weights)


@dataclass(frozen=True)
class Interest:
    direction: np.ndarray
    """Unit vector: where in CLIP space this interest points."""
    share: float
    """Its part of the user's whole (decayed) taste, 0-1."""
    exemplars: list[int]
    """Signal ids that explain it, strongest first."""


def decay_factor(elapsed: float, half_life: float) -> float:
    return float(0.5 ** (max(elapsed, 0.0) / half_life))


def decayed(taste: Taste, now: float, half_life: float) -> Taste:
    """The same taste seen from ``now``: every sum and weight multiplied by the decay."""
    f = decay_factor(now - taste.at, half_life)
    return Taste(taste.sums * f, taste.weights * f, max(now, taste.at), _scaled(taste.exemplars, f))


def update_taste(
    taste: Taste, signal: Signal, half_life: float, max_interests: int = 4, join_above: float = 0.5
) -> Taste:
    """``taste`` with one more signal, in O(interests x dim)."""
    current = decayed(taste, signal.at, half_life)
    weight = signal.weight * decay_factor(current.at - signal.at, half_life)
    vector = unit(signal.vector)
    sums, weights = current.sums.copy(), current.weights.copy()
    exemplars = [list(ex) for ex in current.exemplars]
    similarity = unit(sums) @ vector if len(weights) else None
    if weight < 0:
        if similarity is not None and similarity[nearest := int(similarity.argmax())] >= join_above:
            sums[nearest] += weight * vector
            weights[nearest] += weight
    elif (joined := _joined(similarity, max_interests, join_above)) is None:
        sums = np.vstack([sums, weight * vector[None, :]]).astype(np.float32)
        weights = np.append(weights, weight).astype(np.float32)
        exemplars.append([(signal.id, weight)])
    else:
        sums[joined] += weight * vector
        weights[joined] += weight
        exemplars[joined] = _strongest(exemplars[joined] + [(signal.id, weight)])
    return Taste(sums, weights, current.at, exemplars)


def _joined(similarity: np.ndarray | None, max_interests: int, join_above: float) -> int | None:
    """The interest a positive signal joins, by its cosine ``similarity`` to each: the nearest
    when close enough or when there is no room for more; None for a new interest."""
    if similarity is None:
        return None
    nearest = int(similarity.argmax())
    return nearest if similarity[nearest] >= join_above or len(similarity) >= max_interests else None


def build_taste(
    signals: list[Signal],
    dim: int,
    now: float,
    half_life: float,
    max_interests: int = 4,
    join_above: float = 0.5,
    iterations: int = 10,
) -> Taste:
    """The taste these signals make, exactly: the positive ones replayed in time order (as
    the incremental updates saw them), the assignment refined by weighted spherical
    k-means, then the negative ones taken off the interests they are close to."""
    ordered = sorted((s for s in signals if s.weight >= 0), key=lambda s: (s.at, s.id))
    if not ordered:
        taste = Taste.empty(dim, now)
    else:
        vectors = unit(np.stack([s.vector for s in ordered]).astype(np.float32))
        taste = _replayed(ordered, vectors, half_life, max_interests, join_above)
        if len(taste) < 2:
            taste = decayed(taste, now, half_life)
        else:
            taste = _refined(taste, ordered, vectors, now, half_life, iterations)
    for signal in sorted((s for s in signals if s.weight < 0), key=lambda s: (s.at, s.id)):
        taste = update_taste(taste, signal, half_life, max_interests, join_above)
    return decayed(taste, now, half_life)


def _replayed(ordered: list[Signal], vectors: np.ndarray, half_life: float, max_interests: int,
              join_above: float) -> Taste:
    """What ``update_taste`` makes of the positive ``ordered`` signals (unit ``vectors``)
    folded one by one, in one pass over arrays. Decay scales every sum alike, so it changes
    no direction and no choice of interest: the sums are kept undecayed here (each signal
    weighted ``2 ** (age / half_life)`` from a base time, moved on before that grows large)
    and decayed once at the end."""
    sums, weights = np.zeros((max_interests, vectors.shape[1])), np.zeros(max_interests)
    inverse_norms = np.zeros(max_interests)  # 0 for a zero sum: its direction is nothing, as unit() says
    exemplars: list[list[tuple[int, float]]] = []
    base, count = ordered[0].at, 0
    for signal, vector in zip(ordered, vectors.astype(np.float64)):
        growth = (signal.at - base) / half_life
        if growth > 64:  # keep the numbers in range: decay what there is to this signal's time
            factor = 0.5**growth
            sums *= factor
            inverse_norms /= factor
            weights *= factor
            exemplars = _scaled(exemplars, factor)
            base, growth = signal.at, 0.0
        weight = signal.weight * 2.0**growth
        similarity = (sums[:count] @ vector) * inverse_norms[:count] if count else None
        joined = _joined(similarity, max_interests, join_above)
        if joined is None:
            joined, count = count, count + 1
            exemplars.append([(signal.id, weight)])
        else:
            exemplars[joined] = _strongest(exemplars[joined] + [(signal.id, weight)])
        row = sums[joined]
        row += weight * vector
        norm = math.sqrt(row @ row)
        inverse_norms[joined] = 1 / norm if norm > 0 else 0.0
        weights[joined] += weight
    at = ordered[-1].at
    factor = 0.5 ** ((at - base) / half_life)
    return Taste((sums[:count] * factor).astype(np.float32), (weights[:count] * factor).astype(np.float32), at,
                 _scaled(exemplars, factor))


def _refined(taste: Taste, ordered: list[Signal], vectors: np.ndarray, now: float, half_life: float,
             iterations: int) -> Taste:
    """The interests of ``taste`` re-found by weighted spherical k-means over its signals.
    The weights are decayed to the newest signal in float64 (the clustering is the same at any
    common scale), and the result to ``now`` at the end: signals many half-lives old weigh
    almost nothing, never exactly nothing to the clustering."""
    at = ordered[-1].at
    weights = np.array([s.weight * decay_factor(at - s.at, half_life) for s in ordered])
    centres = unit(taste.sums)
    assignment = np.argmax(vectors @ centres.T, axis=1)
    for _ in range(iterations):
        sums = _summed(assignment, len(centres), weights, vectors)
        kept = np.flatnonzero(np.linalg.norm(sums, axis=1) > 0)  # an interest may lose all its signals
        if not len(kept):  # nothing weighs anything
            return decayed(taste, now, half_life)
        centres = unit(sums[kept])
        new_assignment = np.argmax(vectors @ centres.T, axis=1)
        if len(kept) == len(sums) and np.array_equal(new_assignment, assignment):
            break
        assignment = new_assignment
    factor = decay_factor(now - at, half_life)
    sums = _summed(assignment, len(centres), weights, vectors) * factor
    totals = np.bincount(assignment, weights=weights, minlength=len(centres)) * factor
    ids = np.array([s.id for s in ordered])
    strongest_first = np.lexsort((ids, -weights))  # as _strongest orders them
    exemplars = [[(int(ids[j]), float(weights[j] * factor))
                  for j in strongest_first[assignment[strongest_first] == i][:EXEMPLARS]]
                 for i in range(len(centres))]
    return Taste(sums.astype(np.float32), totals.astype(np.float32), max(now, at), exemplars)


def interests(taste: Taste, now: float, half_life: float, least_share: float = 0.05) -> list[Interest]:
    """The taste's interests seen from ``now``, strongest first; those under
    ``least_share`` of the whole are dropped (and the rest renormalised)."""
    current = decayed(taste, now, half_life)
    weights = np.maximum(current.weights, 0)  # "not interested" may take an interest to nothing, never below
    total = float(weights.sum())
    if total <= 0:
        return []
    shares = weights / total
    keep = [i for i in np.argsort(-shares, kind="stable") if shares[i] >= least_share]
    kept_total = float(shares[keep].sum())
    return [
        Interest(unit(current.sums[i]), float(shares[i]) / kept_total, [sid for sid, _ in current.exemplars[i]])
        for i in keep
    ]


def _summed(assignment: np.ndarray, clusters: int, weights: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Per cluster, the weighted sum of its vectors (one matrix product)."""
    members = np.zeros((clusters, len(vectors)), weights.dtype)
    members[assignment, np.arange(len(vectors))] = weights
    return members @ vectors


def _scaled(exemplars: list[list[tuple[int, float]]], factor: float) -> list[list[tuple[int, float]]]:
    """The exemplars with their weights multiplied by ``factor`` (a decay)."""
    return [[(sid, w * factor) for sid, w in ex] for ex in exemplars]


def _strongest(exemplars: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return sorted(exemplars, key=lambda e: (-e[1], e[0]))[:EXEMPLARS]


def unit(x: np.ndarray) -> np.ndarray:
    """``x`` (one vector or rows of them) scaled to length 1; zero stays zero."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(norm > 0, norm, 1)).astype(np.float32)
