"""The RQ entry points. They take image ids and are idempotent."""

import logging

from rq.job import Job

from core.images import record_failure
from core.models import Image, ImageStatus
from worker.context import current_runtime
from worker.indexing import index_batch
from worker.queue import ingest_queue, queued_image_ids

log = logging.getLogger(__name__)


def index_image(image_id: int) -> str:
    """Index one image, and with it whatever else is queued, up to the batch size.

    The images taken along keep their own jobs; when those run they find their image
    already indexed and finish at once. So batching needs no bookkeeping, and a failed
    batch only retries the job that ran it while the others still run their own.
    """
    runtime = current_runtime()
    batch_size = runtime.settings.worker.batch_size
    others = [i for i in queued_image_ids(ingest_queue(runtime), batch_size) if i != image_id]
    result = index_batch(runtime, [image_id, *others[: batch_size - 1]])
    if image_id in result.unreadable:
        # Bytes that do not decode now never will: fail at once, without retries.
        with runtime.session() as session:
            record_failure(session, image_id, result.unreadable[image_id], final=True)
        return ImageStatus.failed.value
    with runtime.session() as session:
        image = session.get(Image, image_id)
        return image.status.value if image else "deleted"


def on_index_failure(job: Job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: count the attempt; after the last retry the image is ``failed``."""
    runtime = current_runtime()
    with runtime.session() as session:
        record_failure(session, job.args[0], f"{exc_type.__name__}: {exc_value}", final=not job.should_retry)
    log.warning("Indexing image %s failed (%s retries left): %s", job.args[0], job.retries_left, exc_value)
