"""A user's taste as stored: each signal folded in as it comes (O(interests x dim)), an
exact rebuild from the stored signals after an unlike or a forget, and the taste read
back for the feed (the I/O around ``recommender.taste``). Writes run inside the user's
lock (``core.db.user_lock``).

Signals and tastes are kept in one vector space (``core.spaces.records``). After a reindex
switches spaces, a user's signals are derived again in the new one
(``services.rederive``) and the taste rebuilt from them: for everyone at the switch
(``convert_tastes``), and for anyone whose taste is still from the old space when it is
next used (``taste_for``).
"""

import time
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import NamedTuple

import numpy as np
from sqlalchemy import Row, bindparam, insert, or_
from sqlmodel import Session, col, select

from core.config import Settings
from core.db import upsert_of, user_lock
from core.errors import ServiceUnavailable
from core.models import Signal, SignalKind, Taste, as_utc, utcnow
from core.runtime import OpenSpace, Runtime
from recommender import taste as taste_math
from services.rederive import derive_again


def weight_of(kind: SignalKind, settings: Settings) -> float:
    return {
        SignalKind.like: settings.taste.like_weight,
        SignalKind.click: settings.taste.click_weight,
        SignalKind.search: settings.taste.search_weight,
        SignalKind.not_interested: -settings.taste.not_interested_weight,
    }[kind]


class NewSignal(NamedTuple):
    """A signal to store: its ``vector`` is in vector space ``space_id`` (None: unknown, so
    it is derived again); ``at``: when it happened (default: now)."""

    kind: SignalKind
    vector: np.ndarray
    space_id: int | None
    image_id: int | None = None
    query: str | None = None
    at: datetime | None = None


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
    """Store one signal and fold it into the taste (``add_signals``). Runs inside ``user_lock``."""
    add_signals(runtime, session, user_id, [NewSignal(kind, vector, space_id, image_id, query)])


def add_signals(runtime: Runtime, session: Session, user_id: int, signals: Sequence[NewSignal]) -> None:
    """Store the user's ``signals`` and fold them into the taste, in order, with one read and
    one write of it (O(signals x interests x dim)). Runs inside ``user_lock``."""
    if not signals:
        return
    now, settings = utcnow(), runtime.settings
    rows = [{"user_id": user_id, "kind": s.kind, "image_id": s.image_id, "query": s.query,
             "vector": np.asarray(s.vector, np.float32).tobytes(), "weight": weight_of(s.kind, settings),
             "created_at": s.at or now, "space_id": s.space_id} for s in signals]
    ids = session.connection().execute(_ADD_SIGNALS, rows).scalars().all()
    stored = _stored_taste(session, user_id)
    spaces = {s.space_id for s in signals}
    if None in spaces or len(spaces) > 1 or (stored is not None and stored.space_id not in spaces):
        return rebuild_locked(runtime, session, user_id, runtime.space)  # the taste and these signals are from different spaces
    (space_id,) = spaces
    params = settings.taste
    taste = to_taste(stored) if stored else taste_math.Taste.empty(len(signals[0].vector), as_utc(rows[0]["created_at"]).timestamp())
    for signal_id, row in zip(ids, rows):
        signal = taste_math.Signal(signal_id, np.frombuffer(row["vector"], np.float32), row["weight"],
                                   as_utc(row["created_at"]).timestamp())
        taste = taste_math.update_taste(taste, signal, params.half_life, params.max_interests, params.join_above)
    _store(session, user_id, taste, space_id)


def rebuild_taste(
    runtime: Runtime, session: Session, user_id: int, now: float | None = None, space: OpenSpace | None = None
) -> None:
    """Recompute the user's taste from their stored signals, exactly, in ``space`` (default
    the active one), deriving again the signals from another space."""
    with user_lock(session, user_id):
        rebuild_locked(runtime, session, user_id, space or runtime.space, now)


