"""Your personal feed."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import CallerDep, RecorderDep, RuntimeDep, asking, on_one_thread
from core.models import file_url, thumbnail_url
from services.feed import feed_page

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
    seen_before: bool
    """Shown to you before: the feed is past its fresh images (``caught_up``)."""
    liked: bool
    """Whether you like it (only images shown before can be)."""
    thumbnail_url: str
    file_url: str


class FeedResponse(BaseModel):
    results: list[FeedResult]
    personal: bool
    """False while findimage knows nothing of your taste: the team's new and most-liked images."""
    caught_up: bool
    """You have seen every fresh image: the results (or their end) are ones shown before."""
    next_cursor: int
    """Pass it as ``cursor`` for the next page of this scroll."""


@router.get("/feed", response_model=FeedResponse)
@on_one_thread
def feed(
    caller: CallerDep,
    runtime: RuntimeDep,
    recorder: RecorderDep,
    cursor: Annotated[int | None, Query(ge=0, description="``next_cursor`` of the previous page; none: a new scroll")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 24,
):
    """Images picked for you from your likes, clicks and searches: near each of your
    interests in proportion to its weight, diversified, steered away from what you are
    not interested in. Fresh images first (none you liked, hid or were shown lately);
    when there are no more, ``caught_up`` and images shown before, least recently shown
    first. The pages of one scroll (each asked for with the last one's ``next_cursor``)
    never repeat an image until every one you may see has been on them."""
    recorder.wait_for_earlier(caller.id)  # the search or click just made pulls the taste already
    with asking(runtime, caller) as (session, _, viewer):
        found = feed_page(runtime, session, caller.id, viewer, limit, since=None if cursor is None else cursor / 1000)
    return FeedResponse(
        results=[FeedResult(**vars(i), thumbnail_url=thumbnail_url(i.id), file_url=file_url(i.id)) for i in found.items],
        personal=found.personal,
        caught_up=found.caught_up,
        next_cursor=int(found.since * 1000),
    )
