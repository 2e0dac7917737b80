"""What people do, kept as taste signals: likes, clicks and searches, and the taste
built from them (the I/O around ``recommender.taste``).

Each signal is stored with its vector, then folded into the user's taste in
O(interests x dim). Two updates racing for one user are caught by the taste's version
and settled by rebuilding it from the stored signals, which is exact; so is every unlike
and forget.
"""

import logging
import time

import numpy as np
from sqlalchemy import delete, update
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
from core.runtime import Runtime
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


def record_event(runtime: Runtime, event: SearchEvent, vector: np.ndarray | None) -> None:
    """Keep a search or click in the user's history and, with its vector, in their taste."""
    with runtime.session() as session:
        session.add(event)
        session.commit()
        if vector is not None:
            kind = SignalKind.click if event.image_id is not None else SignalKind.search
            add_signal(runtime, session, event.user_id, kind, vector, image_id=event.image_id, query=event.query)


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
    points = runtime.vectors.retrieve([image_id])
    if points:
        add_signal(runtime, session, user_id, SignalKind.like, points[0].vectors[IMAGE], image_id=image_id)
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
    image_id: int | None = None,
    query: str | None = None,
) -> None:
    weight = weight_of(kind, runtime.settings)
    row = Signal(user_id=user_id, kind=kind, image_id=image_id, query=query,
                 vector=np.asarray(vector, np.float32).tobytes(), weight=weight)
    session.add(row)
    session.commit()
    signal = taste_math.Signal(row.id, np.frombuffer(row.vector, np.float32), weight, as_utc(row.created_at).timestamp())
    params = runtime.settings.taste
    for _ in range(ATTEMPTS):
        stored = session.get(Taste, user_id)
        current = to_taste(stored) if stored else taste_math.Taste.empty(len(signal.vector), signal.at)
        updated = taste_math.update_taste(current, signal, params.half_life, params.max_interests, params.join_above)
        if _save(session, user_id, updated, stored.version if stored else None):
            return
        session.rollback()
        session.expire_all()
    log.warning("Taste of user %s kept changing under us; rebuilding it", user_id)
    rebuild_taste(runtime, session, user_id)


def rebuild_taste(runtime: Runtime, session: Session, user_id: int, now: float | None = None) -> None:
    """Recompute the user's taste from their stored signals, exactly."""
    params = runtime.settings.taste
    for _ in range(ATTEMPTS):
        rows = session.exec(select(Signal).where(Signal.user_id == user_id).order_by(col(Signal.id))).all()
        stored = session.get(Taste, user_id)
        signals = [
            taste_math.Signal(r.id, np.frombuffer(r.vector, np.float32), r.weight, as_utc(r.created_at).timestamp()) for r in rows
        ]
        at = now if now is not None else time.time()
        dim = len(signals[0].vector) if signals else (stored.state["dim"] if stored else 0)
        built = taste_math.build_taste(signals, dim, at, params.half_life, params.max_interests, params.join_above)
        if _save(session, user_id, built, stored.version if stored else None):
            return
        session.rollback()
        session.expire_all()
    raise RuntimeError(f"could not store the taste of user {user_id}")


def load_taste(session: Session, user_id: int) -> taste_math.Taste | None:
    stored = session.get(Taste, user_id)
    return to_taste(stored) if stored else None


def to_taste(row: Taste) -> taste_math.Taste:
    weights = np.array(row.state["weights"], np.float32)
    sums = np.frombuffer(row.sums, np.float32).reshape(len(weights), row.state["dim"])
    exemplars = [[(int(sid), float(w)) for sid, w in ex] for ex in row.state["exemplars"]]
    return taste_math.Taste(sums, weights, float(row.state["at"]), exemplars)


def _save(session: Session, user_id: int, taste: taste_math.Taste, version: int | None) -> bool:
    """Store ``taste`` if the stored one is still at ``version`` (None: there is none)."""
    values = {
        "sums": np.asarray(taste.sums, np.float32).tobytes(),
        "state": {"dim": taste.sums.shape[1], "at": taste.at, "weights": taste.weights.tolist(), "exemplars": taste.exemplars},
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
