"""Putting images (and the steps of a reindex) on the ingest queue (RQ), and peeking at
what waits there.

Jobs are enqueued by dotted path, so enqueuing never imports torch. Each image has one
job whose id is derived from the image id: enqueuing an image twice never makes two.
"""

from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from core.runtime import Runtime

INDEX_JOB = "worker.jobs.index_image"
FAILURE_CALLBACK = "worker.jobs.on_index_failure"
JOB_PREFIX = "index-"
REINDEX_STEP_JOB = "worker.reindex.reindex_step"
REINDEX_FAILURE_CALLBACK = "worker.reindex.on_step_failure"
BACKFILL_STEP_JOB = "worker.backfill.backfill_step"
BACKFILL_FAILURE_CALLBACK = "worker.backfill.on_step_failure"
REPOST_JOB = "worker.reposts.notice_repost"
OCR_JOB = "worker.ocr.read_image_text"
OCR_FAILURE_CALLBACK = "worker.ocr.on_read_failure"
OCR_PREFIX = "ocr-"


def ingest_queue(runtime: Runtime) -> Queue:
    return Queue(runtime.settings.queue_name, connection=runtime.redis)


def ocr_queue(runtime: Runtime) -> Queue:
    """Reading text in images: lower priority than ingest (workers list it second)."""
    return Queue(runtime.settings.ocr.queue_name, connection=runtime.redis)


def worker_queues(runtime: Runtime) -> list[Queue]:
    """What a worker takes, in priority order: an OCR job starts only when no image waits
    for CLIP."""
    return [ingest_queue(runtime), ocr_queue(runtime)] if runtime.settings.ocr.mode != "off" else [ingest_queue(runtime)]


def enqueue_repost_checks(runtime: Runtime, image_ids: list[int]) -> None:
    """Queue the repost notice's look at these new Slack images (their channels asked for it)."""
    if image_ids:
        queue = ingest_queue(runtime)
        queue.enqueue_many([Queue.prepare_data(REPOST_JOB, (i,), job_id=f"repost-{i}", result_ttl=600) for i in image_ids])


def enqueue_ocr(runtime: Runtime, image_ids: list[int]) -> None:
    """Queue reading the text of these (indexed) images, in one round trip."""
    if runtime.settings.ocr.mode == "off" or not image_ids:
        return
    _enqueue_each(ocr_queue(runtime), runtime, OCR_JOB, image_ids, OCR_PREFIX, OCR_FAILURE_CALLBACK)


def job_id_for(image_id: int) -> str:
    return f"{JOB_PREFIX}{image_id}"


def enqueue_index(queue: Queue, image_id: int, runtime: Runtime, new: bool = False) -> None:
    """Queue the image for indexing unless its job is already waiting or running (a
    ``new`` image has no job yet, so that check is skipped)."""
    if not new and _job_pending(queue, job_id_for(image_id)):
        return
    _enqueue(queue, runtime, INDEX_JOB, image_id, job_id_for(image_id), FAILURE_CALLBACK)


def enqueue_indexing(queue: Queue, runtime: Runtime, image_ids: list[int]) -> None:
    """Queue these images, which have no job waiting, for indexing in one round trip."""
    _enqueue_each(queue, runtime, INDEX_JOB, image_ids, JOB_PREFIX, FAILURE_CALLBACK)


def enqueue_reindex_step(queue: Queue, runtime: Runtime, space_id: int, cursor: int) -> None:
    """Queue the step of a reindex that goes on from ``cursor`` (once: the job id says which)."""
    job_id = f"reindex-{space_id}-{cursor}"
    if not _job_pending(queue, job_id):
        _enqueue(queue, runtime, REINDEX_STEP_JOB, space_id, job_id, REINDEX_FAILURE_CALLBACK)


def enqueue_backfill_step(runtime: Runtime, team: str, channel: str, source: str, page: int) -> None:
    """Queue the step of a Slack backfill that reads its ``page``-th page of ``source``
    (once: the job id says which)."""
    queue, job_id = ingest_queue(runtime), f"backfill-{team}-{channel}-{source}-{page}"
    if not _job_pending(queue, job_id):
        queue.enqueue(BACKFILL_STEP_JOB, team, channel, job_id=job_id, job_timeout=runtime.settings.worker.job_timeout,
                      **job_options(runtime, BACKFILL_FAILURE_CALLBACK))


def _enqueue_each(queue: Queue, runtime: Runtime, function: str, image_ids: list[int], prefix: str,
                  on_failure: str) -> None:
    """One job of ``function`` per image (id ``prefix`` + image id), all in one round trip."""
    if image_ids:
        options = job_options(runtime, on_failure)
        queue.enqueue_many([
            Queue.prepare_data(function, (image_id,), job_id=f"{prefix}{image_id}",
                               timeout=runtime.settings.worker.job_timeout, **options)
            for image_id in image_ids
        ])


def _enqueue(queue: Queue, runtime: Runtime, function: str, argument: int, job_id: str, on_failure: str) -> None:
    queue.enqueue(function, argument, job_id=job_id, job_timeout=runtime.settings.worker.job_timeout,
                  **job_options(runtime, on_failure))


def job_options(runtime: Runtime, on_failure: str) -> dict:
    """What every job of ours is queued with: retries with the configured backoff, the
    failure callback (by dotted path) and how long results and failures are kept."""
    settings = runtime.settings.worker
    return {
        "retry": Retry(max=settings.max_retries, interval=settings.retry_intervals) if settings.max_retries else None,
        "on_failure": Callback(on_failure),
        "result_ttl": 3600,
        "failure_ttl": 7 * 24 * 3600,
    }


def queued_image_ids(queue: Queue, limit: int) -> list[int]:
    """Image ids of the jobs at the head of the queue, without taking them."""
    if limit <= 0:
        return []
    return [
        int(job_id.removeprefix(JOB_PREFIX))
        for job_id in queue.get_job_ids(0, limit)
        if job_id.startswith(JOB_PREFIX)
    ]


def drop_jobs(queue: Queue, image_ids: list[int]) -> None:
    """Remove the waiting jobs of images that are already indexed.

    Only jobs still on the queue go; one scheduled for a retry stays and finds its image
    indexed when it runs."""
    if not image_ids:
        return
    job_ids = [job_id_for(i) for i in image_ids]
    with queue.connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.lrem(queue.key, 0, job_id)
        removed = pipe.execute()
    gone = [Job.key_for(job_id) for job_id, count in zip(job_ids, removed) if count]
    if gone:
        queue.connection.delete(*gone)


def _job_pending(queue: Queue, job_id: str) -> bool:
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        return False
    return job.get_status() in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
