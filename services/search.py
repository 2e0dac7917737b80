"""Text search: one query, two indexes, one ranking, stable pages.

The query is embedded once with CLIP's text tower (the vector is cached in Redis, shared
by every API process) and searched in the ``image`` vectors (text to image, across
modalities) and the ``text`` vectors (the captions). The two lists are fused by
reciprocal rank, which needs no common scale: cross-modal cosines sit around 0.2-0.35
while caption cosines reach 0.9.

Approximate search with a growing offset can repeat or skip images between pages, so a
query is ranked once, up to ``MAX_RANKED`` results, and the ranking is kept in Redis for
``RANKING_TTL`` seconds; every page is a slice of it. Page 1 always ranks afresh (a new
search sees new images); later pages use the ranking of the page 1 they follow.

The deep searches ask for ids and scores only; payloads (caption, source) are fetched
for the one page shown, which makes a search about three times cheaper.
"""

import hashlib
import json
import logging
from concurrent.futures import Executor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import redis

from core.decoding import CheckedImage, check_image, decode_scaled
from core.errors import TimedOut
from core.metrics import timed
from core.runtime import OpenSpace, Runtime
from core.vectors import IMAGE, TEXT, Hit, SearchFilter

log = logging.getLogger(__name__)
MAX_RANKED = 300
"""Results one query is ranked to (20 pages of 15)."""
RANKING_TTL = 600
QUERY_VECTOR_TTL = 24 * 3600
RRF_K = 60
"""Reciprocal-rank constant (Cormack et al.; Qdrant's default too)."""


class Ranked(NamedTuple):
    id: int
    score: float
    matched: list[str]


@dataclass(frozen=True)
class Match:
    id: int
    score: float
    """The best cosine similarity among the indexes that matched."""
    matched: list[str]
    """Which indexes found it: ``image``, ``text`` or both."""
    caption: str | None
    source: str | None


@dataclass(frozen=True)
class SearchPage:
    results: list[Match]
    page: int
    limit: int
    total_found: int
    """Results in the whole ranking (at most ``MAX_RANKED``); with a score threshold, the
    number of strong matches."""
    query_vector: np.ndarray | None = None
    """The query's embedding when this page ranked afresh (None for a cached ranking)."""
    space_id: int | None = None
    """The vector space searched (``query_vector`` is in it)."""


def search_text(
    runtime: Runtime,
    query: str,
    page: int = 1,
    limit: int = 15,
    score_threshold: float | None = None,
    where: SearchFilter | None = None,
) -> SearchPage:
    where = where or SearchFilter()
    space = runtime.space  # one space throughout, even if a reindex switches meanwhile
    key = _ranking_key(space, query, score_threshold, where)
    ranking = _cached_ranking(runtime, key) if page > 1 else None
    vector = None
    if ranking is None:
        vector, new_vector = _query_vector(runtime, space, query)
        with timed("search"):
            hits = {
                index: space.vectors.search(index, vector, MAX_RANKED, score_threshold, where, with_payload=False)
                for index in (IMAGE, TEXT)
            }
        with timed("fuse"):
            ranking = fuse(hits)
        _cache_set(runtime, {key: (json.dumps(ranking), RANKING_TTL), **new_vector})
    start = (page - 1) * limit
    results = with_payloads(space, ranking[start : start + limit])
    return SearchPage(results, page, limit, len(ranking), vector, space.id)


def search_by_example(
    runtime: Runtime,
    threads: Executor,
    data: bytes,
    limit: int = 10,
    score_threshold: float | None = None,
    where: SearchFilter | None = None,
) -> tuple[CheckedImage, list[Hit]]:
    """Images that look like the uploaded one (nothing of it is kept). Validation as for
    uploads; embedding and search together, on ``threads``, may take
    ``limits.search_timeout`` seconds (then ``TimedOut``; the caller's thread is free)."""
    limits = runtime.settings.limits
    checked = check_image(data, limits)
    space = runtime.space

    def embed_and_search() -> list[Hit]:
        with timed("decode"):
            pixels = decode_scaled(data, space.embedder.image_size, 0, limits)
        with timed("embed"):
            vector = space.embedder.embed_images([pixels])[0]
        with timed("search"):
            return space.vectors.search(IMAGE, vector, limit, score_threshold, where)

    future = threads.submit(embed_and_search)
    try:
        return checked, future.result(timeout=limits.search_timeout)
    except FutureTimeout:
        raise TimedOut(
            f"Searching by this image took longer than {limits.search_timeout:g} s; try again in a moment."
        ) from None


