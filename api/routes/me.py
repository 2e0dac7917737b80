"""Your history: what you searched for, clicked and liked; and forgetting it."""

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from api.deps import CallerDep, RecorderDep, SessionDep
from core.history import history
from core.models import UtcDatetime, thumbnail_url
from services.signals import forget

router = APIRouter(prefix="/api/me", tags=["me"])


class HistoryItem(BaseModel):
    kind: str
    """``text`` or ``image`` (a search), ``click`` (more like this), or ``like``."""
    at: UtcDatetime
    query: str | None
    image_id: int | None
    thumbnail_url: str | None
    filters: dict | None
    result_count: int | None


@router.get("/history", response_model=list[HistoryItem])
def my_history(
    caller: CallerDep,
    session: SessionDep,
    recorder: RecorderDep,
    page: Annotated[int, Query(ge=1, le=100)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
):
    """Your searches, clicks and likes, newest first."""
    recorder.wait_for_earlier(caller.id)  # the search just made is in it
    return [
        HistoryItem(**vars(e), thumbnail_url=thumbnail_url(e.image_id) if e.image_id else None)
        for e in history(session, caller.id, (page - 1) * limit, limit)
    ]


@router.delete("/history", status_code=204)
def forget_my_history(caller: CallerDep, session: SessionDep, recorder: RecorderDep) -> Response:
    """Forget your searches, clicks and likes, what your feed showed you, and the taste
    learned from them. Your feed starts over."""
    recorder.wait_for_earlier(caller.id)  # the searches just made are in the history before it goes
    forget(session, caller.id)
    return Response(status_code=204)
