"""Who may see which image: access follows Slack's.

An image uploaded on the web or imported from a folder is the team's: everyone sees it.
An image shared in a public Slack channel is seen by the members of that workspace; one
from a private channel, group or DM only by the members of that conversation; never across
workspaces. Admins (the local user of a single-user install, too) see everything.

Each image carries audience tokens in its vector payload and each viewer a set of tokens
they hold; a hit needs one in common. So the vector query itself filters (one ``MatchAny``
condition on an indexed keyword field) and pages stay full.
"""

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlmodel import Session, col, select

from core.config import Settings
from core.errors import NotFound
from core.models import Image, ImageShare, ImageSource, User
from core.shares import shares_of
from core.slack import channels_of

EVERYONE = "everyone"


def readers_of(team: str, channel: str) -> frozenset[str]:
    """The audience tokens every reader of a conversation holds: an image with one of them
    may be shown to the whole conversation."""
    return frozenset({EVERYONE, f"team:{team}", f"channel:{team}/{channel}"})


def audience_of(image: Image, shares: Sequence[ImageShare] = ()) -> list[str]:
    """The tokens that let a viewer see ``image`` (stored in its vector payload): the union
    over its upload and every Slack message it was shared in."""
    if image.source != ImageSource.slack:
        return [EVERYONE]
    places = [(image.slack_team, image.slack_channel, image.slack_public)]
    places += [(share.team, share.channel, share.public) for share in shares]
    tokens = [f"team:{team}" if public else f"channel:{team}/{channel}" for team, channel, public in places]
    return sorted(set(tokens))


@dataclass(frozen=True)
class Viewer:
    """What one user may see. ``everything`` for admins; else web images, plus, for a
    Slack member, their workspace's public channels and the conversations they are in."""

    everything: bool = False
    team: str | None = None
    channels: frozenset[str] = frozenset()

    @classmethod
    def of(cls, user: User, channels: frozenset[str] = frozenset()) -> "Viewer":
        return cls(everything=user.is_admin, team=user.slack_team, channels=channels)

    def tokens(self) -> frozenset[str] | None:
        """The audience tokens this viewer holds; ``None`` means no restriction."""
        if self.everything:
            return None
        tokens = {EVERYONE}
        if self.team:
            tokens.add(f"team:{self.team}")
            tokens.update(f"channel:{self.team}/{channel}" for channel in self.channels)
        return frozenset(tokens)

    def can_see(self, image: Image, shares: Sequence[ImageShare] = ()) -> bool:
        tokens = self.tokens()
        return tokens is None or bool(tokens.intersection(audience_of(image, shares)))

    def sql(self) -> ColumnElement[bool]:
        """The same rule as a SQL condition on ``Image`` (for listings made in the database)."""
        if self.everything:
            return true()
        slack = col(Image.source) == ImageSource.slack
        if not self.team:
            return ~slack
        in_team = col(Image.slack_team) == self.team
        public = and_(in_team, col(Image.slack_public).is_(True))
        member = and_(in_team, col(Image.slack_channel).in_(self.channels)) if self.channels else false()
        shared = select(ImageShare.image_id).where(
            ImageShare.image_id == Image.id, ImageShare.team == self.team,
            or_(col(ImageShare.public).is_(True), col(ImageShare.channel).in_(self.channels) if self.channels else false()),
        ).exists()
        return or_(~slack, public, member, shared)


def viewer_for(settings: Settings, cache: redis.Redis | None, session: Session, user_id: int) -> Viewer:
    """The viewer a user is: for a Slack member, with the conversations Slack says they are
    in (kept in ``cache`` a while)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("This user no longer exists.")
    channels = frozenset()
    if user.slack_team and user.slack_user and not user.is_admin and settings.slack.enabled:
        channels = channels_of(settings, cache, user.slack_team, user.slack_user)
    return Viewer.of(user, channels)


def visible_image(session: Session, viewer: Viewer, image_id: int) -> Image:
    """The image, or ``NotFound`` (also when it exists but the viewer may not see it:
    what you may not see, you cannot learn exists)."""
    image = session.get(Image, image_id)
    if image is None or not viewer.can_see(image, shares_of(session, [image_id])[image_id]):
        raise NotFound(f"No image with id {image_id}.")
    return image


def visible_images(session: Session, viewer: Viewer, image_ids) -> dict[int, Image]:
    """The images among ``image_ids`` that exist and the viewer may see, by id."""
    rows = session.exec(select(Image).where(col(Image.id).in_(list(image_ids)), viewer.sql())).all()
    return {image.id: image for image in rows}


def can_delete(user: User, image: Image) -> bool:
    """An image may be deleted by whoever added it, and by admins."""
    return user.is_admin or (image.uploader is not None and image.uploader == user.name)


def is_loopback(host: str | None) -> bool:
    """Whether a client, or a bind address, is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False
