"""Operating it: request ids, Prometheus metrics with per-stage timings and queue depth."""

import logging

from fastapi.testclient import TestClient

from cli.serving import create_app
from services.queue import ingest_queue
from tests.factories import LOOPBACK, distinct_jpeg
from tests.polling import wait_for_status


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_each_stage_and_the_queue(client, app_runtime):
    before = client.get("/metrics").text
    image = client.post("/api/images", files={"files": ("a.jpg", distinct_jpeg(8), "image/jpeg")},
                        data={"caption": "a lamp"}).json()["images"][0]
    wait_for_status(app_runtime, [image["id"]])
    client.get("/api/search", params={"q": "a lamp"})
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    for stage in ("decode", "embed", "upsert", "search", "fuse"):
        grown = metric(after.text, "findimage_stage_seconds_count", stage=stage) - metric(
            before, "findimage_stage_seconds_count", stage=stage)
        assert grown >= 1, stage
    assert metric(after.text, "findimage_queue_jobs", state="queued") == 0
    assert metric(after.text, "findimage_http_request_seconds_count", method="GET", route="/api/search", status="200") >= 1


def test_queue_depth_shows_waiting_jobs(settings):
    # With a Qdrant server (here qdrant-client's local mode) the API runs no worker: jobs wait.
    with TestClient(create_app(settings.model_copy(update={"qdrant_url": ":memory:"})), client=LOOPBACK) as client:
        runtime = client.app.state.runtime
        client.post("/api/images", files={"files": ("a.jpg", distinct_jpeg(9), "image/jpeg")})
        waiting = len(ingest_queue(runtime))
        assert waiting >= 1
        assert metric(client.get("/metrics").text, "findimage_queue_jobs", state="queued") == waiting


def test_every_answer_carries_a_request_id_that_reaches_the_logs(client, caplog):
    with caplog.at_level(logging.INFO, logger="findimage.requests"):
        given = client.get("/api/me", headers={"X-Request-ID": "trace-42"})
        made = client.get("/api/me")
        bad = client.get("/api/me", headers={"X-Request-ID": "no spaces or <tags> please"})
    assert given.headers["x-request-id"] == "trace-42"
    assert len(made.headers["x-request-id"]) == 32
    assert bad.headers["x-request-id"] != "no spaces or <tags> please"
    lines = [r for r in caplog.records if r.name == "findimage.requests"]
    assert any("GET /api/me 200" in r.getMessage() and r.fields["status"] == 200 for r in lines)
