"""The steps of a backfill (``services.backfill``): one page of the conversation's history
each, its images queued as live shares are, the position stored, the next step queued.
Slack's 429s are waited out (``core.slack.web_client``), then RQ retries the step with its
backoff.

A page is read from the messages (``conversations.history``, 200 a call, and each thread's
``conversations.replies``: the text around an image becomes its caption) or from the files
(``files.list``, 100 image files a call: names and titles only). ``slack.history_from =
auto`` reads messages until Slack holds the app to 15 messages a call (apps distributed
outside the Marketplace, at 1 call a minute), then the whole span again by its files: a reply
posted since those 15 messages to a thread begun before them is only there (what the
messages found is queued once, and counted once).

The history lists a thread under its first message, so a backfill that starts at a time
(``since``) does not see replies posted since then to threads begun before it. Once its
messages are read it finds those by their files (``files.list`` says in which thread each
was shared), then reads each such thread for the replies' words (source ``threads``).
"""

import logging
from dataclasses import dataclass, field

from rq.job import Job
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import select

from core.models import SlackBackfill, utcnow
from core.runtime import Runtime
from core.slack import is_public_channel, web_client
from services.queue import enqueue_backfill_step, ingest_queue
from services.slack_files import queue_slack_file
from worker.context import current_runtime

log = logging.getLogger(__name__)
PAGE = 100
"""Files a ``files.list`` page holds."""
HISTORY_PAGE = 200
"""Messages asked of a ``conversations.history`` or ``conversations.replies`` call."""
HELD_PAGE = 15
"""What Slack gives an app it holds to its lowest history limit, whatever it asks for."""
FILE_FIELDS = ("id", "name", "title", "mimetype", "user", "url_private", "url_private_download", "shares")
"""What a page says of a file that taking it in needs (so no ``files.info`` call per file)."""
GIVING_UP = ("channel_not_found", "not_in_channel", "missing_scope")


@dataclass
class _Page:
    found: list[dict]
    """``queue_slack_file`` keyword arguments, one per image."""
    moved: dict
    """The row's new position."""
    done: bool
    total: int | None = None
    facts: dict = field(default_factory=dict)
    """What the first step learnt of the conversation (``public``)."""
    found_again: bool = False
    """The next source reads this page's span again: its images are counted there."""


def backfill_step(team: str, channel: str) -> str:
    """Read the next page of the conversation's images; returns ``running`` or ``done``."""
    runtime = current_runtime()
    with runtime.session() as session:
        row = session.get(SlackBackfill, (team, channel))
        if row is None or row.state != "running":
            return row.state if row else "gone"
        at = row.model_copy()
    read = {"messages": _read_messages, "threads": _read_old_threads}.get(at.source, _read_files)
    try:
        page = read(runtime, web_client(runtime.settings), at)
    except SlackApiError as exc:
        if exc.response.get("error") in GIVING_UP:
            return _fail(runtime, team, channel, exc.response.get("error"))
        raise
    channel_type = {True: "channel", False: "group", None: None}[page.facts.get("public", at.public)]
    queue = ingest_queue(runtime)
    queued = sum(queue_slack_file(runtime, queue, team, channel_type=channel_type, **found) for found in page.found)
    with runtime.session() as session:
        row = session.get(SlackBackfill, (team, channel))
        if row is None or row.state != "running" or (row.source, row.page) != (at.source, at.page):
            return row.state if row else "gone"  # cancelled, or another step got here first
        for key, value in {**page.facts, **page.moved}.items():
            setattr(row, key, value)
        row.seen, row.queued = row.seen + (0 if page.found_again else len(page.found)), row.queued + queued
        row.total = max(page.total if page.total is not None else row.total, row.seen)
        row.state, row.updated_at = "done" if page.done else "running", utcnow()
        session.add(row)
        session.commit()
        state, seen, new, position = row.state, row.seen, row.queued, (row.source, row.page)
    if state == "running":
        enqueue_backfill_step(runtime, team, channel, *position)
    else:
        log.info("Backfill of %s/%s done: %d images found, %d new", team, channel, seen, new)
    return state


def _read_files(runtime: Runtime, client: WebClient, at: SlackBackfill) -> _Page:
    answer = _files_page(client, at, page=at.page, count=PAGE)
    files = [f for f in answer.get("files", []) if _is_image(f)]
    found = [{"file_id": f["id"], "channel": at.channel, "ts": _share_ts(f, at.channel), "user": f.get("user"),
              "file": _described(f)} for f in files]
    total = int((answer.get("paging") or {}).get("total", 0))
    return _Page(found, {"page": at.page + 1}, _last_files_page(answer, at), total=total)


