"""Waiting for the worker, which runs in another thread."""

import time

from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from core.models import Image, ImageStatus
from core.runtime import Runtime


def wait_for_status(runtime: Runtime, image_ids, status=ImageStatus.indexed, timeout: float = 30.0) -> list[Image]:
    """Poll the database until every image reaches ``status`` (the worker runs elsewhere)."""
    deadline = time.monotonic() + timeout
    while True:
        with runtime.session() as session:
            images = [session.get(Image, i) for i in image_ids]
        if all(image is not None and image.status == status for image in images):
            return images
        if time.monotonic() > deadline:
            states = {i: (image.status, image.error) if image else None for i, image in zip(image_ids, images)}
            raise AssertionError(f"images did not reach {status}: {states}")
        time.sleep(0.05)


def wait_until_idle(runtime: Runtime, timeout: float = 30.0) -> None:
    """Poll until the ingest and OCR queues have no job waiting, being taken, running or
    scheduled for a retry (a job that queues another does so before it ends)."""
    queues = [Queue(name, connection=runtime.redis) for name in (runtime.settings.queue_name, runtime.settings.ocr.queue_name)]
    deadline = time.monotonic() + timeout
    while any(busy(runtime, queue) for queue in queues):
        if time.monotonic() > deadline:
            raise AssertionError(f"the queues were still busy after {timeout} s")
        time.sleep(0.02)


def busy(runtime: Runtime, queue: Queue) -> bool:
    return bool(queue.count or runtime.redis.llen(queue.intermediate_queue_key) or StartedJobRegistry(queue=queue).count
                or ScheduledJobRegistry(queue=queue).count)


def wait_until_read(runtime: Runtime, timeout: float = 60.0) -> None:
    """Poll until OCR has seen every indexed image (queues can look idle for a moment while
    RQ hands a job from its intermediate queue to its started registry)."""
    from core.texts import progress

    deadline = time.monotonic() + timeout
    while True:
        with runtime.session() as session:
            waiting = progress(session)["waiting"]
        if waiting == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"OCR had {waiting} image(s) still to read after {timeout} s")
        time.sleep(0.05)
