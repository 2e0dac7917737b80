"""What people do, kept as taste signals: likes, clicks and searches, and the taste
built from them (the I/O around ``recommender.taste``).

Each signal is stored with its vector, then folded into the user's taste in
O(interests x dim). A user's changes are applied one at a time (``core.db.user_lock``,
across threads and processes), so none is lost when one person searches, clicks and
likes in two tabs and in Slack at once. Every unlike and forget rebuilds the taste from
the stored signals, which is exact.

Signals and tastes are kept in one vector space (``core.spaces``). After a reindex
switches spaces, a user's signals are derived again in the new one, likes and clicks from
their images' new vectors and searches by embedding their text again, and the taste is
rebuilt from them: for everyone at the switch (``convert_tastes``), and for anyone whose
taste is still from the old space when it is next used (``taste_for``).
"""

import logging
import time

import numpy as np
from sqlalchemy import delete, or_
from sqlmodel import Session, col, select

from core.config import Settings
from core.db import user_lock
from core.errors import NotFound
from core.models import (
    Image,
    Impression,
    Like,
    LikeSource,
    NotInterested,
    SearchEvent,
    Signal,
    SignalKind,
    Taste,
    as_utc,
)
from core.runtime import Runtime, Space
from core.vectors import IMAGE
from recommender import taste as taste_math

log = logging.getLogger(__name__)


def weight_of(kind: SignalKind, settings: Settings) -> float:
    return {
        SignalKind.like: settings.taste.like_weight,
        SignalKind.click: settings.taste.click_weight,
        SignalKind.search: settings.taste.search_weight,
        SignalKind.not_interested: -settings.taste.not_interested_weight,
    }[kind]


def record_event(runtime: Runtime, event: SearchEvent, vector: np.ndarray | None, space_id: int | None = None) -> None:
    """Keep a search or click in the user's history and, with its vector (in vector space
    ``space_id``), in their taste."""
    with runtime.session() as session:
        session.add(event)
        session.commit()
        if vector is not None:
            kind = SignalKind.click if event.image_id is not None else SignalKind.search
            with user_lock(session, event.user_id):
                add_signal(runtime, session, event.user_id, kind, vector, space_id, image_id=event.image_id, query=event.query)


def like(runtime: Runtime, session: Session, user_id: int, image_id: int, source: LikeSource) -> bool:
    """Like an image (idempotent); True if it was not liked before."""
    if session.get(Image, image_id) is None:
        raise NotFound(f"There is no image {image_id}.")
    space = runtime.space
    points = space.vectors.retrieve([image_id])
    with user_lock(session, user_id):
        if _liked(session, user_id, image_id):
            return False
        session.add(Like(user_id=user_id, image_id=image_id, source=source))
        if points:
            add_signal(runtime, session, user_id, SignalKind.like, points[0].vectors[IMAGE], space.id, image_id=image_id)
        else:
            log.info("Image %s is not indexed yet: the like is kept but does not feed the taste", image_id)
    return True


def unlike(runtime: Runtime, session: Session, user_id: int, image_id: int) -> bool:
    """Take a like back (idempotent), and its part of the taste; True if there was one."""
    with user_lock(session, user_id):
        removed = session.execute(delete(Like).where(Like.user_id == user_id, Like.image_id == image_id)).rowcount
        if removed:
            session.execute(
                delete(Signal).where(Signal.user_id == user_id, Signal.image_id == image_id, Signal.kind == SignalKind.like)
            )
            _rebuild(runtime, session, user_id, runtime.space)
    return bool(removed)


