"""The process ``findimage serve`` runs: the API, the Slack bot on it, the ingest worker (on
the embedded vector store, which this process owns) and the watcher that follows vector
spaces. The front doors know nothing of each other; this is where they meet."""

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from slack_bolt.async_app import AsyncApp

from api import main as api
from bot.app import SocketMode, create_bot
from bot.http import slack_router
from bot.listening import ListenerWork
from core.config import Settings, get_settings
from core.runtime import Runtime
from worker.reindex import space_watcher
from worker.runner import EmbeddedWorker

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """findimage serve's app. With no ``runtime`` its lifespan opens one (and closes it)."""
    settings = settings or get_settings()
    return api.create_app(settings, runtime, alongside=lambda app: _alongside(app, settings))


def _alongside(app: FastAPI, settings: Settings):
    bot = _slack_bot(settings, app)
    if bot is not None and settings.slack.app_token is None:
        app.include_router(slack_router(bot))

    @asynccontextmanager
    async def running():
        runtime = app.state.runtime
        worker = EmbeddedWorker(runtime).start() if settings.embedded_vectors else None
        watcher = space_watcher(runtime).start()
        socket_mode = SocketMode(bot, settings.slack.app_token.get_secret_value()) if bot and settings.slack.app_token else None
        try:
            if socket_mode is not None:
                await socket_mode.start()
            yield
        finally:
            if socket_mode is not None:
                await socket_mode.stop()
            if bot is not None:
                app.state.slack_work.shutdown()
            watcher.stop()
            if worker is not None:
                worker.stop()

    return running


def _slack_bot(settings: Settings, app: FastAPI) -> AsyncApp | None:
    """The Slack bot, when Slack is configured: Socket Mode with an app token, else HTTP
    mode, which needs the signing secret (requests are never taken unverified)."""
    slack = settings.slack
    if not slack.enabled:
        return None
    if slack.app_token is None and slack.signing_secret is None:
        log.warning("Slack bot token set, but neither an app token (Socket Mode) nor a signing secret "
                    "(HTTP mode): the Slack bot is off.")
        return None
    app.state.slack_work = ListenerWork()
    return create_bot(settings, lambda: app.state.runtime, app.state.secret, app.state.slack_work)
