"""The Slack bot: slack-bolt's ``AsyncApp``, the same in both modes; its listeners are in
``bot.listeners``, one package per kind of request.

HTTP mode: ``/slack/events`` is mounted on the API (``bot.http``); every request's
signature is checked by slack-bolt. Socket Mode (an app token is set): ``SocketMode``
keeps a websocket to Slack, so no public URL is needed.

Listeners acknowledge at once and do their work after (slack-bolt runs them after the
ack; the work itself runs in a thread, off the event loop). Slack retries an event it
thinks was lost: each event id is handled once (a Redis key per id), and a file is queued
once however many events name it.
"""

import logging
from collections.abc import Callable

import redis
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot import listeners
from bot.listening import ListenerWork, Listening, report
from bot.replies import Replies
from core.config import Settings
from core.runtime import Runtime

log = logging.getLogger(__name__)

EVENT_SEEN_FOR = 3600
"""Seconds an event id is remembered (Slack retries within minutes)."""


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

    @app.middleware
    async def once_per_event(body: dict, next):
        """Slack's retries of an event already handled are answered and dropped."""
        event_id = body.get("event_id")
        if body.get("type") == "event_callback" and event_id and not await work.run(_first_sight, runtime_of(), event_id):
            return BoltResponse(status=200, body="")
        return await next()

    listeners.register(app, Listening(Replies(runtime_of, secret), work, runtime_of, slack))
    app.error(report)
    return app


def _first_sight(runtime: Runtime, event_id: str) -> bool:
    try:
        return bool(runtime.redis.set(f"findimage:slack:event:{event_id}", 1, nx=True, ex=EVENT_SEEN_FOR))
    except redis.RedisError:
        return True  # better to risk doing it twice (files are deduplicated anyway) than never


class SocketMode:
    """The bot connected to Slack over a websocket (an app-level token; no public URL)."""

    def __init__(self, app: AsyncApp, app_token: str):
        self.handler = AsyncSocketModeHandler(app, app_token)

    async def start(self) -> None:
        await self.handler.connect_async()
        log.info("Slack bot connected in Socket Mode")

    async def stop(self) -> None:
        await self.handler.close_async()
