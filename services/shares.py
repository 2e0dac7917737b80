"""An image's shares follow Slack: a second share widens who may see it, deleting one share
narrows it again, and the image goes when its last share goes (a web or folder image
stays: its upload is a share of its own)."""

from sqlmodel import Session

from core.access import audience_of
from core.images import delete_image
from core.models import Image, ImageShare, ImageSource
from core.runtime import Runtime
from core.shares import add_share, shares_of, shares_where
from core.vectors import AUDIENCE


def share_again(runtime: Runtime, session: Session, image: Image, team: str, channel: str, ts: str | None,
                file_id: str | None, public: bool) -> bool:
    """Record another message the image was shared in; its audience grows at once."""
    if not add_share(session, image, team, channel, ts, file_id, public):
        return False
    refresh_audience(runtime, session, [image])
    return True


def unshare(runtime: Runtime, session: Session, team: str, *, channel: str | None = None, ts: str | None = None,
            file_id: str | None = None) -> list[int]:
    """Forget the shares of a deleted message or file; returns the images that went with
    them (those left with no share and no upload)."""
    gone = shares_where(session, team, channel=channel, ts=ts, file_id=file_id)
    images = {share.image_id for share in gone}
    for share in gone:
        session.delete(share)
    session.commit()
    deleted, kept = [], []
    for image_id, left in shares_of(session, images).items():
        image = session.get(Image, image_id)
        if image is None:
            continue
        if not left and image.source == ImageSource.slack:
            delete_image(session, runtime.files, [s.vectors for s in runtime.spaces()], image_id)
            deleted.append(image_id)
            continue
        if left and not any(_is_first(image, share) for share in left):
            _make_first(image, left[0])  # the first share went: another one stands for it
            session.add(image)
            session.commit()
        kept.append(image)
    refresh_audience(runtime, session, kept)
    return deleted


def set_public(runtime: Runtime, session: Session, team: str, channel: str, public: bool) -> int:
    """The channel became public or private: so did its shares; returns how many images changed."""
    shares = shares_where(session, team, channel=channel)
    for share in shares:
        share.public = public
        session.add(share)
    images = [image for image in (session.get(Image, i) for i in {s.image_id for s in shares}) if image is not None]
    for image in images:
        if (image.slack_team, image.slack_channel) == (team, channel):
            image.slack_public = public
            session.add(image)
    session.commit()
    refresh_audience(runtime, session, images)
    return len(images)


def refresh_audience(runtime: Runtime, session: Session, images: list[Image]) -> None:
    """Write the images' audience (the union of their shares) to their points in every space."""
    shares = shares_of(session, [i.id for i in images])
    for image in images:
        audience = audience_of(image, shares[image.id])
        for space in runtime.spaces():
            space.vectors.set_payload([image.id], {AUDIENCE: audience})


def _is_first(image: Image, share: ImageShare) -> bool:
    return (image.slack_channel, image.slack_ts or "") == (share.channel, share.ts)


def _make_first(image: Image, share: ImageShare) -> None:
    image.slack_team, image.slack_channel, image.slack_ts = share.team, share.channel, share.ts or None
    image.slack_public, image.slack_file_id = share.public, share.file_id