def not_interested(runtime: Runtime, session: Session, user_id: int, image_id: int) -> bool:
    """Never show the image in the user's feed again, and steer their taste away from it
    (idempotent); True if it was not marked before."""
    if session.get(Image, image_id) is None:
        raise NotFound(f"There is no image {image_id}.")
    space = runtime.space
    points = space.vectors.retrieve([image_id])
    with user_lock(session, user_id):
        if session.exec(select(NotInterested).where(NotInterested.user_id == user_id,
                                                    NotInterested.image_id == image_id)).first() is not None:
            return False
        session.add(NotInterested(user_id=user_id, image_id=image_id))
        if points:
            add_signal(runtime, session, user_id, SignalKind.not_interested, points[0].vectors[IMAGE], space.id,
                       image_id=image_id)
    return True


def interested_again(runtime: Runtime, session: Session, user_id: int, image_id: int) -> bool:
    """Take "not interested" back (idempotent), and its pull on the taste; True if it was marked."""
    with user_lock(session, user_id):
        removed = session.execute(
            delete(NotInterested).where(NotInterested.user_id == user_id, NotInterested.image_id == image_id)
        ).rowcount
        if removed:
            session.execute(delete(Signal).where(
                Signal.user_id == user_id, Signal.image_id == image_id, Signal.kind == SignalKind.not_interested))
            _rebuild(runtime, session, user_id, runtime.space)
    return bool(removed)


def forget(session: Session, user_id: int) -> None:
    """Forget everything the user did: searches, clicks, likes, what they hid, what the feed
    showed, and the taste learned from them."""
    with user_lock(session, user_id):
        for table in (SearchEvent, Like, NotInterested, Impression, Signal, Taste):
            session.execute(delete(table).where(table.user_id == user_id))


def add_signal(
    runtime: Runtime,
    session: Session,
    user_id: int,
    kind: SignalKind,
    vector: np.ndarray,
    space_id: int | None,
    image_id: int | None = None,
    query: str | None = None,
) -> None:
    """Store a signal whose ``vector`` is in vector space ``space_id`` (None: unknown, so it
    is derived again) and fold it into the taste. Runs inside ``user_lock``."""
    weight = weight_of(kind, runtime.settings)
    row = Signal(user_id=user_id, kind=kind, image_id=image_id, query=query,
                 vector=np.asarray(vector, np.float32).tobytes(), weight=weight, space_id=space_id)
    session.add(row)
    session.flush()
    stored = _stored_taste(session, user_id)
    if space_id is None or (stored.state.get("space") if stored else space_id) != space_id:
        return _rebuild(runtime, session, user_id, runtime.space)  # the taste and this signal are from different spaces
    signal = taste_math.Signal(row.id, np.frombuffer(row.vector, np.float32), weight, as_utc(row.created_at).timestamp())
    params = runtime.settings.taste
    current = to_taste(stored) if stored else taste_math.Taste.empty(len(signal.vector), signal.at)
    _store(session, user_id, taste_math.update_taste(current, signal, params.half_life, params.max_interests,
                                                      params.join_above), space_id)


def rebuild_taste(
    runtime: Runtime, session: Session, user_id: int, now: float | None = None, space: Space | None = None
) -> None:
    """Recompute the user's taste from their stored signals, exactly, in ``space`` (default
    the active one), deriving again the signals from another space."""
    if space is None:
        stored = session.get(Taste, user_id)
        if stored is not None and (stored.state.get("space") or 0) > runtime.space.id:
            runtime.refresh_spaces()  # another process has switched already: never go back
        space = runtime.space
    with user_lock(session, user_id):
        _rebuild(runtime, session, user_id, space, now)


def _rebuild(runtime: Runtime, session: Session, user_id: int, space: Space, now: float | None = None) -> None:
    """``rebuild_taste`` inside ``user_lock``."""
    _derive_again(session, user_id, space)
    rows = session.exec(
        select(Signal).where(Signal.user_id == user_id, Signal.space_id == space.id).order_by(col(Signal.id))
    ).all()
    signals = [
        taste_math.Signal(r.id, np.frombuffer(r.vector, np.float32), r.weight, as_utc(r.created_at).timestamp()) for r in rows
    ]
    params = runtime.settings.taste
    at = now if now is not None else time.time()
    built = taste_math.build_taste(signals, space.embedder.dim, at, params.half_life, params.max_interests, params.join_above)
    _store(session, user_id, built, space.id)


