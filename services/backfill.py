"""Indexing the images a Slack conversation held before the bot joined it (a backfill).

Asking for one only writes its position (``core.models.SlackBackfill``); the workers do
the reading (``worker.backfill``), a page of ``files.list`` a step, and a worker that
restarts goes on from the stored page. ``files.list`` (filtered by channel and
``types=images``, 100 files a page) keeps Slack's ordinary limits (Tier 3, about 50 calls
a minute), while ``conversations.history`` is held to 1 call a minute of 15 messages for
apps not approved for the Slack Marketplace (since 2025), so the history is found by its
files: a page names up to 100 images, each then taken in as a live share is
(``worker.slack_files``: ``files.info``, the download), and an image seen both in the
history and live is one image.
"""

from datetime import UTC, datetime

from sqlmodel import Session, select

from core.models import SlackBackfill, utcnow
from core.runtime import Runtime
from services.queue import enqueue_backfill_step


def start_backfill(session: Session, team: str, channel: str, since: datetime | None = None) -> SlackBackfill:
    """Ask for the channel's earlier images (since ``since``, or all); a backfill under way
    goes on, a finished one starts again (what it indexed before is not indexed twice)."""
    row = session.get(SlackBackfill, (team, channel))
    if row is not None and row.state == "running":
        return row
    now = datetime.now(UTC).timestamp()
    row = row or SlackBackfill(team=team, channel=channel)
    row.state, row.since, row.until, row.page = "running", since.timestamp() if since else 0.0, now, 1
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
        row = start_backfill(session, team, channel, since)
    enqueue_backfill_step(runtime, team, channel, row.page)
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
