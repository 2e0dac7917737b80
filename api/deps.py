"""Request dependencies, as ``Annotated`` aliases for handler signatures."""

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from rq import Queue
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.recorder import Recorder
from core.access import Viewer, is_loopback, viewer_for
from core.accounts import user_for_api_token
from core.errors import Unauthorized
from core.models import User
from core.runtime import Runtime
from services.queue import ingest_queue

SESSION_COOKIE = "findimage_session"
SESSION_MAX_AGE = 30 * 86400


# Trivial dependencies are async: they should not cost a hop through the thread pool.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.session() as session:
        yield session


async def get_queue(runtime: RuntimeDep) -> Queue:
    return ingest_queue(runtime)


async def get_recorder(request: Request) -> Recorder:
    return request.app.state.recorder


SessionDep = Annotated[Session, Depends(get_session)]
QueueDep = Annotated[Queue, Depends(get_queue)]
RecorderDep = Annotated[Recorder, Depends(get_recorder)]


@dataclass(frozen=True)
class Caller:
    id: int
    name: str


def session_serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="findimage-session")


async def get_caller(request: Request, runtime: RuntimeDep) -> Caller:
    """Who is asking: the user of a bearer API token, else of the signed session cookie,
    else (unless login is required) the local user."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        user = await run_in_threadpool(_user_for_token, runtime, token.strip())
        if user is None:
            raise Unauthorized("This API token is not valid (revoked, or mistyped).")
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            found = request.app.state.sessions.loads(cookie, max_age=SESSION_MAX_AGE)
            return Caller(found["id"], found["name"])
        except (BadSignature, KeyError, TypeError):
            pass  # tampered with or expired: as if absent
    settings = runtime.settings
    if not settings.login_required:
        if settings.allow_remote_without_login or is_loopback(request.client.host if request.client else None):
            return request.app.state.local_user
        raise Unauthorized("Without login, findimage answers only on the machine it runs on: log in, or ask "
                           "an admin to set FINDIMAGE_LOGIN_REQUIRED=true and give you a login link.")
    raise Unauthorized("Log in first: open a login link (`findimage user login NAME`) or send an API token.")


def _user_for_token(runtime: Runtime, token: str) -> Caller | None:
    with runtime.session() as session:
        user = user_for_api_token(session, token)
        return Caller(user.id, user.name) if user else None


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_current_user(caller: CallerDep, session: SessionDep) -> User:
    """The caller's user row, in the request's one session."""
    user = session.get(User, caller.id)
    if user is None:
        raise Unauthorized("This user no longer exists: log in again.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_viewer(user: CurrentUser, runtime: RuntimeDep, session: SessionDep) -> Viewer:
    """What the caller may see (for a Slack member: asks Slack, cached, which channels)."""
    return viewer_for(runtime.settings, runtime.redis, session, user.id)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def on_one_thread(endpoint):
    """A sync route body run on one worker thread, its response checked on the event loop.

    FastAPI runs each sync dependency, the body, its response's validation and the
    session's closing each on a thread of their own, hop after hop; the routes every
    search goes through take the async ``CallerDep`` and friends and open what they need
    with ``asking`` inside the body, one hop in all."""

    @functools.wraps(endpoint)
    async def route(**kwargs):
        return await run_in_threadpool(endpoint, **kwargs)

    return route


@contextmanager
def asking(runtime: Runtime, caller: Caller) -> Iterator[tuple[Session, User, Viewer]]:
    """The request's session, the caller's user row and what they may see: ``SessionDep``,
    ``CurrentUser`` and ``ViewerDep`` for an ``on_one_thread`` body."""
    with runtime.session() as session:
        user = get_current_user(caller, session)
        yield session, user, viewer_for(runtime.settings, runtime.redis, session, user.id)
