"""Drill: ``findimage serve`` (which runs the ingest worker) is killed with SIGKILL in the
middle of indexing, then started again.

What we promise: the job it was running is retried by RQ's abandoned-job handling (at
once, since in embedded mode no other worker can be running it), the jobs still waiting
run as usual, and every image ends ``indexed`` exactly once: with one vector, and those
indexed before the crash are not indexed again.
"""

import io
import time

import httpx
import numpy as np
import pytest
import redis
from PIL import Image as PILImage
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlmodel import select

from core.db import create_db_engine, session_scope
from core.models import Image, ImageStatus
from core.vectors import open_vector_store
from tests.drills.conftest import ServeProcess

pytestmark = pytest.mark.slow
IMAGES = 160
PER_REQUEST = 40


def noise_jpeg(seed: int) -> bytes:
    """A 640x640 JPEG of noise: slow enough to decode that the kill lands mid-job."""
    pixels = np.random.default_rng(seed).integers(0, 256, (640, 640, 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, "JPEG", quality=85)
    return out.getvalue()


def statuses(settings) -> dict[int, tuple[ImageStatus, object]]:
    engine = create_db_engine(settings)
    try:
        with session_scope(engine) as session:
            return {i.id: (i.status, i.indexed_at) for i in session.exec(select(Image)).all()}
    finally:
        engine.dispose()


def test_a_worker_killed_mid_batch_leaves_every_image_indexed_exactly_once(settings, valkey, tmp_path, embedder):
    servers, _ = valkey
    settings = settings.model_copy(update={"redis_url": servers[0].connection_url})
    queue = Queue(settings.queue_name, connection=redis.Redis.from_url(settings.redis_url))
    started = StartedJobRegistry(queue=queue)
    serve = ServeProcess(
        {
            "FINDIMAGE_DATA_DIR": str(settings.data_dir),
            "FINDIMAGE_REDIS_URL": settings.redis_url,
            "FINDIMAGE_CLIP__MODEL": settings.clip.model,
            "FINDIMAGE_MODELS_DIR": str(settings.models_dir),
            "FINDIMAGE_WORKER__BATCH_SIZE": "8",
            "FINDIMAGE_WORKER__RETRY_INTERVALS": "[1]",
        },
        log=tmp_path / "serve.log",
    ).start()
    try:
        pictures = [noise_jpeg(seed) for seed in range(IMAGES)]
        for first in range(0, IMAGES, PER_REQUEST):
            files = [("files", (f"{n}.jpg", pictures[n], "image/jpeg")) for n in range(first, first + PER_REQUEST)]
            assert httpx.post(f"{serve.url}/api/images", files=files, timeout=60).status_code == 202
        deadline = time.monotonic() + 30
        while not started.get_job_ids(cleanup=False):  # wait for a job to be under way
            assert time.monotonic() < deadline, "no ingest job started"
            time.sleep(0.002)
        serve.kill()

        abandoned = started.get_job_ids(cleanup=False)
        before = statuses(settings)
        done_before = {i: at for i, (status, at) in before.items() if status == ImageStatus.indexed}
        assert abandoned, "the kill should land while a job runs"
        assert len(before) == IMAGES and len(done_before) < IMAGES, "the kill should land mid-ingest"

        serve.start()
        deadline = time.monotonic() + 120
        while any(status != ImageStatus.indexed for status, _ in statuses(settings).values()):
            assert time.monotonic() < deadline, f"not all indexed after the restart:\n{serve.log.read_text()[-3000:]}"
            time.sleep(0.2)
    finally:
        serve.stop()

    after = statuses(settings)
    assert {status for status, _ in after.values()} == {ImageStatus.indexed}
    assert {i: after[i][1] for i in done_before} == done_before  # indexed before the crash: not again
    assert started.get_job_ids(cleanup=False) == [] and FailedJobRegistry(queue=queue).count == 0
    vectors = open_vector_store(settings)
    try:
        vectors.ensure_collection(embedder.dim)
        assert vectors.count() == IMAGES
        assert sorted(p.id for p in vectors.retrieve(list(after))) == sorted(after)
    finally:
        vectors.close()
