"""Liveness and readiness probes."""

import redis
from fastapi import APIRouter

from api.deps import RuntimeDep
from core.errors import ServiceUnavailable
from core.texts import progress
from services.backfill import backfills, described

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep) -> dict:
    """Ready when the database, the queue and the vector store answer (503 otherwise);
    says which model and vector space search uses, how a reindex is getting on and how far
    OCR is (images read, skipped, failed and waiting) and each Slack conversation's backfill
    ("412 of ~1,900 images (indexing)")."""
    try:
        runtime.redis.ping()
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"The queue is unavailable: {exc}") from exc
    with runtime.session() as session:
        ocr = {"mode": runtime.settings.ocr.mode, **progress(session)}
        history = {f"{row.team}/{row.channel}": described(row) for row in backfills(session)}
    space, building = runtime.space, runtime.building
    return {
        "status": "ready",
        "images_indexed": space.vectors.count(),
        "model": space.model,
        "vector_space": space.id,
        "reindexing_into": building and {"vector_space": building.id, "model": building.model, "images": building.vectors.count()},
        "ocr": ocr,
        "slack_history": history,
    }