def query_vector(runtime: Runtime, text: str) -> np.ndarray:
    """The text's CLIP embedding in the active space, from the shared cache when someone
    asked it before."""
    vector, new = _query_vector(runtime, runtime.space, text)
    _cache_set(runtime, new)
    return vector


def _query_vector(runtime: Runtime, space: OpenSpace, text: str) -> tuple[np.ndarray, dict]:
    """The vector, and the cache entry to write when it was computed (the caller writes
    it with its own, in one round trip)."""
    key = f"findimage:query-vector:{_digest(*_identity(space), text)}"
    cached = _cache_get(runtime, key)
    if cached is not None:
        return np.frombuffer(cached, dtype=np.float32), {}
    with timed("embed"):
        vector = space.embedder.embed_texts([text])[0]
    return vector, {key: (vector.tobytes(), QUERY_VECTOR_TTL)}


def fuse(hits_by_index: dict[str, list[Hit]], limit: int = MAX_RANKED) -> list[Ranked]:
    """Reciprocal-rank fusion of best-first hit lists; ties go to the lower id, so the
    ranking is deterministic."""
    fused: dict[int, list] = {}  # id -> [fused score, best cosine, indexes that matched]
    for index, hits in hits_by_index.items():
        for rank, hit in enumerate(hits, start=RRF_K + 1):
            entry = fused.get(hit.id)
            if entry is None:
                fused[hit.id] = [1.0 / rank, hit.score, [index]]
            else:
                entry[0] += 1.0 / rank
                entry[1] = max(entry[1], hit.score)
                entry[2].append(index)
    order = sorted(fused.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
    return [Ranked(i, round(float(best), 6), matched) for i, (_, best, matched) in order]


def with_payloads(space: OpenSpace, ranked: list[Ranked]) -> list[Match]:
    """The ranked images with their captions and sources; an image deleted since it was
    ranked is left out."""
    payloads = space.vectors.payloads([r.id for r in ranked])
    return [
        Match(r.id, r.score, r.matched, payload.get("caption"), payload.get("source"))
        for r in ranked
        if (payload := payloads.get(r.id)) is not None
    ]


def _cached_ranking(runtime: Runtime, key: str) -> list[Ranked] | None:
    cached = _cache_get(runtime, key)
    return None if cached is None else [Ranked(*entry) for entry in json.loads(cached)]


def _cache_get(runtime: Runtime, key: str) -> bytes | None:
    """The cache is an optimisation: with Redis down, search still answers."""
    try:
        return runtime.redis.get(key)
    except redis.RedisError:
        log.warning("Search cache unavailable (Redis); searching without it")
        return None


def _cache_set(runtime: Runtime, entries: dict[str, tuple[bytes | str, int]]) -> None:
    """Write ``{key: (value, ttl)}`` in one round trip."""
    if not entries:
        return
    try:
        with runtime.redis.pipeline(transaction=False) as pipe:
            for key, (value, ttl) in entries.items():
                pipe.set(key, value, ex=ttl)
            pipe.execute()
    except redis.RedisError:
        pass


def _ranking_key(space: OpenSpace, query: str, score_threshold: float | None, where: SearchFilter) -> str:
    identity = [*_identity(space), query, score_threshold, asdict(where)]
    identity[-1]["exclude"] = sorted(where.exclude)
    identity[-1]["audience"] = None if where.audience is None else sorted(where.audience)
    return f"findimage:ranking:{_digest(json.dumps(identity, sort_keys=True))}"


def _identity(space: OpenSpace) -> list[str]:
    """What makes a vector or a ranking valid: the space (its model and collection) and
    the model backend (ONNX int8 and fp32 differ slightly)."""
    return [str(space.id), space.collection, space.model, space.embedder.name]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]
