"""The RQ entry points. They take image ids and are idempotent."""

import logging

from rq.job import Job

from core.images import record_failure
from core.models import Image, ImageStatus
from services.queue import drop_jobs, ingest_queue, queued_image_ids
from worker.context import current_runtime
from worker.indexing import index_images

log = logging.getLogger(__name__)


def index_image(image_id: int) -> str:
    """Index one image, and with it whatever else is queued, up to ``batches_per_job``
    batches (so decoding one batch overlaps embedding the previous one).

    The job looks at the queue again whenever it has taken what it saw, so an import that
    queues as it goes is indexed by few jobs (each one's start is time the model waits).
    The jobs of the images taken along leave the queue as soon as their batch is indexed
    (so the queue's length says what is left); should that removal not happen (a crash),
    they run later, find their image indexed and finish at once. A failed batch only
    retries the job that ran it, while the others keep their own jobs.
    """
    runtime = current_runtime()
    with runtime.session() as session:
        image = session.get(Image, image_id)
        if image is None or image.status != ImageStatus.queued:
            return image.status.value if image else "deleted"
    queue = ingest_queue(runtime)
    limit = runtime.settings.worker.batch_size * runtime.settings.worker.batches_per_job
    # The queue's head, looked at again whenever the job has taken what it saw (an import
    # queues as it goes); twice the limit, as the jobs of the batches under way are still there.
    result = index_images(runtime, [image_id], limit=limit, more=lambda: queued_image_ids(queue, 2 * limit),
                          on_batch=lambda ids: drop_jobs(queue, [i for i in ids if i != image_id]))
    if image_id in result.unreadable:
        # Bytes that do not decode now never will: fail at once, without retries.
        with runtime.session() as session:
            record_failure(session, image_id, result.unreadable[image_id], final=True)
        return ImageStatus.failed.value
    return ImageStatus.indexed.value


def on_index_failure(job: Job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: count the attempt; after the last retry the image is ``failed``."""
    runtime = current_runtime()
    with runtime.session() as session:
        record_failure(session, job.args[0], f"{exc_type.__name__}: {exc_value}", final=not job.should_retry)
    log.warning("Indexing image %s failed (%s retries left): %s", job.args[0], job.retries_left, exc_value)
