"""The Slack messages an image was shared in (``ImageShare``), read and written."""

from collections.abc import Iterable

from sqlmodel import Session, col, select

from core.models import Image, ImageShare


def add_share(session: Session, image: Image, team: str, channel: str, ts: str | None, file_id: str | None,
              public: bool) -> bool:
    """Record that ``image`` was shared in that message; False if it was known."""
    if session.get(ImageShare, (image.id, team, channel, ts or "")) is not None:
        return False
    session.add(ImageShare(image_id=image.id, team=team, channel=channel, ts=ts or "", file_id=file_id, public=public))
    session.commit()
    return True


def shares_of(session: Session, image_ids: Iterable[int]) -> dict[int, list[ImageShare]]:
    ids = list(image_ids)
    found: dict[int, list[ImageShare]] = {i: [] for i in ids}
    if ids:
        for share in session.exec(select(ImageShare).where(col(ImageShare.image_id).in_(ids))):
            found[share.image_id].append(share)
    return found


def shares_where(session: Session, team: str, *, channel: str | None = None, ts: str | None = None,
                 file_id: str | None = None) -> list[ImageShare]:
    """The shares of one message (``channel`` and ``ts``) or of one Slack file."""
    query = select(ImageShare).where(ImageShare.team == team)
    if channel is not None:
        query = query.where(ImageShare.channel == channel)
    if ts is not None:
        query = query.where(ImageShare.ts == ts)
    if file_id is not None:
        query = query.where(ImageShare.file_id == file_id)
    return list(session.exec(query))
