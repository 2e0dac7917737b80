"""Text search: one query, three channels, one ranking fused by the engine, stable pages.

A query (``services.query_language``) is embedded twice: with CLIP's text tower (the vector
is cached in Redis, shared by every API process) and with BM25 (``core.words``). One batch
to the vector store then searches the ``image`` vectors (text to image), the ``text``
vectors (captions), the sparse ``words`` (caption, OCR text, file name) and the words of
the images holding every word of the query, every filter and the viewer's audience
applied inside each, and the lists are fused by weighted reciprocal rank, Qdrant's
formula (``recommender.fusion``), which needs no common scale. The lists also say which
channels found a result and how far it stands out (``recommender.relevance``).

Approximate search with a growing offset can repeat or skip images between pages, so a
query is ranked once, up to ``MAX_RANKED`` results, and the ranking is kept in Redis for
``RANKING_TTL`` seconds; every page is a slice of it. Page 1 always ranks afresh (a new
search sees new images); later pages use the ranking of the page 1 they follow.

The deep searches ask for ids and scores only; payloads (caption, source) and snippets are
made for the one page shown.
"""

import json
import re
from collections.abc import Sequence
from concurrent.futures import Executor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field, replace
from typing import NamedTuple

import numpy as np
from sqlmodel import Session, col, select

from core.access import Viewer
from core.decoding import CheckedImage, check_image, decode_scaled
from core.errors import TimedOut
from core.likes import liked_ids
from core.metrics import timed
from core.models import Image, User
from core.runtime import OpenSpace, Runtime
from core.slack import channel_named
from core.texts import texts_of
from core.vectors import IMAGE, Hit, SearchFilter
from core.vectors.base import CHANNELS, NO_HITS, WORDS, WORDS_FIELD, HybridHits, HybridQuery
from core.words import FILENAME, Words, terms_of
from core.words import query_vector as words_query
from recommender.fusion import rrf_arrays
from recommender.relevance import strong_above
from services.cache import cache_get, cache_set, digest
from services.query_language import InvalidQuery, ParsedQuery, parse_query
from services.snippets import Snippet, snippets_for

MAX_RANKED = 300
"""Results one query is ranked to (20 pages of 15)."""
RANKING_TTL = 600
QUERY_VECTOR_TTL = 24 * 3600
RRF_K = 60
"""Reciprocal-rank constant (Cormack et al.; Qdrant's default too)."""
WEIGHTS = (1.0, 1.0, 2.0, 2.0)
"""RRF weights of ``image`` and ``text`` within the CLIP ranking, then of ``words`` and of
the images holding every word, against it: the words an image holds count double CLIP's
reading of it (measured in bench/text_search.py)."""
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{6,}$")


class Ranked(NamedTuple):
    id: int
    score: float
    matched: list[str]
    strong: bool = False


RANKING = np.dtype([("id", "<i8"), ("score", "<f8"), ("matched", "u1"), ("strong", "?")])
"""A ranking's rows: the channels that found a result as bits, so that a ranking is a few
bytes a result, cheap to make and to keep in Redis on every search."""
_BIT = {channel: 1 << n for n, channel in enumerate(CHANNELS)}
_MATCHED = {bits: [c for c in CHANNELS if bits & _BIT[c]] for bits in range(1 << len(CHANNELS))}


@dataclass(frozen=True)
class Match:
    id: int
    score: float
    """The best cosine similarity among the dense channels that found it (0 when only its
    words did)."""
    matched: list[str]
    """Which channels found it: ``image`` (what it shows), ``text`` (its caption), ``words``
    (the words in it and around it)."""
    caption: str | None
    source: str | None
    strong: bool = False
    """A strong match: it holds every word of the query, or a channel's score puts it far
    above the rest of this query's candidates."""
    snippets: list[Snippet] = field(default_factory=list)
    words: Words | None = field(default=None, repr=False, compare=False)
    """Its words as the payload holds them (what its snippets are made from)."""


@dataclass(frozen=True)
class SearchPage:
    results: list[Match]
    page: int
    limit: int
    total_found: int
    """Results in the whole ranking (at most ``MAX_RANKED``)."""
    strong_count: int = 0
    """How many of them are strong matches (none: "no strong match, closest images below")."""
    query_vector: np.ndarray | None = None
    """The query's embedding when this page ranked afresh (None for a cached ranking)."""
    space_id: int | None = None
    """The vector space searched (``query_vector`` is in it)."""


