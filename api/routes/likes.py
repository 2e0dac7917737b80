"""Likes: a heart on an image, one per user and image."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import CallerDep, RuntimeDep, SessionDep, ViewerDep
from core.access import visible_image
from core.likes import liked_images
from core.models import ImagePublic, LikeSource, UtcDatetime
from services.signals import like, unlike

router = APIRouter(prefix="/api", tags=["likes"])


class LikeState(BaseModel):
    image_id: int
    liked: bool
    changed: bool
    """False when the image already was in that state (both calls are idempotent)."""


@router.put("/images/{image_id}/like", response_model=LikeState, tags=["images"])
def like_image(image_id: int, caller: CallerDep, viewer: ViewerDep, runtime: RuntimeDep, session: SessionDep):
    """Like an image; it feeds your taste (and so your feed) at once."""
    visible_image(session, viewer, image_id)
    changed = like(runtime, session, caller.id, image_id, LikeSource.web)
    return LikeState(image_id=image_id, liked=True, changed=changed)


@router.delete("/images/{image_id}/like", response_model=LikeState, tags=["images"])
def unlike_image(image_id: int, caller: CallerDep, runtime: RuntimeDep, session: SessionDep):
    """Take a like back, and its part of your taste."""
    changed = unlike(runtime, session, caller.id, image_id)
    return LikeState(image_id=image_id, liked=False, changed=changed)


class LikedImage(ImagePublic):
    liked_at: UtcDatetime
    liked_from: LikeSource


@router.get("/me/likes", response_model=list[LikedImage], tags=["me"])
def my_likes(
    caller: CallerDep,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
):
    """The images you like, most recently liked first."""
    rows = liked_images(session, caller.id, (page - 1) * limit, limit)
    return [
        LikedImage(**ImagePublic.of(image).model_dump(), liked_at=like.created_at, liked_from=like.source)
        for image, like in rows
    ]
