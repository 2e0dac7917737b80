"""Liveness and readiness probes, and how far the background work has got."""

import redis
from fastapi import APIRouter
from sqlalchemy import text

from api.deps import CallerDep, RuntimeDep, SessionDep
from core.errors import ServiceUnavailable
from core.runtime import OpenSpace
from core.texts import progress
from services.backfill import backfills, described

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep) -> dict:
    """Ready when the database, the queue and the vector store answer (503 otherwise), and
    which model and vector space search uses. A probe's work does not grow with the library
    (how far OCR and backfills are is ``/api/status``: counting takes half a second at 1M
    images)."""
    try:
        runtime.redis.ping()
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"The queue is unavailable: {exc}") from exc
    with runtime.session() as session:
        session.exec(text("SELECT 1"))
    return {"status": "ready", **_searched(runtime.space)}


@router.get("/api/status")
def status(caller: CallerDep, runtime: RuntimeDep, session: SessionDep) -> dict:
    """What ``/readyz`` says, with how a reindex is getting on, how far OCR is (images
    read, skipped, failed and waiting) and each Slack conversation's backfill ("412 of
    ~1,900 images (indexing)")."""
    building = runtime.building
    return {
        **_searched(runtime.space),
        "reindexing_into": building and {"vector_space": building.id, "model": building.model, "images": building.vectors.count()},
        "ocr": {"mode": runtime.settings.ocr.mode, **progress(session)},
        "slack_history": {f"{row.team}/{row.channel}": described(row) for row in backfills(session)},
    }


def _searched(space: OpenSpace) -> dict:
    """The vector space search uses: its images, model and id."""
    return {"images_indexed": space.vectors.count(), "model": space.model, "vector_space": space.id}