def search_text(
    runtime: Runtime,
    query: str | ParsedQuery,
    page: int = 1,
    limit: int = 15,
    score_threshold: float | None = None,
    where: SearchFilter | None = None,
) -> SearchPage:
    """``query``: the query's text or its parse. Its words' filters (phrases, excluded
    words, ``has:text``) apply here; those that need the user (channel names, people,
    ``is:liked``) are ``filter_of``'s, already in ``where``."""
    parsed = parse_query(query) if isinstance(query, str) else query
    text = parsed.text
    where = where or SearchFilter()
    where = replace(where, phrases=parsed.phrases, without_words=parsed.without,
                    has_text=True if parsed.has_text else where.has_text)
    space = runtime.space  # one space throughout, even if a reindex switches meanwhile
    key = _ranking_key(space, text, score_threshold, where)
    cached = cache_get(runtime, key) if page > 1 else None
    ranking = None if cached is None else np.frombuffer(cached, dtype=RANKING)
    vector = None
    if ranking is None:
        vector, new_vector = _query_vector(runtime, space, text)
        wanted = " ".join(word for word in parsed.words if terms_of(word)) or None  # stop words need not be there
        hybrid = HybridQuery(vector, words_query(text), all_words=wanted, weights=WEIGHTS, rrf_k=RRF_K)
        with timed("search"):
            hits = space.vectors.hybrid(hybrid, MAX_RANKED, where)
        with timed("fuse"):
            ranking = rank(hits, fused(hybrid, hits, MAX_RANKED), score_threshold)
        cache_set(runtime, {key: (ranking.tobytes(), RANKING_TTL), **new_vector})
    start = (page - 1) * limit
    results = with_snippets(runtime, with_payloads(space, ranked(ranking[start : start + limit])), text)
    return SearchPage(results, page, limit, len(ranking), int(ranking["strong"].sum()), vector, space.id)


def filter_of(runtime: Runtime, session: Session, user: User, viewer: Viewer, parsed: ParsedQuery,
              base: SearchFilter | None = None) -> SearchFilter:
    """The filter a parsed query asks for, within what ``viewer`` may see: channel names
    resolved through Slack (``in:#design``), Slack people as findimage users, ``is:liked`` as
    the user's liked images."""
    where = base or SearchFilter()
    channel = parsed.channel
    if channel and channel.startswith("#"):
        if not (user.slack_team and user.slack_user and runtime.settings.slack.enabled):
            raise InvalidQuery(f"in:{channel}", "Channel names are known through Slack; give the channel's id (in:C0123ABCD)")
        channel = channel_named(runtime.settings, runtime.redis, user.slack_team, user.slack_user, channel)
        if channel is None:
            raise InvalidQuery(f"in:{parsed.channel}", "None of your Slack channels is called that")
    uploader = parsed.uploader
    if uploader and user.slack_team and _SLACK_USER.match(uploader):
        uploader = f"slack:{user.slack_team}:{uploader}"
    return replace(
        where,
        channel=channel or where.channel,
        uploader=uploader or where.uploader,
        after=parsed.after.timestamp() if parsed.after else where.after,
        before=parsed.before.timestamp() if parsed.before else where.before,
        only=frozenset(liked_ids(session, user.id)) if parsed.liked else where.only,
        audience=viewer.tokens(),
    )


def fused(query: HybridQuery, hits: HybridHits, limit: int) -> np.ndarray:
    """The ids of the query's plan fused: the CLIP channels into one ranking, then that with
    the words and the all-words rankings."""
    plan, rankings = query.plan(), []
    for stage in plan:
        if len(stage.channels) == 1:
            rankings.append(hits.ranking(stage))
        else:
            inner = [hits.channels.get(channel, NO_HITS).ids for channel in stage.channels]
            rankings.append(rrf_arrays(inner, query.rrf_k, stage.inner, limit)[0])
    return rrf_arrays(rankings, query.rrf_k, [stage.weight for stage in plan], limit)[0]


