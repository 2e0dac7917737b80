"""The personal feed: images near each of the user's interests, in proportion to their
weight, diversified, each with the reason it is there.

Fresh images come first: none the user liked, hid ("not interested") or was shown in the
last ``forget_shown_after_days`` (the shown images are recorded). With no taste yet (or
too few candidates) the team's newest and most-liked fill the page. Once no fresh image
is left the page says so (``caught_up``) and goes on with images shown before, least
recently shown first, ranked by taste: a page is empty only when the user may see no
image at all (or has hidden them all).

Pages of one scroll (the ``since`` its first page returns) never repeat an image until
every visible one has been on them; then the rotation starts again.

Each interest's candidates are searched deep once per taste (``POOL_DEPTH``, kept in Redis
``POOL_TTL`` seconds) and every page takes the fresh ones among them. Keeping the shown
images out inside the engine costs a search about a microsecond per shown image (6 ms with
5,000 at 1M points, against 1 without), so that is done only for an interest whose
candidates a page has used up (the store walks such a search with ACORN and a wider beam,
``SearchFilter.beam``: the shown images are the ones nearest the interest, a hole in the
graph where the search begins); a page's own search scores just the few candidates it
picked, and checks that the viewer may still see them.
"""

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import chain

import numpy as np
from sqlalchemy import Row, and_, bindparam, func, or_, union_all
from sqlmodel import Session, col, select

from core.access import Viewer
from core.db import IdsQuery, listed, upsert_of
from core.likes import liked_among
from core.metrics import timed
from core.models import Image, ImageStatus, Impression, Like, NotInterested, Signal, SignalKind
from core.runtime import OpenSpace, Runtime
from core.vectors import IMAGE, SearchFilter
from recommender.scoring import affinity, interleave_order, mmr_pick, quotas
from recommender.taste import Interest, interests, unit
from services.cache import cache_get, cache_set, digest
from services.tastes import taste_for

MAX_EXCLUDED = 5000
"""Most recent impressions kept out of the candidates (older ones may come back)."""
POOL_DEPTH = 200
"""Candidates searched at once for each interest: a few dozen pages of it."""
POOL_TTL = 600
"""Seconds a taste's candidates are kept: an image indexed meanwhile reaches the feed this
late at most (sooner if the user's taste changes)."""


@dataclass(frozen=True)
class FeedItem:
    id: int
    score: float
    reason: str
    """Why it is here: "because you liked ...", "because you searched '...'", "new"."""
    because_image: int | None
    because_query: str | None
    caption: str | None
    source: str | None
    seen_before: bool = False
    """Shown to the user before (the page is past the fresh images: ``caught_up``)."""
    liked: bool = False
    """The user likes it (only an image seen before can be: fresh ones never are)."""


@dataclass(frozen=True)
class FeedPage:
    items: list[FeedItem]
    personal: bool
    """False while the user has no taste yet: the page is the team's new and liked images."""
    caught_up: bool
    """No fresh image was left: the page (or its end) is images shown before."""
    since: float
    """When this scroll began: pass it back for the next page (epoch seconds)."""


def feed_page(
    runtime: Runtime,
    session: Session,
    user_id: int,
    viewer: Viewer,
    limit: int = 24,
    now: float | None = None,
    since: float | None = None,
) -> FeedPage:
    """The next page of the user's feed, only images ``viewer`` may see. ``since``: when
    the scroll this page continues began (None: a new scroll)."""
    now = time.time() if now is None else now
    since = now if since is None else min(since, now)
    space = runtime.space  # one space throughout, even if a reindex switches meanwhile
    hidden = _hidden(session, user_id)
    excluded = _excluded(runtime, session, user_id, now) | hidden
    taste = taste_for(runtime, session, user_id, space)
    found = interests(taste, now, runtime.settings.taste.half_life) if taste else []
    where = SearchFilter(exclude=frozenset(excluded), audience=viewer.tokens())
    items = _personal(runtime, space, session, found, _pools_key(space, user_id, taste, where), where, limit) if found else []
    if len(items) < limit:
        items += _popular_and_new(space, session, viewer, excluded | {i.id for i in items}, limit - len(items))
    caught_up = len(items) < limit
    if caught_up:
        again = _shown_before(space, session, user_id, viewer, found, hidden | {i.id for i in items}, limit - len(items), since)
        if len(items) + len(again) < limit:  # every visible image was on this scroll: start the rotation over
            since = now
            taken = hidden | {i.id for i in items + again}
            again += _shown_before(space, session, user_id, viewer, found, taken, limit - len(items) - len(again), now)
        items += again
    _remember_shown(session, user_id, [i.id for i in items], now)
    return FeedPage(items, personal=bool(found), caught_up=caught_up, since=since)


