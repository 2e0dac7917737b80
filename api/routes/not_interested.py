""""Not interested": an image kept out of your feed, and your taste steered away from it."""

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CallerDep, RuntimeDep, SessionDep, ViewerDep
from core.access import visible_image
from services.signals import interested_again, not_interested

router = APIRouter(prefix="/api", tags=["images"])


class InterestState(BaseModel):
    image_id: int
    not_interested: bool
    changed: bool
    """False when the image already was in that state (both calls are idempotent)."""


@router.put("/images/{image_id}/not-interested", response_model=InterestState)
def mark_not_interested(image_id: int, caller: CallerDep, viewer: ViewerDep, runtime: RuntimeDep, session: SessionDep):
    """Never show this image in your feed again, and show fewer like it."""
    visible_image(session, viewer, image_id)
    changed = not_interested(runtime, session, caller.id, image_id)
    return InterestState(image_id=image_id, not_interested=True, changed=changed)


@router.delete("/images/{image_id}/not-interested", response_model=InterestState)
def unmark_not_interested(image_id: int, caller: CallerDep, runtime: RuntimeDep, session: SessionDep):
    """Take "not interested" back: the image may come back to your feed."""
    changed = interested_again(runtime, session, caller.id, image_id)
    return InterestState(image_id=image_id, not_interested=False, changed=changed)
