"""What people do that says what they like: likes and unlikes, "not interested", the
searches and clicks of their history, and forgetting it all. Each is applied in one
transaction under the user's lock (``core.db.user_lock``), so none is lost when one person
searches, clicks and likes in two tabs and in Slack at once; the taste it feeds is kept by
``services.tastes``.
"""

import logging

import numpy as np
from sqlalchemy import delete, insert
from sqlmodel import Session, select

from core.db import user_lock
from core.errors import NotFound
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
from services.tastes import add_signal, rebuild_locked

log = logging.getLogger(__name__)
_ADD_EVENT = insert(SearchEvent.__table__)
"""A Core statement, as ``services.tastes`` writes the signal: one for every search and click."""
_EVENT_COLUMNS = [c.name for c in SearchEvent.__table__.columns if c.name != "id"]


def record_event(runtime: Runtime, event: SearchEvent, vector: np.ndarray | None, space_id: int | None = None) -> None:
    """Keep a search or click in the user's history and, with its vector (in vector space
    ``space_id``), in their taste."""
    row = {column: getattr(event, column) for column in _EVENT_COLUMNS}
    with runtime.session() as session:
        if vector is None:
            session.connection().execute(_ADD_EVENT, row)
            session.commit()
            return
        kind = SignalKind.click if event.image_id is not None else SignalKind.search
        with user_lock(session, event.user_id):  # the event and its signal in one transaction
            session.connection().execute(_ADD_EVENT, row)
            add_signal(runtime, session, event.user_id, kind, vector, space_id, image_id=event.image_id, query=event.query)


def record_search(runtime: Runtime, user_id: int, query: str, found, filters: dict, page: int = 1) -> None:
    """A text search (``found``: its ``services.search.SearchPage``) in the user's history
    and, a first page, in their taste (turning pages says nothing new)."""
    event = SearchEvent(user_id=user_id, kind=SearchKind.text, query=query, filters=filters, page=page,
                        result_count=len(found.results))
    record_event(runtime, event, found.query_vector if page == 1 else None, found.space_id)


def record_click(runtime: Runtime, user_id: int, image_id: int, found, filters: dict, page: int = 1) -> None:
    """A "more like this" (``found``: its ``services.similar`` page) in the user's history
    and, a first page, in their taste."""
    event = SearchEvent(user_id=user_id, kind=SearchKind.click, image_id=image_id, filters=filters, page=page,
                        result_count=len(found.results))
    record_event(runtime, event, found.clicked_vector if page == 1 else None, found.space_id)


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
