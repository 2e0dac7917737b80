"""Vector spaces: the generations of vectors, as the database records them.

A space is a CLIP model and the collection its vectors live in. Exactly one is
``active`` (searched). ``findimage reindex`` adds a ``building`` one beside it, which a
worker fills while search keeps using the active one, then switches: the new space
becomes active and the old one ``retired``, dropped ``RETIRE_AFTER`` seconds later, once
every process has followed the switch (``core.runtime``).

The first space is the collection findimage always had: it is recorded, with the model
the settings name, the first time a process starts.
"""

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from core.config import Settings
from core.errors import InvalidRequest
from core.models import Image, ImageStatus, Signal, SpaceState, VectorSpace, as_utc, utcnow

RETIRE_AFTER = 60.0
"""Seconds a replaced space is kept for requests and processes still using it."""
STALLED_AFTER = 120.0
"""Seconds without progress after which a building space's next step is queued again."""


def active_space(session: Session, settings: Settings) -> VectorSpace:
    """The active space; on a database that has none yet, the configured collection and
    model become the first one (and the taste signals stored so far are in it)."""
    space = session.exec(select(VectorSpace).where(VectorSpace.state == SpaceState.active)).first()
    if space is not None:
        return space
    space = VectorSpace(
        model=settings.clip.model,
        pretrained=settings.clip.pretrained,
        collection=settings.collection,
        state=SpaceState.active,
        switched_at=utcnow(),
    )
    session.add(space)
    try:
        session.flush()
        session.execute(update(Signal).where(col(Signal.space_id).is_(None)).values(space_id=space.id))
        session.commit()
    except IntegrityError:  # another process recorded it first
        session.rollback()
        return session.exec(select(VectorSpace).where(VectorSpace.state == SpaceState.active)).one()
    return space


def current_spaces(session: Session) -> list[VectorSpace]:
    """Every space not yet dropped, oldest first."""
    return list(session.exec(select(VectorSpace).order_by(col(VectorSpace.id))).all())


def building_space(session: Session) -> VectorSpace | None:
    return session.exec(select(VectorSpace).where(VectorSpace.state == SpaceState.building)).first()


def start_reindex(session: Session, settings: Settings, model: str, pretrained: str) -> VectorSpace:
    """Record a new space to build with ``model``; a worker takes it from there."""
    active_space(session, settings)  # the space searched meanwhile is on record
    running = building_space(session)
    if running is not None:
        raise InvalidRequest(
            f"A reindex into {running.model} is already running ({running.done} of about {running.total} "
            "images). Wait for it, or cancel it with `findimage reindex --cancel`."
        )
    space = VectorSpace(
        model=model, pretrained=pretrained, collection=f"pending-{utcnow().timestamp()}", state=SpaceState.building
    )
    space.total = session.exec(select(func.count()).select_from(Image).where(Image.status == ImageStatus.indexed)).one()
    space.last_image_id = session.exec(select(func.max(Image.id))).one() or 0
    session.add(space)
    session.flush()
    space.collection = f"{settings.collection}-{space.id}"
    session.commit()
    return space


def cancel_reindex(session: Session) -> VectorSpace | None:
    """Stop the running reindex (its vectors are dropped); the active space stays."""
    space = building_space(session)
    if space is not None:
        fail_reindex(session, space, "cancelled")
    return space


def fail_reindex(session: Session, space: VectorSpace, error: str) -> None:
    """Give up on a building space (dropped later); the active space stays."""
    if space.state == SpaceState.building:
        space.state, space.error, space.switched_at = SpaceState.failed, error, utcnow()
        session.commit()


def advance(session: Session, space_id: int, cursor: int, new_cursor: int, written: int) -> bool:
    """Move a building space's cursor from ``cursor`` on; False if another step got there
    first (or the reindex was cancelled): this chain of steps then stops."""
    changed = session.execute(
        update(VectorSpace)
        .where(col(VectorSpace.id) == space_id, col(VectorSpace.cursor) == cursor, VectorSpace.state == SpaceState.building)
        .values(cursor=new_cursor, done=VectorSpace.done + written, updated_at=utcnow())
    ).rowcount
    session.commit()
    return bool(changed)


def switch_to(session: Session, space_id: int) -> bool:
    """Make the building space active and retire the active one, in one transaction;
    False if it is not building any more (cancelled)."""
    now = utcnow()
    changed = session.execute(
        update(VectorSpace)
        .where(col(VectorSpace.id) == space_id, VectorSpace.state == SpaceState.building)
        .values(state=SpaceState.active, switched_at=now, updated_at=now)
    ).rowcount
    if not changed:
        session.rollback()
        return False
    session.execute(
        update(VectorSpace)
        .where(VectorSpace.state == SpaceState.active, col(VectorSpace.id) != space_id)
        .values(state=SpaceState.retired, switched_at=now)
    )
    session.commit()
    return True


def is_stalled(space: VectorSpace) -> bool:
    """A building space whose steps stopped (never started, or its job was lost)."""
    if space.state != SpaceState.building:
        return False
    return space.updated_at is None or utcnow() - as_utc(space.updated_at) > timedelta(seconds=STALLED_AFTER)


def is_droppable(space: VectorSpace) -> bool:
    if space.state == SpaceState.failed:
        return True
    return space.state == SpaceState.retired and utcnow() - as_utc(space.switched_at) > timedelta(seconds=RETIRE_AFTER)
