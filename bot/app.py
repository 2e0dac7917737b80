"""The Slack bot: slack-bolt's ``AsyncApp`` and its listeners, the same in both modes.

HTTP mode: the API mounts ``/slack/events`` (``bot.http``); every request's signature is
checked by slack-bolt. Socket Mode (an app token is set): ``SocketMode`` keeps a websocket
to Slack, so no public URL is needed.

Listeners acknowledge at once and do their work after (slack-bolt runs them after the
ack; the work itself runs in a thread, off the event loop). Slack retries an event it
thinks was lost: each event id is handled once (a Redis key per id), and a file is queued
once however many events name it.
"""

import asyncio
import functools
import json
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import redis
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import LIKE, PAGE, SIMILAR, USAGE, text_message
from bot.replies import Replies
from core.config import Settings
from core.errors import FindImageError
from core.runtime import Runtime
from services.queue import ingest_queue
from services.slack_files import queue_slack_file

log = logging.getLogger(__name__)

WORKERS = 2
"""Threads doing the listeners' work. Few: more only contend with the event loop (and its
acks) for the interpreter, and the searches themselves are CPU-bound."""
EVENT_SEEN_FOR = 3600
"""Seconds an event id is remembered (Slack retries within minutes)."""


class ListenerWork:
    """The threads the listeners' work runs on (off the event loop), and how many listeners
    are still at work after their ack: a shutdown, or a test, waits for them instead of
    guessing how long they take."""

    def __init__(self, workers: int = WORKERS):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="findimage-slack")
        self._under_way = 0
        self._changed = threading.Condition()

    async def run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    def begin(self) -> None:
        with self._changed:
            self._under_way += 1

    def end(self) -> None:
        with self._changed:
            self._under_way -= 1
            self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once no listener is at work; False if that took over ``timeout`` s."""
        with self._changed:
            return self._changed.wait_for(lambda: self._under_way == 0, timeout)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def create_bot(settings: Settings, runtime_of: Callable[[], Runtime], secret: str, work: ListenerWork) -> AsyncApp:
    """The bot for ``settings.slack`` (which must have a bot token). ``runtime_of`` gives
    the runtime when a listener runs (the app opens it after building the bot); ``work``
    runs what the listeners do (its owner shuts it down)."""
    slack = settings.slack
    client = AsyncWebClient(
        token=slack.bot_token.get_secret_value(),
        base_url=slack.api_url,
        retry_handlers=[AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=3)],
    )
    app = AsyncApp(
        client=client,
        signing_secret=slack.signing_secret.get_secret_value() if slack.signing_secret else "",
        # Without a signing secret only Socket Mode is served (``bot.http`` refuses to mount).
        request_verification_enabled=slack.signing_secret is not None,
    )
    replies = Replies(runtime_of, secret)
    run = work.run

    @app.middleware
    async def once_per_event(body: dict, next):
        """Slack's retries of an event already handled are answered and dropped."""
        event_id = body.get("event_id")
        if body.get("type") == "event_callback" and event_id and not await run(_first_sight, runtime_of(), event_id):
            return BoltResponse(status=200, body="")
        return await next()

    def reported(listener):
        """Listeners report their own errors (through ``report``) instead of raising into
        slack-bolt: when a listener fails within bolt's 10 ms ack poll, bolt (1.30) forgets
        the ack and answers Slack 404, which Slack counts against the app and retries."""

        @functools.wraps(listener)
        async def wrapper(*args, **kwargs):
            work.begin()  # the listener's first step, taken as soon as bolt starts it
            try:
                await listener(*args, **kwargs)
            except Exception as error:
                await report(error, kwargs.get("respond"))
            finally:
                work.end()

        return wrapper

    @app.command("/findimage")
    @reported
    async def findimage(ack, command, respond, context):
        await ack()
        text = " ".join(command.get("text", "").split())
        if text.lower() in ("", "help"):
            await respond(response_type="ephemeral", **text_message(USAGE))
        elif text.lower() == "feed":
            await respond(response_type="ephemeral", **await run(replies.feed, context.team_id, context.user_id))
        else:
            query = text[:500]
            await respond(response_type="ephemeral", **await run(replies.search, context.team_id, context.user_id, query))

    @app.action(LIKE)
    @reported
    async def like_button(ack, action, respond, context):
        await ack()
        message = await run(replies.like, context.team_id, context.user_id, int(action["value"]))
        await respond(response_type="ephemeral", replace_original=False, **message)

    @app.action(SIMILAR)
    @reported
    async def similar_button(ack, action, respond, context):
        await ack()
        message = await run(replies.similar, context.team_id, context.user_id, int(action["value"]))
        await respond(replace_original=True, **message)

    @app.action(re.compile(f"^{PAGE}_"))
    @reported
    async def page_button(ack, action, respond, context):
        await ack()
        message = await run(replies.page, context.team_id, context.user_id, json.loads(action["value"]))
        await respond(replace_original=True, **message)

    @app.event("message")
    @reported
    async def message(event, context):
        subtype = event.get("subtype")
        if subtype == "message_deleted":
            await run(replies.forget_message, context.team_id, event["channel"], event["deleted_ts"])
            return
        if subtype not in (None, "file_share", "thread_broadcast"):
            return  # edits, joins, bot messages...: nothing to do
        for file in event.get("files", []):
            if str(file.get("mimetype", "")).startswith("image/"):
                await run(
                    _queue_file, runtime_of(), context.team_id, file["id"],
                    {"channel": event.get("channel"), "channel_type": event.get("channel_type"), "ts": event.get("ts"),
                     "user": event.get("user"), "text": event.get("text") or None},
                )

    @app.event("file_shared")
    @reported
    async def file_shared(event, context):
        context_fields = {"channel": event.get("channel_id"), "user": event.get("user_id")}
        await run(_queue_file, runtime_of(), context.team_id, event["file_id"], context_fields)

    @app.event("file_deleted")
    @reported
    async def file_deleted(event, context):
        await run(replies.forget_file, context.team_id, event["file_id"])

    @app.event("reaction_added")
    @reported
    async def reaction_added(event, context):
        await _reaction(event, context, added=True)

    @app.event("reaction_removed")
    @reported
    async def reaction_removed(event, context):
        await _reaction(event, context, added=False)

    async def _reaction(event: dict, context, added: bool) -> None:
        item = event.get("item", {})
        wanted = slack.like_reactions
        if item.get("type") != "message" or (wanted and event["reaction"].split("::")[0] not in wanted):
            return
        await run(replies.reaction, context.team_id, event["user"], item["channel"], item["ts"], added)

    app.error(report)
    return app


