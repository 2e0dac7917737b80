"""The FastAPI application factory."""

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from slack_bolt.async_app import AsyncApp

from api.deps import Caller, session_serializer
from api.errors import install_error_handlers
from api.observability import RequestContext
from api.observability import router as metrics_router
from api.routes import auth, feed, health, images, likes, me, not_interested, search
from api.security import install_security
from bot.app import ListenerWork, SocketMode, create_bot
from bot.http import slack_router
from core.accounts import local_user, session_secret
from core.config import Settings, get_settings
from core.runtime import Runtime
from worker.reindex import SpaceWatcher
from worker.runner import EmbeddedWorker

log = logging.getLogger(__name__)
FRONTEND = Path(__file__).resolve().parent.parent / "frontend"


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. With no ``runtime`` its lifespan opens one (and closes it). On the
    embedded vector store it also runs the ingest worker: this process owns the store."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = runtime is None
        app.state.runtime = Runtime.open(settings) if owned else runtime
        with app.state.runtime.session() as session:
            user = local_user(session)
            app.state.local_user = Caller(user.id, user.name)
        worker = EmbeddedWorker(app.state.runtime).start() if settings.embedded_vectors else None
        watcher = SpaceWatcher(app.state.runtime).start()
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
            if owned:
                app.state.runtime.close()

    app = FastAPI(title="findimage", summary="Search your team's images by text, by example and by taste.", lifespan=lifespan)
    app.state.secret = session_secret(settings)
    app.state.sessions = session_serializer(app.state.secret)
    install_error_handlers(app)
    install_security(app, settings)
    app.add_middleware(RequestContext)  # outermost: its timing and request id cover everything
    app.include_router(metrics_router)
    for routes in (health, auth, images, likes, not_interested, search, feed, me):
        app.include_router(routes.router)
    bot = _slack_bot(settings, app)
    if bot is not None and settings.slack.app_token is None:
        app.include_router(slack_router(bot))
    app.mount("/", StaticFiles(directory=FRONTEND, html=True), name="frontend")
    return app


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
