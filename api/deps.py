"""Request dependencies, as ``Annotated`` aliases for handler signatures."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from rq import Queue
from sqlmodel import Session

from core.runtime import Runtime
from worker.queue import ingest_queue


async def get_runtime(request: Request) -> Runtime:
    # async: a trivial dependency should not cost a hop through the thread pool
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.session() as session:
        yield session


async def get_queue(runtime: RuntimeDep) -> Queue:
    return ingest_queue(runtime)


SessionDep = Annotated[Session, Depends(get_session)]
QueueDep = Annotated[Queue, Depends(get_queue)]


async def get_caller(request: Request) -> str:
    """Who is asking, for their history: the ``X-FindImage-User`` header (set by the Slack
    bot or a trusted proxy), else the browser's ``findimage_user`` cookie, else anonymous."""
    caller = request.headers.get("x-findimage-user") or request.cookies.get("findimage_user") or "anonymous"
    return caller[:255]


CallerDep = Annotated[str, Depends(get_caller)]
