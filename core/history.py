"""A user's history: their searches, clicks and likes, newest first."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core.models import Like, SearchEvent


@dataclass(frozen=True)
class HistoryEntry:
    kind: str
    """``text`` or ``image`` (a search), ``click`` (more like this), ``like``."""
    at: datetime
    query: str | None = None
    image_id: int | None = None
    filters: dict | None = None
    result_count: int | None = None


def history(session: Session, user_id: int, offset: int = 0, limit: int = 50) -> list[HistoryEntry]:
    """Searches, clicks and likes merged, newest first."""
    wanted = offset + limit
    events = session.exec(
        select(SearchEvent).where(SearchEvent.user_id == user_id)
        .order_by(col(SearchEvent.created_at).desc(), col(SearchEvent.id).desc()).limit(wanted)
    ).all()
    likes = session.exec(
        select(Like).where(Like.user_id == user_id).order_by(col(Like.created_at).desc()).limit(wanted)
    ).all()
    entries = [
        HistoryEntry(e.kind.value, e.created_at, e.query, e.image_id, e.filters, e.result_count) for e in events
    ] + [HistoryEntry("like", like.created_at, image_id=like.image_id) for like in likes]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[offset:wanted]
