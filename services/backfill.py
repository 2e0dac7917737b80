"""Indexing the images a Slack conversation held before the bot joined it (a backfill).

Asking for one only writes its position (``core.models.SlackBackfill``); the workers do
the reading (``worker.backfill``), a page a step, and a worker that restarts goes on from
the stored position. The pages are the conversation's messages (``conversations.history``,
with each thread's replies: an image's caption is its message's text and, for a reply, the
thread's first message), which an app the workspace made for itself may read at about 50
calls a minute; Slack holds apps distributed outside its Marketplace to 1 call a minute of
15 messages (since 2025), and for those the history is found by its files (``files.list``,
100 images a call at the ordinary limit; file names and titles, no message text). Each
image is then taken in as a live share is (``worker.slack_files``), and an image seen both
in the history and live is one image.
"""

from datetime import UTC, datetime

from sqlmodel import Session, select

from core.models import SlackBackfill, utcnow
from core.runtime import Runtime
from services.queue import enqueue_backfill_step


def start_backfill(session: Session, team: str, channel: str, since: datetime | None = None,
                   history_from: str = "auto") -> SlackBackfill:
    """Ask for the channel's earlier images (since ``since``, or all), read as
    ``slack.history_from`` says; a backfill under way goes on, a finished one starts again
    (what it indexed before is not indexed twice)."""
    row = session.get(SlackBackfill, (team, channel))
    if row is not None and row.state == "running":
        return row
    now = datetime.now(UTC).timestamp()
    row = row or SlackBackfill(team=team, channel=channel)
    row.state, row.since, row.until, row.page = "running", since.timestamp() if since else 0.0, now, 1
    row.source, row.cursor, row.public = "files" if history_from == "files" else "messages", None, None
    row.seen = row.queued = row.total = 0
    row.error, row.updated_at = None, utcnow()
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def begin_backfill(runtime: Runtime, team: str, channel: str, since: datetime | None = None) -> SlackBackfill:
    """``start_backfill`` and queue its first step now (the CLI, which has no queue, leaves
    that to the workers, which look every few seconds)."""
    with runtime.session() as session:
        row = start_backfill(session, team, channel, since, runtime.settings.slack.history_from)
    enqueue_backfill_step(runtime, team, channel, row.source, row.page)
    return row


def backfills(session: Session, team: str | None = None) -> list[SlackBackfill]:
    query = select(SlackBackfill).order_by(SlackBackfill.team, SlackBackfill.channel)
    if team:
        query = query.where(SlackBackfill.team == team)
    return list(session.exec(query))


def described(row: SlackBackfill) -> str:
    """``412 of ~1,900 images`` and how it stands."""
    of = f" of ~{row.total:,}" if row.total else ""
    state = {"running": "indexing", "done": "done", "failed": f"failed: {row.error}"}.get(row.state, row.state)
    return f"{row.seen:,}{of} images ({state})"
