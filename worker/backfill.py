"""The steps of a backfill (``services.backfill``): one page of ``files.list`` each, its
images queued as live shares are, the position stored, the next step queued. Slack's 429s
are waited out (``core.slack.web_client``), then RQ retries the step with its backoff."""

import logging

from rq.job import Job
from slack_sdk.errors import SlackApiError
from sqlmodel import select

from core.models import SlackBackfill, utcnow
from core.runtime import Runtime
from core.slack import web_client
from services.queue import enqueue_backfill_step, ingest_queue
from services.slack_files import queue_slack_file
from worker.context import current_runtime

log = logging.getLogger(__name__)
PAGE = 100
"""Files a ``files.list`` page holds."""
FILE_FIELDS = ("id", "name", "title", "mimetype", "user", "url_private", "url_private_download", "shares")
"""What a page says of a file that taking it in needs (so no ``files.info`` call per file)."""


def backfill_step(team: str, channel: str) -> str:
    """Read the next page of the conversation's images; returns ``running`` or ``done``."""
    runtime = current_runtime()
    with runtime.session() as session:
        row = session.get(SlackBackfill, (team, channel))
        if row is None or row.state != "running":
            return row.state if row else "gone"
        page, since, until = row.page, row.since, row.until
    try:
        answer = web_client(runtime.settings).files_list(
            channel=channel, types="images", ts_from=str(int(since)), ts_to=str(int(until) + 1), page=page, count=PAGE
        )
    except SlackApiError as exc:
        if exc.response.get("error") in ("channel_not_found", "not_in_channel", "missing_scope"):
            return _fail(runtime, team, channel, exc.response.get("error"))
        raise
    files = [f for f in answer.get("files", []) if str(f.get("mimetype", "")).startswith("image/")]
    queue = ingest_queue(runtime)
    queued = sum(
        queue_slack_file(runtime, queue, team, f["id"], channel=channel, ts=_share_ts(f, channel), user=f.get("user"),
                         file={key: f[key] for key in FILE_FIELDS if key in f})
        for f in files
    )
    paging = answer.get("paging") or {}
    with runtime.session() as session:
        row = session.get(SlackBackfill, (team, channel))
        if row is None or row.state != "running" or row.page != page:
            return row.state if row else "gone"  # cancelled, or another step got here first
        row.seen, row.queued = row.seen + len(files), row.queued + queued
        row.total = max(int(paging.get("total", 0)), row.seen)
        row.page, row.updated_at = page + 1, utcnow()
        if not answer.get("files") or page >= int(paging.get("pages", page)):
            row.state = "done"
        session.add(row)
        session.commit()
        state, seen, new = row.state, row.seen, row.queued
    if state == "running":
        enqueue_backfill_step(runtime, team, channel, page + 1)
    else:
        log.info("Backfill of %s/%s done: %d images found, %d new", team, channel, seen, new)
    return state


def resume_backfills(runtime: Runtime) -> int:
    """Queue the next step of every backfill under way (once: the step's job id says which
    page); what a worker does when it starts, and every few seconds after."""
    with runtime.session() as session:
        running = [(r.team, r.channel, r.page) for r in session.exec(select(SlackBackfill).where(SlackBackfill.state == "running"))]
    for team, channel, page in running:
        enqueue_backfill_step(runtime, team, channel, page)
    return len(running)


def on_step_failure(job: Job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: after the last retry the backfill is ``failed`` (asking again resumes it)."""
    if not job.should_retry:
        _fail(current_runtime(), job.args[0], job.args[1], f"{exc_type.__name__}: {exc_value}")


def _fail(runtime: Runtime, team: str, channel: str, error: str) -> str:
    with runtime.session() as session:
        row = session.get(SlackBackfill, (team, channel))
        if row is not None:
            row.state, row.error, row.updated_at = "failed", str(error)[:2000], utcnow()
            session.add(row)
            session.commit()
    log.warning("Backfill of %s/%s failed: %s", team, channel, error)
    return "failed"


def _share_ts(file: dict, channel: str) -> str | None:
    for kind in ("public", "private"):
        shares = (file.get("shares", {}).get(kind) or {}).get(channel)
        if shares:
            return shares[0].get("ts")
    return None
