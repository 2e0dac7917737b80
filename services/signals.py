"""What people do that says what they like: likes and unlikes, "not interested", the
searches and clicks of their history, and forgetting it all. Each is applied in one
transaction under the user's lock (``core.db.user_lock``), so none is lost when one person
searches, clicks and likes in two tabs and in Slack at once; the taste it feeds is kept by
``services.tastes``.
"""

import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from sqlalchemy import delete, insert
from sqlmodel import Session, select

from core.db import user_lock
from core.errors import NotFound, ServiceUnavailable
from core.models import (
    Image,
    Impression,
    Like,
    LikeSource,
    NotInterested,
    SearchEvent,
    SearchKind,
    Signal,
    SignalKind,
    Taste,
)
from core.runtime import Runtime
from core.vectors import IMAGE
from services.tastes import NewSignal, add_signal, add_signals, rebuild_locked

log = logging.getLogger(__name__)
_ADD_EVENT = insert(SearchEvent.__table__)
"""A Core statement, as ``services.tastes`` writes the signal: one for every search and click."""
_EVENT_COLUMNS = [c.name for c in SearchEvent.__table__.columns if c.name != "id"]


class Entry(NamedTuple):
    """A search or click to keep: its history row (``SearchEvent``'s columns) and the vector
    it adds to the taste, in vector space ``space_id`` (None: history only)."""

    event: dict
    vector: np.ndarray | None = None
    space_id: int | None = None


def search_entry(user_id: int, query: str, found, filters: dict, page: int = 1) -> Entry:
    """A text search (``found``: its ``services.search.SearchPage``) for the user's history
    and, a first page, their taste (turning pages says nothing new)."""
    return _entry(user_id, SearchKind.text, found, filters, page, query=query, vector=found.query_vector)


def click_entry(user_id: int, image_id: int, found, filters: dict, page: int = 1) -> Entry:
    """A "more like this" (``found``: its ``services.similar`` page) for the user's history
    and, a first page, their taste."""
    return _entry(user_id, SearchKind.click, found, filters, page, image_id=image_id, vector=found.clicked_vector)


def example_entry(user_id: int, described: str, result_count: int) -> Entry:
    """A search by an example image, for the user's history only (the image is not kept,
    so nothing of it can be derived again for the taste)."""
    return Entry(_event_row(user_id=user_id, kind=SearchKind.image, query=described, result_count=result_count))


def record(runtime: Runtime, entries: Sequence[Entry]) -> None:
    """Keep searches and clicks in their users' histories and tastes: for each user one
    transaction under their lock, the events inserted together and their signals folded into
    the taste with one read and one write of it."""
    by_user: dict[int, list[Entry]] = {}
    for entry in entries:
        by_user.setdefault(entry.event["user_id"], []).append(entry)
    with runtime.session() as session:
        for user_id, mine in by_user.items():
            try:
                with user_lock(session, user_id):
                    session.connection().execute(_ADD_EVENT, [e.event for e in mine])
                    add_signals(runtime, session, user_id, [
                        NewSignal(SignalKind.click if e.event["image_id"] is not None else SignalKind.search, e.vector,
                                  e.space_id, image_id=e.event["image_id"], query=e.event["query"], at=e.event["created_at"])
                        for e in mine if e.vector is not None
                    ])
            except ServiceUnavailable:
                raise  # the database or the vector store is out: for everyone
            except Exception:  # one person's failure is not the others'
                log.exception("%d searches and clicks of user %s not recorded", len(mine), user_id)


def record_search(runtime: Runtime, user_id: int, query: str, found, filters: dict, page: int = 1) -> None:
    """Keep a text search now (``search_entry``)."""
    record(runtime, [search_entry(user_id, query, found, filters, page)])


def record_click(runtime: Runtime, user_id: int, image_id: int, found, filters: dict, page: int = 1) -> None:
    """Keep a "more like this" now (``click_entry``)."""
    record(runtime, [click_entry(user_id, image_id, found, filters, page)])


