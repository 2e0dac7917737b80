"""What people do, kept as taste signals: likes, clicks and searches, and the taste
built from them (the I/O around ``recommender.taste``).

Each signal is stored with its vector, then folded into the user's taste in
O(interests x dim). Two updates racing for one user are caught by the taste's version
and settled by rebuilding it from the stored signals, which is exact; so is every unlike
and forget.

Signals and tastes are kept in one vector space (``core.spaces``). After a reindex
switches spaces, a user's signals are derived again in the new one, likes and clicks from
their images' new vectors and searches by embedding their text again, and the taste is
rebuilt from them: for everyone at the switch (``convert_tastes``), and for anyone whose
taste is still from the old space when it is next used (``taste_for``).
"""

import logging
import time

import numpy as np
from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.config import Settings
from core.errors import NotFound
from core.models import (
    Image,
    Impression,
    Like,
    LikeSource,
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
ATTEMPTS = 5


def weight_of(kind: SignalKind, settings: Settings) -> float:
    return {
        SignalKind.like: settings.taste.like_weight,
        SignalKind.click: settings.taste.click_weight,
        SignalKind.search: settings.taste.search_weight,
    }[kind]


def record_event(runtime: Runtime, event: SearchEvent, vector: np.ndarray | None, space_id: int | None = None) -> None:
    """Keep a search or click in the user's history and, with its vector (in vector space
    ``space_id``), in their taste."""
    with runtime.session() as session:
        session.add(event)
        session.commit()
        if vector is not None:
            kind = SignalKind.click if event.image_id is not None else SignalKind.search
            add_signal(runtime, session, event.user_id, kind, vector, space_id, image_id=event.image_id, query=event.query)


def like(runtime: Runtime, session: Session, user_id: int, image_id: int, source: LikeSource) -> bool:
    """Like an image (idempotent); True if it was not liked before."""
    if session.get(Image, image_id) is None:
        raise NotFound(f"There is no image {image_id}.")
    if session.get(Like, (user_id, image_id)) is not None:
        return False
    session.add(Like(user_id=user_id, image_id=image_id, source=source))
    try:
        session.commit()
    except IntegrityError:  # the same like, a moment earlier
        session.rollback()
        return False
    space = runtime.space
    points = space.vectors.retrieve([image_id])
    if points:
        add_signal(runtime, session, user_id, SignalKind.like, points[0].vectors[IMAGE], space.id, image_id=image_id)
    else:
        log.info("Image %s is not indexed yet: the like is kept but does not feed the taste", image_id)
    return True


def unlike(runtime: Runtime, session: Session, user_id: int, image_id: int) -> bool:
    """Take a like back (idempotent), and its part of the taste; True if there was one."""
    removed = session.execute(delete(Like).where(Like.user_id == user_id, Like.image_id == image_id)).rowcount
    session.execute(
        delete(Signal).where(Signal.user_id == user_id, Signal.image_id == image_id, Signal.kind == SignalKind.like)
    )
    session.commit()
    if removed:
        rebuild_taste(runtime, session, user_id)
    return bool(removed)


def forget(session: Session, user_id: int) -> None:
    """Forget everything the user did: searches, clicks, likes, what the feed showed, and
    the taste learned from them."""
    for table in (SearchEvent, Like, Impression, Signal, Taste):
        session.execute(delete(table).where(table.user_id == user_id))
    session.commit()


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
    is derived again) and fold it into the taste."""
    weight = weight_of(kind, runtime.settings)
    row = Signal(user_id=user_id, kind=kind, image_id=image_id, query=query,
                 vector=np.asarray(vector, np.float32).tobytes(), weight=weight, space_id=space_id)
    session.add(row)
    session.commit()
    signal = taste_math.Signal(row.id, np.frombuffer(row.vector, np.float32), weight, as_utc(row.created_at).timestamp())
    params = runtime.settings.taste
    for _ in range(ATTEMPTS):
        stored = session.get(Taste, user_id)
        if space_id is None or (stored.state.get("space") if stored else space_id) != space_id:
            break  # the taste and this signal are from different spaces: derive again
        current = to_taste(stored) if stored else taste_math.Taste.empty(len(signal.vector), signal.at)
        updated = taste_math.update_taste(current, signal, params.half_life, params.max_interests, params.join_above)
        if _save(session, user_id, updated, stored.version if stored else None, space_id):
            return
        session.rollback()
        session.expire_all()
    else:
        log.warning("Taste of user %s kept changing under us; rebuilding it", user_id)
    rebuild_taste(runtime, session, user_id)


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
    _derive_again(session, user_id, space)
    params = runtime.settings.taste
    for _ in range(ATTEMPTS):
        rows = session.exec(
            select(Signal).where(Signal.user_id == user_id, Signal.space_id == space.id).order_by(col(Signal.id))
        ).all()
        stored = session.get(Taste, user_id)
        signals = [
            taste_math.Signal(r.id, np.frombuffer(r.vector, np.float32), r.weight, as_utc(r.created_at).timestamp()) for r in rows
        ]
        at = now if now is not None else time.time()
        built = taste_math.build_taste(signals, space.embedder.dim, at, params.half_life, params.max_interests, params.join_above)
        if _save(session, user_id, built, stored.version if stored else None, space.id):
            return
        session.rollback()
        session.expire_all()
    raise RuntimeError(f"could not store the taste of user {user_id}")


def taste_for(runtime: Runtime, session: Session, user_id: int, space: Space) -> taste_math.Taste | None:
    """The user's taste in ``space``, rebuilt there first if it is from another space;
    None if they have none."""
    stored = session.get(Taste, user_id)
    if stored is None:
        return None
    if (stored.state.get("space") or 0) > space.id:
        runtime.refresh_spaces()  # this process is behind a switch; the next request is not
        return None
    if stored.state.get("space") != space.id:
        rebuild_taste(runtime, session, user_id, space=space)
        session.expire_all()
        stored = session.get(Taste, user_id)
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
    session.commit()


def to_taste(row: Taste) -> taste_math.Taste:
    weights = np.array(row.state["weights"], np.float32)
    sums = np.frombuffer(row.sums, np.float32).reshape(len(weights), row.state["dim"])
    exemplars = [[(int(sid), float(w)) for sid, w in ex] for ex in row.state["exemplars"]]
    return taste_math.Taste(sums, weights, float(row.state["at"]), exemplars)


def _save(session: Session, user_id: int, taste: taste_math.Taste, version: int | None, space_id: int) -> bool:
    """Store ``taste`` (in vector space ``space_id``) if the stored one is still at
    ``version`` (None: there is none)."""
    values = {
        "sums": np.asarray(taste.sums, np.float32).tobytes(),
        "state": {
            "dim": taste.sums.shape[1],
            "at": taste.at,
            "weights": taste.weights.tolist(),
            "exemplars": taste.exemplars,
            "space": space_id,
        },
    }
    try:
        if version is None:
            session.add(Taste(user_id=user_id, version=1, **values))
        else:
            changed = session.execute(
                update(Taste)
                .where(col(Taste.user_id) == user_id, col(Taste.version) == version)
                .values(version=version + 1, **values)
            ).rowcount
            if not changed:
                return False
        session.commit()
    except IntegrityError:
        return False
    return True