def _read_messages(runtime: Runtime, client: WebClient, at: SlackBackfill) -> _Page:
    first = at.cursor is None
    answer = client.conversations_history(channel=at.channel, oldest=f"{at.since:.6f}", latest=f"{at.until:.6f}",
                                          inclusive=True, limit=HISTORY_PAGE, cursor=at.cursor)
    messages = answer.get("messages", [])
    found = []
    for message in messages:
        if message.get("thread_ts", message.get("ts")) != message.get("ts"):
            continue  # a reply also sent to the channel: read with its thread, below
        found += _images_of(message, at.channel)
        if message.get("reply_count"):
            for reply in _thread(client, at.channel, message["ts"])[1]:
                found += _images_of(reply, at.channel, thread=message.get("text"))
    cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
    more = bool(answer.get("has_more") and cursor)
    moved, again = {"page": at.page + 1, "cursor": cursor}, False
    if not more and at.since > 0:  # then the replies to threads begun before ``since``
        more, moved = True, {"source": "threads", "page": 1, "cursor": None}
    elif more and runtime.settings.slack.history_from == "auto" and len(messages) <= HELD_PAGE:
        # Slack holds this app to its lowest history limit: read the span by its files.
        moved, again = {"source": "files", "page": 1, "cursor": None}, True
        log.info("Slack gives %s 15 messages a call: its history is read from files.list", at.channel)
    facts, total = {}, None
    if first:  # the conversation's kind and size, once (two calls)
        facts["public"] = is_public_channel(runtime.settings, at.channel)
        counted = _files_page(client, at, count=1)
        total = int((counted.get("paging") or {}).get("total", 0))
    return _Page(found, moved, done=not more, total=total, facts=facts, found_again=again)


def _read_old_threads(runtime: Runtime, client: WebClient, at: SlackBackfill) -> _Page:
    """A page of the span's image files; those shared as replies to a thread begun before
    ``since`` are read with their thread (one ``conversations.replies`` a thread)."""
    answer = _files_page(client, at, page=at.page, count=PAGE)
    files = {f["id"]: f for f in answer.get("files", []) if _is_image(f)}
    threads = sorted({share["thread_ts"] for f in files.values() for share in _shares(f, at.channel)
                      if share.get("thread_ts") and float(share["thread_ts"]) < at.since})
    found = []
    for thread_ts in threads:
        first, replies = _thread(client, at.channel, thread_ts)
        found += [image for reply in replies if float(reply["ts"]) >= at.since
                  for image in _images_of(reply, at.channel, thread=first) if image["file_id"] in files]
    return _Page(found, {"page": at.page + 1}, _last_files_page(answer, at))


def _thread(client: WebClient, channel: str, thread_ts: str) -> tuple[str | None, list[dict]]:
    """A thread's first message's text, and its replies, every page."""
    first, replies = None, []
    for page in client.conversations_replies(channel=channel, ts=thread_ts, limit=HISTORY_PAGE):
        for message in page.get("messages", []):
            if message.get("ts") == thread_ts:
                first = message.get("text")
            else:
                replies.append(message)
    return first, replies


def _images_of(message: dict, channel: str, thread: str | None = None) -> list[dict]:
    """What queues each image file of a message, with the message's text (and thread's)."""
    return [
        {"file_id": f["id"], "channel": channel, "ts": message["ts"], "user": message.get("user") or f.get("user"),
         "text": message.get("text") or None, "thread_ts": message.get("thread_ts"), "thread": thread or None,
         # A file shown as "check_file_info" is described only by files.info (the job asks).
         **({"file": _described(f)} if "url_private" in f else {})}
        for f in message.get("files", []) if _is_image(f)
    ]


def _last_files_page(answer, at: SlackBackfill) -> bool:
    """Whether this ``files.list`` page (page ``at.page``) is the span's last."""
    return not answer.get("files") or at.page >= int((answer.get("paging") or {}).get("pages", at.page))


def _files_page(client: WebClient, at: SlackBackfill, **paging):
    """A page of the conversation's image files shared in the backfill's time span."""
    return client.files_list(channel=at.channel, types="images", ts_from=str(int(at.since)),
                             ts_to=str(int(at.until) + 1), **paging)


def _described(file: dict) -> dict:
    """What taking the file in needs of Slack's description of it."""
    return {key: file[key] for key in FILE_FIELDS if key in file}


def _is_image(file: dict) -> bool:
    """An image file still there (deleted files stay as tombstones; a free workspace hides old ones)."""
    return str(file.get("mimetype", "")).startswith("image/") and file.get("mode") not in ("tombstone", "hidden_by_limit")


def resume_backfills(runtime: Runtime) -> int:
    """Queue the next step of every backfill under way (once: the step's job id says which
    page); what a worker does when it starts, and every few seconds after."""
    with runtime.session() as session:
        running = [(r.team, r.channel, r.source, r.page)
                   for r in session.exec(select(SlackBackfill).where(SlackBackfill.state == "running"))]
    for team, channel, source, page in running:
        enqueue_backfill_step(runtime, team, channel, source, page)
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
    shares = _shares(file, channel)
    return shares[0].get("ts") if shares else None


def _shares(file: dict, channel: str) -> list[dict]:
    """Where the file was shared in the conversation (``ts``, and ``thread_ts`` in a thread)."""
    for kind in ("public", "private"):
        shares = (file.get("shares", {}).get(kind) or {}).get(channel)
        if shares:
            return shares
    return []