def like(runtime: Runtime, session: Session, user_id: int, image_id: int, source: LikeSource) -> bool:
    """Like an image (idempotent); True if it was not liked before."""
    return _mark(runtime, session, Like(user_id=user_id, image_id=image_id, source=source), SignalKind.like)


def unlike(runtime: Runtime, session: Session, user_id: int, image_id: int) -> bool:
    """Take a like back (idempotent), and its part of the taste; True if there was one."""
    return _unmark(runtime, session, Like, SignalKind.like, user_id, image_id)


def not_interested(runtime: Runtime, session: Session, user_id: int, image_id: int) -> bool:
    """Never show the image in the user's feed again, and steer their taste away from it
    (idempotent); True if it was not marked before."""
    return _mark(runtime, session, NotInterested(user_id=user_id, image_id=image_id), SignalKind.not_interested)


def interested_again(runtime: Runtime, session: Session, user_id: int, image_id: int) -> bool:
    """Take "not interested" back (idempotent), and its pull on the taste; True if it was marked."""
    return _unmark(runtime, session, NotInterested, SignalKind.not_interested, user_id, image_id)


def forget(session: Session, user_id: int) -> None:
    """Forget everything the user did: searches, clicks, likes, what they hid, what the feed
    showed, and the taste learned from them."""
    with user_lock(session, user_id):
        for table in (SearchEvent, Like, NotInterested, Impression, Signal, Taste):
            session.execute(delete(table).where(table.user_id == user_id))


def _mark(runtime: Runtime, session: Session, mark: Like | NotInterested, kind: SignalKind) -> bool:
    """Keep ``mark`` (a like, or not interested) unless the user has it already, with its
    signal from the image's vector (none while the image is not indexed yet)."""
    user_id, image_id, table = mark.user_id, mark.image_id, type(mark)
    if session.get(Image, image_id) is None:
        raise NotFound(f"There is no image {image_id}.")
    space = runtime.space
    points = space.vectors.retrieve([image_id], vectors=(IMAGE,), fields=())
    with user_lock(session, user_id):
        if session.exec(select(table.image_id).where(table.user_id == user_id, table.image_id == image_id)).first() is not None:
            return False
        session.add(mark)
        if points:
            add_signal(runtime, session, user_id, kind, points[0].vectors[IMAGE], space.id, image_id=image_id)
        else:
            log.info("Image %s is not indexed yet: the %s is kept but does not feed the taste", image_id, kind.value)
    return True


def _unmark(runtime: Runtime, session: Session, table, kind: SignalKind, user_id: int, image_id: int) -> bool:
    """Take the user's mark in ``table`` off the image, with its signal, and rebuild the taste."""
    with user_lock(session, user_id):
        removed = session.execute(delete(table).where(table.user_id == user_id, table.image_id == image_id)).rowcount
        if removed:
            session.execute(
                delete(Signal).where(Signal.user_id == user_id, Signal.image_id == image_id, Signal.kind == kind)
            )
            rebuild_locked(runtime, session, user_id, runtime.space)
    return bool(removed)


def _entry(user_id: int, kind: SearchKind, found, filters: dict, page: int, vector: np.ndarray | None,
           query: str | None = None, image_id: int | None = None) -> Entry:
    row = _event_row(user_id=user_id, kind=kind, query=query, image_id=image_id, filters=filters, page=page,
                     result_count=len(found.results))
    return Entry(row, vector if page == 1 else None, found.space_id)


def _event_row(**columns) -> dict:
    """A ``SearchEvent`` row for the insert, every column in it (the rows of one insert must
    name the same columns): the model's defaults for those not given, without building the
    model (its validation cost more than the rest of the entry)."""
    if unknown := columns.keys() - set(_EVENT_COLUMNS):
        raise ValueError(f"SearchEvent has no column {sorted(unknown)}")
    fields = SearchEvent.model_fields
    return {c: columns[c] if c in columns else fields[c].get_default(call_default_factory=True) for c in _EVENT_COLUMNS}
