"""What OCR read: the ``image_text`` rows, read in bulk."""

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from core.models import Image, ImageStatus, ImageText


def texts_of(session: Session, image_ids: list[int]) -> dict[int, str]:
    """The OCR text of those of ``image_ids`` in which text was read."""
    if not image_ids:
        return {}
    rows = session.exec(select(ImageText.image_id, ImageText.text).where(col(ImageText.image_id).in_(image_ids)))
    return {image_id: text for image_id, text in rows if text}


def unread_ids(session: Session, after: int, limit: int) -> list[int]:
    """Indexed images OCR has not seen yet, by id, from ``after`` on."""
    return list(session.exec(
        sa_select(Image.id)
        .outerjoin(ImageText, ImageText.image_id == Image.id)
        .where(Image.status == ImageStatus.indexed, ImageText.image_id.is_(None), Image.id > after)
        .order_by(Image.id)
        .limit(limit)
    ).scalars().all())


def progress(session: Session) -> dict[str, int]:
    """How far OCR is: indexed images per ``TextStatus``, and ``waiting`` (not read yet)."""
    counts = dict(session.exec(select(ImageText.status, func.count()).group_by(ImageText.status)).all())
    indexed = session.exec(select(func.count()).select_from(Image).where(Image.status == ImageStatus.indexed)).one()
    seen = session.exec(
        select(func.count()).select_from(ImageText).join(Image, Image.id == ImageText.image_id)
        .where(Image.status == ImageStatus.indexed)
    ).one()
    return {"read": counts.get("read", 0), "skipped": counts.get("skipped", 0), "failed": counts.get("failed", 0),
            "waiting": indexed - seen}