def _personal(runtime: Runtime, space: OpenSpace, session: Session, found: list[Interest], key: str,
              where: SearchFilter, limit: int) -> list[FeedItem]:
    counts = quotas([i.share for i in found], limit)
    wanted = [max(2 * n, n + 6) for n in counts]
    directions = [interest.direction for interest in found]
    candidates = frozenset(chain(*_candidates(runtime, space, key, directions, where, wanted)))
    if not candidates:
        return []
    with timed("search"):  # only the candidates: scored afresh, and still visible to the viewer
        pools = space.vectors.search_many(IMAGE, directions, wanted, SearchFilter(only=candidates, audience=where.audience),
                                          fields=("caption", "source"), with_vectors=True)
    points = {h.id: h for pool in pools for h in pool}
    if not points:
        return []
    row = {image_id: r for r, image_id in enumerate(points)}
    matrix = unit(np.array([h.vector for h in points.values()]).reshape(len(points), -1))

    picked: list[tuple[int, float, int]] = []  # (image id, relevance, interest)
    taken: set[int] = set()
    order = interleave_order(counts) + [i for _ in range(limit) for i in range(len(found))]  # then any pool
    for source in order:
        if len(picked) == limit:
            break
        pool = [h for h in pools[source] if h.id not in taken]
        if not pool:
            continue
        best = mmr_pick(
            np.array([h.score for h in pool]),
            matrix[[row[h.id] for h in pool]],
            matrix[[row[i] for i, _, _ in picked]],
            runtime.settings.feed.diversity,
            runtime.settings.feed.duplicate_above,
        )
        if best is None:  # only near-duplicates of what is on the page are left here
            pools[source] = []
            continue
        picked.append((pool[best].id, pool[best].score, source))
        taken.add(pool[best].id)
    reasons = _reasons(session, found, [(i, matrix[row[i]], source) for i, _, source in picked])
    return [
        FeedItem(i, round(float(score), 6), *reasons[i], points[i].payload.get("caption"), points[i].payload.get("source"))
        for i, score, _ in picked
    ]


def _candidates(runtime: Runtime, space: OpenSpace, key: str, directions: list[np.ndarray], where: SearchFilter,
                wanted: list[int]) -> list[list[int]]:
    """Per interest, the ids of its ``wanted`` best fresh candidates, from its kept pool; an
    interest with no pool, or whose pool a page used up, is searched anew past ``where``'s
    exclusions (alone: the other interests keep theirs)."""
    cached = cache_get(runtime, key)
    pools = json.loads(cached) if cached is not None else []
    if len(pools) != len(directions):
        pools = [None] * len(directions)
    fresh = [None if pool is None else [i for i in pool if i not in where.exclude] for pool in pools]
    # (A pool shorter than its depth held every candidate there was: searching again finds no more.)
    stale = [n for n, (pool, left) in enumerate(zip(pools, fresh))
             if pool is None or (len(left) < wanted[n] and len(pool) == POOL_DEPTH)]
    if stale:
        with timed("search"):
            found = space.vectors.search_many(IMAGE, [directions[n] for n in stale], [POOL_DEPTH] * len(stale), where)
        for n, hits in zip(stale, found):
            pools[n] = fresh[n] = [h.id for h in hits]
        cache_set(runtime, {key: (json.dumps(pools), POOL_TTL)})
    return [left[:n] for left, n in zip(fresh, wanted)]


