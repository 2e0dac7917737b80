"""Queueing an image shared in Slack. The bot's listeners only queue the file (Slack wants
its answer within 3 s); the job (``worker.slack_files``) downloads and takes it in.

A share is queued once however often Slack tells of it (Slack retries events): a Redis key
per file and message says it was queued.
"""

import redis
from rq import Queue

from core.errors import ServiceUnavailable
from core.runtime import Runtime
from services.queue import job_options

SLACK_FILE_JOB = "worker.slack_files.ingest_slack_file"
FAILURE_CALLBACK = "worker.slack_files.on_slack_file_failure"
QUEUED_FOR = 7 * 86400
"""Seconds a file's "already queued" mark lasts (Slack retries for minutes, not days)."""


def queue_slack_file(runtime: Runtime, queue: Queue, team: str, file_id: str, **context) -> bool:
    """Queue the file for download and indexing; False when it was queued before.
    ``context``: ``channel``, ``channel_type``, ``ts``, ``user`` and ``text`` (the message's),
    ``thread_ts`` and ``thread`` (a reply's thread and its first message's text), and
    ``file`` when Slack's description of it is at hand."""
    mark = queued_mark(team, file_id, context.get("channel"), context.get("ts"))
    try:
        if not runtime.redis.set(mark, 1, nx=True, ex=QUEUED_FOR):
            return False
        queue.enqueue(
            SLACK_FILE_JOB,
            kwargs={"team": team, "file_id": file_id, **context},
            job_id=f"slack-{team}-{file_id}",
            job_timeout=runtime.settings.worker.job_timeout,
            **job_options(runtime, FAILURE_CALLBACK),
        )
    except redis.RedisError as exc:
        try:
            runtime.redis.delete(mark)
        except redis.RedisError:
            pass
        raise ServiceUnavailable(f"The ingest queue is unavailable: {exc}") from exc
    return True


def queued_mark(team: str, file_id: str, channel: str | None, ts: str | None) -> str:
    """Per share: the same file shared in another message is queued again (it widens the
    image's audience; it is not downloaded twice)."""
    return f"findimage:slack:file:{team}:{file_id}:{channel or ''}:{ts or ''}"
