"""What a user likes, read back: their liked images, and which of some images they like."""

from sqlmodel import Session, col, select

from core.db import ids_of
from core.models import Image, Like


def liked_images(session: Session, user_id: int, offset: int = 0, limit: int = 50) -> list[tuple[Image, Like]]:
    """The images the user likes, most recently liked first."""
    return list(session.exec(
        select(Image, Like).join(Like, col(Like.image_id) == Image.id).where(Like.user_id == user_id)
        .order_by(col(Like.created_at).desc(), col(Like.image_id).desc()).offset(offset).limit(limit)
    ).all())


def liked_among(session: Session, user_id: int, image_ids) -> set[int]:
    """Which of these images the user likes (to draw their hearts filled)."""
    ids = list(image_ids)
    if not ids:
        return set()
    return set(session.exec(select(Like.image_id).where(Like.user_id == user_id, col(Like.image_id).in_(ids))).all())


def liked_ids(session: Session, user_id: int) -> list[int]:
    """Every image the user likes (``is:liked``)."""
    return ids_of(session, select(Like.image_id).where(Like.user_id == user_id))
