"""Liveness and readiness probes."""

from fastapi import APIRouter

from api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep) -> dict:
    runtime.redis.ping()
    with runtime.session() as session:
        session.connection()
    return {"status": "ready", "images_indexed": runtime.vectors.count()}