def taste_for(runtime: Runtime, session: Session, user_id: int, space: Space) -> taste_math.Taste | None:
    """The user's taste in ``space``, rebuilt there first if it is from another space;
    None if they have none."""
    stored = _stored_taste(session, user_id)
    if stored is None:
        return None
    if (stored.state.get("space") or 0) > space.id:
        runtime.refresh_spaces()  # this process is behind a switch; the next request is not
        return None
    if stored.state.get("space") != space.id:
        rebuild_taste(runtime, session, user_id, space=space)
        stored = _stored_taste(session, user_id)
    return to_taste(stored)


def convert_tastes(runtime: Runtime) -> int:
    """Rebuild every taste not in the active space there; returns how many."""
    space = runtime.space
    with runtime.session() as session:
        users = [t.user_id for t in session.exec(select(Taste)).all() if t.state.get("space") != space.id]
        for user_id in users:
            rebuild_taste(runtime, session, user_id, space=space)
    return len(users)


def _derive_again(session: Session, user_id: int, space: Space) -> None:
    """Give the user's signals from other vector spaces their vectors in ``space``: an
    image's new vector for likes and clicks, the text embedded again for searches. A
    signal that cannot be (its image is not in the space, a search by an example image
    that was not kept) is dropped."""
    stale = session.exec(
        select(Signal).where(Signal.user_id == user_id, or_(col(Signal.space_id).is_(None), Signal.space_id != space.id))
    ).all()
    if not stale:
        return
    image_ids = sorted({s.image_id for s in stale if s.image_id is not None})
    images = {p.id: p.vectors[IMAGE] for p in space.vectors.retrieve(image_ids)} if image_ids else {}
    queries = sorted({s.query for s in stale if s.image_id is None and s.query})
    texts = dict(zip(queries, space.embedder.embed_texts(queries)))
    for signal in stale:
        vector = images.get(signal.image_id) if signal.image_id is not None else texts.get(signal.query)
        if vector is None:
            session.delete(signal)
        else:
            signal.vector, signal.space_id = np.asarray(vector, np.float32).tobytes(), space.id
            session.add(signal)
    session.flush()


def to_taste(row: Taste) -> taste_math.Taste:
    weights = np.array(row.state["weights"], np.float32)
    sums = np.frombuffer(row.sums, np.float32).reshape(len(weights), row.state["dim"])
    exemplars = [[(int(sid), float(w)) for sid, w in ex] for ex in row.state["exemplars"]]
    return taste_math.Taste(sums, weights, float(row.state["at"]), exemplars)


def _liked(session: Session, user_id: int, image_id: int) -> bool:
    return session.exec(select(Like.image_id).where(Like.user_id == user_id, Like.image_id == image_id)).first() is not None


def _stored_taste(session: Session, user_id: int) -> Taste | None:
    """The taste as the database has it now (not as this session last saw it)."""
    return session.get(Taste, user_id, populate_existing=True)


def _store(session: Session, user_id: int, taste: taste_math.Taste, space_id: int) -> None:
    """Write ``taste`` (in vector space ``space_id``); inside ``user_lock``, so no other
    update of this user's taste is in between."""
    sums = np.asarray(taste.sums, np.float32).tobytes()
    state = {"dim": taste.sums.shape[1], "at": taste.at, "weights": taste.weights.tolist(),
             "exemplars": taste.exemplars, "space": space_id}
    stored = session.get(Taste, user_id)
    if stored is None:
        session.add(Taste(user_id=user_id, version=1, sums=sums, state=state))
    else:
        stored.version, stored.sums, stored.state = stored.version + 1, sums, state
        session.add(stored)
    session.flush()
