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
"""

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass

import numpy as np
import redis

from core.decoding import CheckedImage, check_image, decode_scaled
from core.errors import TimedOut
from core.runtime import Runtime
from core.vectors import IMAGE, TEXT, Hit, SearchFilter

log = logging.getLogger(__name__)
MAX_RANKED = 300
"""Results one query is ranked to (20 pages of 15)."""
RANKING_TTL = 600
QUERY_VECTOR_TTL = 24 * 3600
RRF_K = 60
"""Reciprocal-rank constant (Cormack et al.; Qdrant's default too)."""
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="findimage-example-search")


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


def search_text(
    runtime: Runtime,
    query: str,
    page: int = 1,
    limit: int = 15,
    score_threshold: float | None = None,
    where: SearchFilter | None = None,
) -> SearchPage:
    where = where or SearchFilter()
    key = _ranking_key(runtime, query, score_threshold, where)
    ranking = _cached_ranking(runtime, key) if page > 1 else None
    if ranking is None:
        vector = query_vector(runtime, query)
        ranking = fuse(
            {
                index: runtime.vectors.search(index, vector, MAX_RANKED, score_threshold, where)
                for index in (IMAGE, TEXT)
            }
        )
        _cache_set(runtime, key, json.dumps([asdict(m) for m in ranking]), RANKING_TTL)
    start = (page - 1) * limit
    return SearchPage(ranking[start : start + limit], page, limit, len(ranking))


def search_by_example(
    runtime: Runtime, data: bytes, limit: int = 10, score_threshold: float | None = None
) -> tuple[CheckedImage, list[Hit]]:
    """Images that look like the uploaded one (nothing of it is kept). Validation as for
    uploads; embedding and search together may take ``limits.search_timeout`` seconds."""
    limits = runtime.settings.limits
    checked = check_image(data, limits)

    def embed_and_search() -> list[Hit]:
        pixels = decode_scaled(data, runtime.embedder.image_size, 0, limits)
        return runtime.vectors.search(IMAGE, runtime.embedder.embed_images([pixels])[0], limit, score_threshold)

    future = _pool.submit(embed_and_search)
    try:
        return checked, future.result(timeout=limits.search_timeout)
    except FutureTimeout:
        raise TimedOut(
            f"Searching by this image took longer than {limits.search_timeout:g} s; try again in a moment."
        ) from None


def query_vector(runtime: Runtime, text: str) -> np.ndarray:
    """The text's CLIP embedding, from the shared cache when someone asked it before."""
    key = f"findimage:query-vector:{runtime.embedder.name}:{_digest(runtime.settings.clip.model, text)}"
    cached = _cache_get(runtime, key)
    if cached is not None:
        return np.frombuffer(cached, dtype=np.float32)
    vector = runtime.embedder.embed_texts([text])[0]
    _cache_set(runtime, key, vector.tobytes(), QUERY_VECTOR_TTL)
    return vector


def fuse(hits_by_index: dict[str, list[Hit]], limit: int = MAX_RANKED) -> list[Match]:
    """Reciprocal-rank fusion of best-first hit lists; ties go to the lower id, so the
    ranking is deterministic."""
    fused: dict[int, float] = {}
    best: dict[int, Hit] = {}
    matched: dict[int, list[str]] = {}
    for index, hits in hits_by_index.items():
        for rank, hit in enumerate(hits):
            fused[hit.id] = fused.get(hit.id, 0.0) + 1.0 / (RRF_K + rank + 1)
            matched.setdefault(hit.id, []).append(index)
            if hit.id not in best or hit.score > best[hit.id].score:
                best[hit.id] = hit
    order = sorted(fused, key=lambda i: (-fused[i], i))[:limit]
    return [
        Match(
            id=i,
            score=round(float(best[i].score), 6),
            matched=matched[i],
            caption=best[i].payload.get("caption"),
            source=best[i].payload.get("source"),
        )
        for i in order
    ]


def _cached_ranking(runtime: Runtime, key: str) -> list[Match] | None:
    cached = _cache_get(runtime, key)
    return None if cached is None else [Match(**m) for m in json.loads(cached)]


def _cache_get(runtime: Runtime, key: str) -> bytes | None:
    """The cache is an optimisation: with Redis down, search still answers."""
    try:
        return runtime.redis.get(key)
    except redis.RedisError:
        log.warning("Search cache unavailable (Redis); searching without it")
        return None


def _cache_set(runtime: Runtime, key: str, value: bytes | str, ttl: int) -> None:
    try:
        runtime.redis.set(key, value, ex=ttl)
    except redis.RedisError:
        pass


def _ranking_key(runtime: Runtime, query: str, score_threshold: float | None, where: SearchFilter) -> str:
    identity = [runtime.embedder.name, runtime.settings.clip.model, query, score_threshold, asdict(where)]
    return f"findimage:ranking:{_digest(json.dumps(identity, sort_keys=True))}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]
