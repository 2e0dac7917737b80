"""Drill: the vector store goes away while findimage runs, then comes back.

What we promise: searches answer 503 with a message and readiness says so; uploads are
still taken (the store is not needed to accept them), their ingest jobs fail and are
retried by RQ, and they are indexed once the store is back.

The store here is the embedded Qdrant Edge shard, closed under the running app. A
Qdrant server going down takes the same paths (its client errors become the same 503 and
job failures), but no Qdrant server can run on this test machine to be stopped.
"""

import time

from fastapi.testclient import TestClient

from cli.serving import create_app
from core.config import WorkerSettings
from core.models import Image, ImageStatus
from tests.drills.conftest import upload
from tests.factories import LOOPBACK
from tests.polling import wait_for_status


def accepted(client, seed: int) -> int:
    answer = upload(client, seed)
    assert answer.status_code == 202, answer.text
    return answer.json()["images"][0]["id"]


def attempts(runtime, image_id: int) -> int:
    with runtime.session() as session:
        return session.get(Image, image_id).attempts


def test_search_is_503_while_the_vector_store_is_down_and_ingest_catches_up_after(settings, embedder):
    worker = WorkerSettings(batch_size=8, max_retries=5, retry_intervals=[1], index_when_idle_for=0)
    settings = settings.model_copy(update={"worker": worker})
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        runtime = client.app.state.runtime
        wait_for_status(runtime, [accepted(client, 1)])

        runtime.vectors.close()
        down = client.get("/api/search", params={"q": "a picture"})
        assert down.status_code == 503 and "vector store" in down.json()["error"]["message"]
        assert client.get("/readyz").status_code == 503
        waiting = accepted(client, 2)
        deadline = time.monotonic() + 30
        while attempts(runtime, waiting) == 0:  # its job ran, failed, and waits for a retry
            assert time.monotonic() < deadline, "the ingest job never ran"
            time.sleep(0.05)
        (image,) = wait_for_status(runtime, [waiting], ImageStatus.queued)
        assert "vector store" in image.error

        runtime.vectors.ensure_collection(embedder.dim)  # back
        (image,) = wait_for_status(runtime, [waiting])
        assert image.error is None
        assert client.get("/readyz").status_code == 200
        found = client.get("/api/search", params={"q": "a picture"}).json()["results"]
        assert sorted(r["id"] for r in found) == sorted([waiting, 1])
        assert runtime.vectors.count() == 2
