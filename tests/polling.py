"""Waiting for the worker, which runs in another thread."""

import time

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
