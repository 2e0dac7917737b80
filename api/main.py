"""The FastAPI application factory."""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.deps import Caller, session_serializer
from api.errors import install_error_handlers
from api.observability import RequestContext
from api.observability import router as metrics_router
from api.recorder import Recorder
from api.routes import auth, feed, health, images, likes, me, not_interested, search
from api.security import install_security
from core.accounts import local_user, session_secret
from core.config import Settings, get_settings
from core.runtime import Runtime
from services.signals import record

log = logging.getLogger(__name__)
FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
EXAMPLE_SEARCHES = 4
"""Threads searching by example image at once."""


Alongside = Callable[[FastAPI], Callable[[], AbstractAsyncContextManager]]
"""What runs beside the API in one process: called while the app is built (it may add
routes), it gives a context entered once the runtime is open and left before it closes."""


def create_app(settings: Settings | None = None, runtime: Runtime | None = None, alongside: Alongside | None = None) -> FastAPI:
    """Build the API. With no ``runtime`` its lifespan opens one (and closes it).
    ``cli.serving`` adds what ``findimage serve`` runs beside it (the bot, the worker)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = runtime is None
        app.state.runtime = Runtime.open(settings) if owned else runtime
        # Searches by example run here, so that one taking too long answers 504 and its thread moves on.
        app.state.example_searches = ThreadPoolExecutor(EXAMPLE_SEARCHES, thread_name_prefix="findimage-example-search")
        app.state.recorder = Recorder(partial(record, app.state.runtime))
        threading.Thread(target=_warm_up, args=(app.state.runtime,), name="findimage-warm-up", daemon=True).start()
        try:
            with app.state.runtime.session() as session:
                user = local_user(session)
                app.state.local_user = Caller(user.id, user.name)
            async with running() if running else nullcontext():
                yield
        finally:
            app.state.example_searches.shutdown(wait=True, cancel_futures=True)  # before the store closes
            app.state.recorder.close()  # what it was asked to write, written
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
    running = alongside(app) if alongside else None
    app.mount("/", StaticFiles(directory=FRONTEND, html=True), name="frontend")  # last: it answers every other path
    return app


def _warm_up(runtime: Runtime) -> None:
    """The query model's sessions loaded while the first requests may already come (they
    wait for it only if they need it sooner)."""
    try:
        runtime.embedder.warm_up()
    except Exception:  # a model that cannot load fails the searches that need it, saying why
        log.warning("Could not load the query model ahead of the first search", exc_info=True)
