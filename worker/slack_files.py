"""The job behind an image shared in Slack (queued by ``services.slack_files``): ask Slack
about the file, download it with the bot token and take it in like any upload, with its
channel, message and uploader recorded. It checks the database before downloading; a job
that runs out of retries (Slack down for minutes) removes the file's queued mark, so
Slack's next event for the file queues it afresh.
"""

import logging

from rq.job import Job
from slack_sdk.errors import SlackApiError
from sqlmodel import select

from core.accounts import slack_user
from core.errors import InvalidImage
from core.models import Image, ImageSource
from core.shares import shares_where
from core.slack import download, thread_start, web_client
from services.ingest import submit_image
from services.queue import ingest_queue
from services.shares import share_again
from services.slack_files import queued_mark
from worker.context import current_runtime

log = logging.getLogger(__name__)

def ingest_slack_file(
    team: str,
    file_id: str,
    channel: str | None = None,
    channel_type: str | None = None,
    ts: str | None = None,
    user: str | None = None,
    text: str | None = None,
    file: dict | None = None,
    thread_ts: str | None = None,
    thread: str | None = None,
) -> str:
    """Download and queue one Slack file for indexing. Returns what happened: ``queued``,
    ``shared`` (known, and now shared in one more message: its audience grew), ``duplicate``
    (this share was known), ``ignored`` (not an image) or ``rejected`` (not a valid image). Slack or network trouble raises, and RQ retries the job. ``file``: what
    Slack already said of the file (a backfill's ``files.list`` page), saving the
    ``files.info`` call. A reply (``thread_ts`` not its own ``ts``) is captioned with its
    text and the thread's first message (``thread``, else asked of Slack)."""
    runtime = current_runtime()
    with runtime.session() as session:
        known = session.exec(select(Image).where(Image.slack_team == team, Image.slack_file_id == file_id)).first()
        if known is not None and channel and not ts and any(
            share.image_id == known.id for share in shares_where(session, team, channel=channel, file_id=file_id)
        ):
            return "duplicate"  # a file_shared event for a share its message event brought
    if known is not None and channel and channel_type:  # shared again: it is known, only its audience grows
        return _shared_again(runtime, known.id, team, channel, ts, file_id, channel_type == "channel")
    if file is None:
        try:
            file = web_client(runtime.settings).files_info(file=file_id)["file"]
        except SlackApiError as exc:
            if exc.response.get("error") in ("file_not_found", "file_deleted"):
                return "ignored"
            raise
    if not str(file.get("mimetype", "")).startswith("image/"):
        return "ignored"
    shared_in = _shares(file)
    channel = channel or next(iter(shared_in), None)
    shared_public, shared_ts = shared_in.get(channel, (False, None))
    public = channel_type == "channel" if channel_type else shared_public
    ts = ts or shared_ts
    if known is not None and channel:
        return _shared_again(runtime, known.id, team, channel, ts, file_id, public)
    member = user or file.get("user")
    if thread is None and thread_ts and thread_ts != ts and channel:
        thread = thread_start(runtime.settings, runtime.redis, team, channel, thread_ts)
    try:
        data = download(runtime.settings, file.get("url_private_download") or file["url_private"])
        with runtime.session() as session:
            uploader = slack_user(session, team, member).name if member else None
        submit_image(
            runtime,
            ingest_queue(runtime),
            data,
            source=ImageSource.slack,
            uploader=uploader,
            caption=_caption(text, thread) or _title(file),
            slack_team=team,
            slack_channel=channel,
            slack_public=public,
            slack_ts=ts,
            slack_file_id=file_id,
            filename=(file.get("name") or "")[:255] or None,
        )
    except InvalidImage as exc:
        log.warning("Slack file %s (%s) is not taken in: %s", file_id, file.get("name"), exc.message)
        return "rejected"
    return "queued"


def on_slack_file_failure(job: Job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: after the last retry, forget that the file was queued."""
    if job.should_retry:
        return
    kwargs = job.kwargs
    connection.delete(queued_mark(kwargs["team"], kwargs["file_id"], kwargs.get("channel"), kwargs.get("ts")))
    log.warning("Slack file %s was not taken in (%s); Slack's next event for it will try again", job.kwargs["file_id"], exc_value)


def _shared_again(runtime, image_id: int, team: str, channel: str, ts: str | None, file_id: str, public: bool) -> str:
    with runtime.session() as session:
        added = share_again(runtime, session, session.get(Image, image_id), team, channel, ts, file_id, public)
    return "shared" if added else "duplicate"


def _caption(text: str | None, thread: str | None) -> str | None:
    """The message's text, then its thread's first message (what the reply answers)."""
    return "\n".join(part for part in (text, thread) if part and part.strip()) or None


def _title(file: dict) -> str | None:
    """A title someone gave the file (Slack's default title is its name)."""
    title = (file.get("title") or "").strip()
    return title if title and title != file.get("name") else None


def _shares(file: dict) -> dict[str, tuple[bool, str | None]]:
    """Where the file was shared: channel -> (public, message ts), from ``files.info``."""
    found = {}
    for kind, public in (("public", True), ("private", False)):
        for channel, shares in (file.get("shares", {}).get(kind) or {}).items():
            found[channel] = (public, shares[0].get("ts") if shares else None)
    return found
