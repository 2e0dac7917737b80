"""Your personal feed."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import CallerDep, RuntimeDep, SessionDep, ViewerDep
from core.models import file_url, thumbnail_url
from recommender.feed import feed_page

router = APIRouter(prefix="/api", tags=["feed"])


class FeedResult(BaseModel):
    id: int
    score: float
    """Cosine similarity to the interest it was chosen for (0 for new and popular images)."""
    reason: str
    because_image: int | None
    because_query: str | None
    caption: str | None
    source: str | None
    thumbnail_url: str
    file_url: str


class FeedResponse(BaseModel):
    page: int
    results: list[FeedResult]
    personal: bool
    """False while findimage knows nothing of your taste: the team's new and most-liked images."""


@router.get("/feed", response_model=FeedResponse)
def feed(
    caller: CallerDep,
    viewer: ViewerDep,
    runtime: RuntimeDep,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 24,
):
    """Images picked for you from your likes, clicks and searches: near each of your
    interests in proportion to its weight, diversified, never one you liked or were
    already shown (so pages never repeat)."""
    found = feed_page(runtime, session, caller.id, viewer, limit)
    return FeedResponse(
        page=page,
        results=[FeedResult(**vars(i), thumbnail_url=thumbnail_url(i.id), file_url=file_url(i.id)) for i in found.items],
        personal=found.personal,
    )
