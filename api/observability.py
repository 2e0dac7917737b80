"""Watching the API run: a request id on every request (taken from ``X-Request-ID`` or
made up, put on every log line and sent back), one log line and one timing per request,
and Prometheus metrics at /metrics (stage timings, HTTP timings, the ingest queue)."""

import logging
import re
import time
import uuid

import redis
from fastapi import APIRouter, Response
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import RuntimeDep
from core.logs import request_id
from services.queue import ingest_queue

log = logging.getLogger("findimage.requests")
VALID_ID = re.compile(r"[\w.:-]{1,64}")

HTTP_SECONDS = Histogram(
    "findimage_http_request_seconds",
    "Seconds to answer an HTTP request, by route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestContext:
    """Plain ASGI middleware (nothing buffered, background tasks keep the request id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if VALID_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or ("static" if scope.get("endpoint") else "unmatched")
            HTTP_SECONDS.labels(scope["method"], route, str(status)).observe(seconds)
            log.info("%s %s %s %.1f ms", scope["method"], scope["path"], status, seconds * 1000,
                     extra={"fields": {"method": scope["method"], "path": scope["path"], "status": status,
                                       "ms": round(seconds * 1000, 1)}})
            request_id.reset(token)


class QueueDepth:
    """The ingest queue's jobs by state, read from Redis when Prometheus scrapes."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime

    def collect(self):
        queue = ingest_queue(self.runtime)
        jobs = GaugeMetricFamily("findimage_queue_jobs", "Ingest jobs by state.", labels=["state"])
        for state, count in (
            ("queued", lambda: queue.count),
            ("started", lambda: len(StartedJobRegistry(queue=queue))),
            ("scheduled", lambda: len(ScheduledJobRegistry(queue=queue))),  # retries waiting their turn
            ("failed", lambda: len(FailedJobRegistry(queue=queue))),
        ):
            jobs.add_metric([state], count())
        yield jobs


router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text format: this process's metrics, then the queue's (when Redis answers)."""
    queue = CollectorRegistry()
    queue.register(QueueDepth(runtime))
    try:
        body = generate_latest(REGISTRY) + generate_latest(queue)
    except redis.RedisError:  # the process's own metrics still count
        logging.getLogger(__name__).warning("Queue depth not available for /metrics")
        body = generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
