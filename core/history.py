"""Search history: what each person searched for, clicked, and asked "more like this" of."""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from core.models import SearchEvent


def record_search(session: Session, event: SearchEvent) -> SearchEvent:
    session.add(event)
    session.commit()
    return event


def recent_searches(session: Session, user: str, limit: int = 50) -> Sequence[SearchEvent]:
    """The user's searches, newest first."""
    query = select(SearchEvent).where(SearchEvent.user == user).order_by(col(SearchEvent.id).desc()).limit(limit)
    return list(session.exec(query))