async def report(error: Exception, respond=None) -> None:
    """The one error handler: our errors become a short private reply; anything else is
    logged, and said so. (Events have no one to answer: they are only logged.)"""
    if isinstance(error, FindImageError):
        log.warning("Slack request refused: %s", error.message)
        text = f":warning: {error.message}"
    else:
        log.exception("The Slack listener failed", exc_info=error)
        text = ":warning: Something went wrong on findimage's side; it has been logged. Try again in a moment."
    if respond is None:
        return
    try:
        await respond(response_type="ephemeral", replace_original=False, text=text)
    except Exception:  # the response URL failed too: the request was acknowledged all the same
        log.exception("Could not tell the Slack user about the error either")


def _first_sight(runtime: Runtime, event_id: str) -> bool:
    try:
        return bool(runtime.redis.set(f"findimage:slack:event:{event_id}", 1, nx=True, ex=EVENT_SEEN_FOR))
    except redis.RedisError:
        return True  # better to risk doing it twice (files are deduplicated anyway) than never


def _queue_file(runtime: Runtime, team: str, file_id: str, context: dict) -> None:
    if queue_slack_file(runtime, ingest_queue(runtime), team, file_id, **context):
        log.info("Slack file %s queued for indexing", file_id)


class SocketMode:
    """The bot connected to Slack over a websocket (an app-level token; no public URL)."""

    def __init__(self, app: AsyncApp, app_token: str):
        self.handler = AsyncSocketModeHandler(app, app_token)

    async def start(self) -> None:
        await self.handler.connect_async()
        log.info("Slack bot connected in Socket Mode")

    async def stop(self) -> None:
        await self.handler.close_async()