def rank(hits: HybridHits, order: Sequence[int], score_threshold: float | None = None) -> np.ndarray:
    """The fused ``order`` as rows of ``RANKING`` (id, best dense cosine, the channels that
    found it as bits, strong), computed for the whole list at once. ``score_threshold``
    drops results whose best cosine is below it, unless they hold every word of the query."""
    rows = np.zeros(len(order), dtype=RANKING)
    rows["id"] = order
    slot_of = _Slots(rows["id"])
    rows["strong"][slot_of(hits.all_words.ids)[0]] = True
    holding_all = rows["strong"].copy()
    best = np.full(len(rows), -np.inf)
    for channel, found in hits.channels.items():
        slots, found_at = slot_of(found.ids)
        rows["matched"][slots] |= _BIT[channel]
        if channel != WORDS:
            scores = np.asarray(found.scores, dtype=np.float64)[found_at]
            best[slots] = np.maximum(best[slots], scores)
            rows["strong"][slots] |= scores >= strong_above(found.scores)
    rows["score"] = np.where(np.isfinite(best), best, 0.0).round(6)
    if score_threshold is not None:
        rows = rows[holding_all | (rows["score"] >= score_threshold)]
    return rows


class _Slots:
    """Where each of a channel's ids stands in a ranking (``ids``, each once): one sort of
    the ranking serves every channel."""

    def __init__(self, ids: np.ndarray) -> None:
        self.by_id = np.argsort(ids)
        self.sorted = ids[self.by_id]

    def __call__(self, channel_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The ranking's slots of the channel's ids it holds, and those ids' places in the channel."""
        wanted = np.asarray(channel_ids, dtype=np.int64)
        if not len(wanted) or not len(self.sorted):
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        at = np.searchsorted(self.sorted, wanted).clip(max=len(self.sorted) - 1)
        found_at = np.flatnonzero(self.sorted[at] == wanted)
        return self.by_id[at[found_at]], found_at


def ranked(rows: np.ndarray) -> list[Ranked]:
    """Rows of a ranking as ``Ranked`` results (done for the page shown only)."""
    return [Ranked(id_, score, list(_MATCHED[bits]), strong) for id_, score, bits, strong in rows.tolist()]


def with_snippets(runtime: Runtime, matches: list[Match], query: str) -> list[Match]:
    """The matches with the pieces of their words that hold the query's words (their words
    from the payload, or, for a point stored before it kept them apart, the database)."""
    words = {m.id: m.words for m in matches if m.words is not None}
    older = [m.id for m in matches if m.words is None]
    if older:
        with runtime.session() as session:
            rows = {i.id: i for i in session.exec(select(Image).where(col(Image.id).in_(older)))}
            texts = texts_of(session, older)
        words.update({i: Words.of(image, texts.get(i)) for i, image in rows.items()})
    return [
        replace(m, words=None, snippets=snippets_for({"ocr": w.ocr, "caption": w.caption, "filename": w.filename}, query))
        if (w := words.get(m.id)) is not None else m
        for m in matches
    ]


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
    cache_set(runtime, new)
    return vector


def _query_vector(runtime: Runtime, space: OpenSpace, text: str) -> tuple[np.ndarray, dict]:
    """The vector, and the cache entry to write when it was computed (the caller writes
    it with its own, in one round trip)."""
    key = f"findimage:query-vector:{digest(*_identity(space), text)}"
    cached = cache_get(runtime, key)
    if cached is not None:
        return np.frombuffer(cached, dtype=np.float32), {}
    with timed("embed"):
        vector = space.embedder.embed_texts([text])[0]
    return vector, {key: (vector.tobytes(), QUERY_VECTOR_TTL)}


def with_payloads(space: OpenSpace, ranked: list[Ranked], words: bool = True) -> list[Match]:
    """The ranked images with their captions and sources (and, with ``words``, what their
    snippets are made from); an image deleted since it was ranked is left out."""
    fields = ("caption", "source", WORDS_FIELD, FILENAME) if words else ("caption", "source")
    payloads = space.vectors.payloads([r.id for r in ranked], fields=fields)
    return [
        Match(r.id, r.score, r.matched, payload.get("caption"), payload.get("source"), r.strong,
              words=Words.of_payload(payload) if words else None)
        for r in ranked
        if (payload := payloads.get(r.id)) is not None
    ]


def _ranking_key(space: OpenSpace, query: str, score_threshold: float | None, where: SearchFilter) -> str:
    identity = [*_identity(space), query, score_threshold, asdict(where)]
    for name in ("exclude", "audience", "only"):
        value = getattr(where, name)
        identity[-1][name] = None if value is None else sorted(value)
    return f"findimage:ranking:{digest(json.dumps(identity, sort_keys=True))}"


def _identity(space: OpenSpace) -> list[str]:
    """What makes a vector or a ranking valid: the space (its model and collection) and
    the model backend (ONNX int8 and fp32 differ slightly)."""
    return [str(space.id), space.collection, space.model, space.embedder.name]