def rebuild_locked(runtime: Runtime, session: Session, user_id: int, space: OpenSpace, now: float | None = None) -> None:
    """``rebuild_taste`` inside ``user_lock``. Raises ``ServiceUnavailable`` in a process
    that has not yet followed a switch to a newer space than ``space`` (its watcher will
    within seconds): a taste never goes back to an older space."""
    stored = _stored_taste(session, user_id)
    if stored is not None and (stored.space_id or 0) > space.id:
        raise ServiceUnavailable(f"findimage is switching to vector space {stored.space_id}; try again in a few seconds.")
    derive_again(session, user_id, space)
    rows = session.connection().execute(_READ_SIGNALS, {"user_id": user_id, "space_id": space.id})
    signals = [taste_math.Signal(i, np.frombuffer(v, np.float32), w, as_utc(at).timestamp()) for i, v, w, at in rows]
    params = runtime.settings.taste
    at = now if now is not None else time.time()
    built = taste_math.build_taste(signals, space.embedder.dim, at, params.half_life, params.max_interests, params.join_above)
    _store(session, user_id, built, space.id)


def taste_for(runtime: Runtime, session: Session, user_id: int, space: OpenSpace) -> taste_math.Taste | None:
    """The user's taste in ``space``, rebuilt there first if it is from another space;
    None if they have none."""
    stored = _stored_taste(session, user_id)
    if stored is None:
        return None
    if (stored.space_id or 0) > space.id:
        return None  # this process is behind a switch (its watcher follows it within seconds)
    if stored.space_id != space.id:
        rebuild_taste(runtime, session, user_id, space=space)
        stored = _stored_taste(session, user_id)
    return to_taste(stored)


def convert_tastes(runtime: Runtime) -> int:
    """Rebuild every taste not in the active space there; returns how many."""
    space = runtime.space
    with runtime.session() as session:
        users = session.exec(select(Taste.user_id).where(or_(col(Taste.space_id).is_(None), Taste.space_id != space.id))).all()
        for user_id in users:
            rebuild_taste(runtime, session, user_id, space=space)
    return len(users)


def to_taste(row: Row) -> taste_math.Taste:
    weights = np.array(row.state["weights"], np.float32)
    sums = np.frombuffer(row.sums, np.float32).reshape(len(weights), row.state["dim"])
    exemplars = [[(int(sid), float(w)) for sid, w in ex] for ex in row.state["exemplars"]]
    return taste_math.Taste(sums, weights, float(row.state["at"]), exemplars)


# Signals and their taste are written for every search and click: by Core statements built
# once, not the ORM's unit of work (which took twice the CPU). A rebuild reads every signal
# of the user the same way (5,000 in 45 ms, against 210-320 ms as ORM objects).
_SIGNALS, _TASTES = Signal.__table__, Taste.__table__
_ADD_SIGNALS = insert(_SIGNALS).returning(_SIGNALS.c.id, sort_by_parameter_order=True)
"""Inserts many signals in one statement (SQLAlchemy's "insertmanyvalues"), their ids in order."""
_READ_SIGNALS = (select(_SIGNALS.c.id, _SIGNALS.c.vector, _SIGNALS.c.weight, _SIGNALS.c.created_at)
                 .where(_SIGNALS.c.user_id == bindparam("user_id"), _SIGNALS.c.space_id == bindparam("space_id"))
                 .order_by(_SIGNALS.c.id))
_READ_TASTE = select(_TASTES.c.sums, _TASTES.c.state, _TASTES.c.space_id).where(_TASTES.c.user_id == bindparam("user_id"))


@cache
def _write_taste(dialect: str):
    """Insert a user's taste, or update it and count its version up."""
    statement = upsert_of(dialect)(_TASTES)
    return statement.on_conflict_do_update(index_elements=[_TASTES.c.user_id], set_={
        "version": _TASTES.c.version + 1, "sums": statement.excluded.sums, "state": statement.excluded.state,
        "space_id": statement.excluded.space_id,
    })


def _stored_taste(session: Session, user_id: int) -> Row | None:
    """The taste as the database has it now: its ``sums``, ``state`` and ``space_id``."""
    return session.connection().execute(_READ_TASTE, {"user_id": user_id}).first()


def _store(session: Session, user_id: int, taste: taste_math.Taste, space_id: int) -> None:
    """Write ``taste`` (in vector space ``space_id``); inside ``user_lock``, so no other
    update of this user's taste is in between."""
    state = {"dim": taste.sums.shape[1], "at": taste.at, "weights": taste.weights.tolist(),
             "exemplars": taste.exemplars}
    connection = session.connection()
    connection.execute(_write_taste(connection.dialect.name), {
        "user_id": user_id, "version": 1, "sums": np.asarray(taste.sums, np.float32).tobytes(), "state": state,
        "space_id": space_id,
    })
