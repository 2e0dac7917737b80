"""The FastAPI application factory."""

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.deps import Caller, session_serializer
from api.errors import install_error_handlers
from api.routes import auth, feed, health, images, likes, me, search
from core.accounts import local_user, session_secret
from core.config import Settings, get_settings
from core.runtime import Runtime
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
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if owned:
                app.state.runtime.close()

    app = FastAPI(title="findimage", summary="Search your team's images by text, by example and by taste.", lifespan=lifespan)
    app.state.sessions = session_serializer(session_secret(settings))
    install_error_handlers(app)
    for routes in (health, auth, images, likes, search, feed, me):
        app.include_router(routes.router)
    app.mount("/", StaticFiles(directory=FRONTEND, html=True), name="frontend")
    return app
