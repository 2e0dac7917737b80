"""The repost notice (off by default; ``/findimage reposts on`` in a channel): a new image
that is a near-duplicate of one posted earlier, and that everyone in the channel may see,
gets a reply in its thread saying where and when it was posted before."""

from datetime import datetime

from sqlmodel import Session, col, select

from core.access import readers_of
from core.models import ChannelSetting, Image, ImageSource, as_utc
from core.runtime import Runtime
from core.vectors import IMAGE, SearchFilter


def set_reposts(session: Session, team: str, channel: str, on: bool) -> None:
    row = session.get(ChannelSetting, (team, channel)) or ChannelSetting(team=team, channel=channel)
    row.reposts = on
    session.add(row)
    session.commit()


def watched(session: Session, images: list[Image]) -> list[int]:
    """Those of ``images`` shared in a channel that asked for the notice."""
    channels = {(i.slack_team, i.slack_channel) for i in images if i.source == ImageSource.slack and i.slack_channel}
    if not channels:
        return []
    on = {(r.team, r.channel) for r in session.exec(select(ChannelSetting).where(
        col(ChannelSetting.reposts).is_(True), col(ChannelSetting.channel).in_([c for _, c in channels])))}
    return [i.id for i in images if (i.slack_team, i.slack_channel) in on]


def posted_before(runtime: Runtime, image: Image) -> Image | None:
    """The earliest image near-identical to ``image`` that everyone in its channel may see
    (a web or folder image, one of the workspace's public channels, or this channel's own)."""
    space = runtime.space
    points = space.vectors.retrieve([image.id])
    if not points or IMAGE not in points[0].vectors:
        return None
    hits = space.vectors.search(
        IMAGE, points[0].vectors[IMAGE], 5, score_threshold=runtime.settings.slack.repost_above,
        where=SearchFilter(audience=readers_of(image.slack_team, image.slack_channel), before=as_utc(image.created_at).timestamp(), exclude=frozenset({image.id})),
        with_payload=False,
    )
    if not hits:
        return None
    with runtime.session() as session:
        earlier = session.exec(select(Image).where(col(Image.id).in_([h.id for h in hits]))).all()
    return min(earlier, key=lambda i: i.created_at, default=None)


def notice(runtime: Runtime, before: Image) -> str:
    """What the thread reply says (Slack mrkdwn)."""
    day = _day(as_utc(before.created_at))
    if before.source == ImageSource.slack and before.slack_channel:
        who = f" by <@{before.uploader.rsplit(':', 1)[-1]}>" if before.uploader else ""
        link = f"https://slack.com/archives/{before.slack_channel}/p{(before.slack_ts or '').replace('.', '')}"
        return f"Posted before in <#{before.slack_channel}>{who} on {day}: <{link}|see it>"
    who = f" by {before.uploader}" if before.uploader else ""
    return f"Uploaded before{who} on {day}: <{runtime.settings.base_url}/#/image/{before.id}|see it>"


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"