def _pools_key(space: OpenSpace, user_id: int, taste, where: SearchFilter) -> str:
    """Candidates hold for one taste (its interests), in one space, for one audience."""
    audience = ",".join(sorted(where.audience or ()))
    return f"findimage:feed-pools:{space.id}:{user_id}:{digest(taste.sums.tobytes(), taste.weights.tobytes(), audience)}"


def _reasons(session: Session, found: list[Interest], picked: list) -> dict[int, tuple]:
    """For each picked image, the signal of its interest that is closest to it."""
    ids = list({sid for interest in found for sid in interest.exemplars})
    rows = session.connection().execute(_EXEMPLARS, {"ids": ids}).all()
    signals = {row.id: row for row in rows}
    captions = {row.image_id: row.caption for row in rows}
    candidates = [[signals[s] for s in interest.exemplars if s in signals] for interest in found]
    directions = [
        unit(np.array([np.frombuffer(s.vector, np.float32) for s in group])) if group else None for group in candidates
    ]
    reasons = {}
    for image_id, vector, source in picked:
        if directions[source] is None:
            reasons[image_id] = ("close to what you like", None, None)
            continue
        best = candidates[source][int(np.argmax(directions[source] @ vector))]
        reasons[image_id] = _reason(best, captions.get(best.image_id))
    return reasons


_EXEMPLARS = (select(Signal.id, Signal.kind, Signal.image_id, Signal.query, Signal.vector, Image.caption)
              .select_from(Signal).outerjoin(Image, col(Image.id) == Signal.image_id)
              .where(col(Signal.id).in_(bindparam("ids", expanding=True))))
"""Signals with their images' captions, as rows (a page's dozens of signals; built once)."""


def _reason(signal: Row, caption: str | None) -> tuple[str, int | None, str | None]:
    if signal.kind is SignalKind.search:
        return f"because you searched '{signal.query}'", None, signal.query
    name = f"“{caption[:60]}”" if caption else f"image {signal.image_id}"
    verb = "liked" if signal.kind is SignalKind.like else "looked at"
    return f"because you {verb} {name}", signal.image_id, None


def _popular_and_new(
    space: OpenSpace, session: Session, viewer: Viewer, excluded: set[int], limit: int
) -> list[FeedItem]:
    """The team's most-liked images and its newest, alternately (the cold-start feed)."""
    indexed = and_(col(Image.status) == ImageStatus.indexed, viewer.sql())
    kept_out = listed(session, excluded)
    # Likes counted first, then their images looked up: joined the other way, the database
    # walked every indexed image (200 ms at 1M images).
    counts = (select(Like.image_id, func.count(col(Like.user_id)).label("likes"))
              .where(col(Like.image_id).not_in(kept_out)).group_by(col(Like.image_id)).subquery())
    liked = session.exec(
        select(counts.c.image_id, counts.c.likes).join(Image, col(Image.id) == counts.c.image_id).where(indexed)
        .order_by(counts.c.likes.desc(), counts.c.image_id).limit(limit)
    ).all()
    newest = session.exec(
        select(Image.id).where(indexed, col(Image.id).not_in(kept_out))
        .order_by(col(Image.indexed_at).desc(), col(Image.id).desc()).limit(limit)
    ).all()
    chosen: dict[int, str] = {}
    popular = [(image_id, f"liked by {n} {'person' if n == 1 else 'people'}") for image_id, n in liked]
    recent = [(image_id, "new") for image_id in newest]
    for i in range(max(len(popular), len(recent))):
        for source in (popular, recent):
            if i < len(source) and source[i][0] not in chosen and len(chosen) < limit:
                chosen[source[i][0]] = source[i][1]
    payloads = space.vectors.payloads(list(chosen), fields=("caption", "source"))
    return [
        FeedItem(i, 0.0, reason, None, None, payloads[i].get("caption"), payloads[i].get("source"))
        for i, reason in chosen.items()
        if i in payloads
    ]


def _shown_before(
    space: OpenSpace, session: Session, user_id: int, viewer: Viewer, found: list[Interest], taken: set[int], limit: int,
    before: float,
) -> list[FeedItem]:
    """Images the feed showed before ``before``, least recently shown first, then those it
    never showed (the liked ones): a page of them, ranked by taste."""
    if limit <= 0:
        return []
    rows = session.exec(
        select(Image.id, Impression.shown_at)
        .outerjoin(Impression, and_(col(Impression.image_id) == Image.id, col(Impression.user_id) == user_id))
        .where(col(Image.status) == ImageStatus.indexed, viewer.sql(), col(Image.id).not_in(listed(session, taken)))
        .where(or_(col(Impression.shown_at).is_(None), col(Impression.shown_at) < datetime.fromtimestamp(before, UTC)))
        .order_by(col(Impression.shown_at).asc().nulls_last(), col(Image.id)).limit(limit)
    ).all()
    liked = liked_among(session, user_id, (image_id for image_id, _ in rows))
    points = space.vectors.retrieve([image_id for image_id, _ in rows], vectors=(IMAGE,), fields=("caption", "source"))
    if not points:
        return []
    vectors = unit(np.array([p.vectors[IMAGE] for p in points]).reshape(len(points), -1))
    fit = affinity(vectors, np.array([i.direction for i in found]).reshape(len(found), vectors.shape[1]))
    order = np.argsort(-fit, kind="stable")  # stable: least recently shown first among equals (no taste)
    return [
        FeedItem(points[n].id, round(float(fit[n]), 6), "you like this" if points[n].id in liked else "seen before", None, None,
                 points[n].payload.get("caption"), points[n].payload.get("source"), seen_before=True,
                 liked=points[n].id in liked)
        for n in order
    ]


def _hidden(session: Session, user_id: int) -> set[int]:
    return set(_HIDDEN(session, user_id=user_id))


def _excluded(runtime: Runtime, session: Session, user_id: int, now: float) -> set[int]:
    since = datetime.fromtimestamp(now, UTC) - timedelta(days=runtime.settings.feed.forget_shown_after_days)
    return set(_LIKED_OR_SHOWN(session, user_id=user_id, since=since))


_HIDDEN = IdsQuery(select(NotInterested.image_id).where(NotInterested.user_id == bindparam("user_id")))
_LIKED_OR_SHOWN = IdsQuery(union_all(
    select(Like.image_id).where(Like.user_id == bindparam("user_id")),
    select(Impression.image_id)
    .where(Impression.user_id == bindparam("user_id"), col(Impression.shown_at) >= bindparam("since"))
    .order_by(col(Impression.shown_at).desc())
    .limit(MAX_EXCLUDED)
    .subquery().select(),
))
"""The user's liked images and their latest impressions since a time (built once: every
page asks)."""


def _remember_shown(session: Session, user_id: int, image_ids: list[int], now: float) -> None:
    if not image_ids:
        return
    shown_at = datetime.fromtimestamp(now, UTC)
    connection = session.connection()
    connection.execute(_show(connection.dialect.name),
                       [{"user_id": user_id, "image_id": i, "shown_at": shown_at} for i in image_ids])
    session.commit()


_IMPRESSIONS = Impression.__table__


@cache
def _show(dialect: str):
    """Record an image shown; one shown before (past the window, or come round again once
    caught up) has its impression renewed. Built once: every feed page writes it."""
    statement = upsert_of(dialect)(_IMPRESSIONS)
    return statement.on_conflict_do_update(index_elements=[_IMPRESSIONS.c.user_id, _IMPRESSIONS.c.image_id],
                                           set_={"shown_at": statement.excluded.shown_at})
