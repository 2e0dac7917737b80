"""The ingest worker on real Valkey, Qdrant Edge and SQLite, run with RQ's own worker (its
SimpleWorker, as `worker.runner.Worker` runs it)."""

import time
from datetime import timedelta

import pytest
from rq.registry import FailedJobRegistry

from core.models import Image, ImageSource, ImageStatus
from core.vectors import IMAGE
from services.ingest import submit_image
from services.queue import ingest_queue
from tests.factories import distinct_jpeg
from worker.context import using_runtime
from worker.runner import Worker


def submit(runtime, *seeds, caption=None):
    queue = ingest_queue(runtime)
    return [submit_image(runtime, queue, distinct_jpeg(s), source=ImageSource.web, caption=caption)[0].id for s in seeds]


def run_jobs(runtime, max_jobs=None):
    worker = Worker([ingest_queue(runtime)], connection=runtime.redis)
    with using_runtime(runtime):
        worker.work(burst=True, max_jobs=max_jobs, with_scheduler=True)


def statuses(runtime, ids):
    with runtime.session() as session:
        return [session.get(Image, i).status for i in ids]


def test_one_job_indexes_what_is_queued_in_one_batch(runtime):
    ids = submit(runtime, *range(10, 15))
    run_jobs(runtime, max_jobs=1)
    assert statuses(runtime, ids) == [ImageStatus.indexed] * 5
    assert runtime.vectors.count() == 5
    assert len(ingest_queue(runtime)) == 0  # the batched images' own jobs are gone


def test_a_job_takes_several_batches_the_first_a_quarter_and_none_beyond_the_batch_size(runtime, monkeypatch):
    worker = runtime.settings.worker
    worker.batches_per_job = 2
    calls = []
    embed_pixels = runtime.embedder.embed_pixels
    monkeypatch.setattr(runtime.embedder, "embed_pixels", lambda pixels: calls.append(len(pixels)) or embed_pixels(pixels))
    ids = submit(runtime, *range(20, 20 + 2 * worker.batch_size + 3))
    run_jobs(runtime, max_jobs=1)
    assert statuses(runtime, ids).count(ImageStatus.indexed) == 2 * worker.batch_size
    quarter = worker.batch_size // 4  # so the model starts after a few decodes
    assert calls == [quarter, worker.batch_size, worker.batch_size - quarter]
    run_jobs(runtime)
    assert statuses(runtime, ids) == [ImageStatus.indexed] * len(ids)


def test_the_jobs_of_a_batch_leave_the_queue_once_it_is_indexed(runtime, monkeypatch):
    """The queue's length says what is left while a long job runs."""
    worker = runtime.settings.worker
    ids = submit(runtime, *range(60, 60 + worker.batch_size // 4 + 3))  # a quarter batch, then 3 more
    waiting = []
    embed_pixels = runtime.embedder.embed_pixels
    monkeypatch.setattr(runtime.embedder, "embed_pixels",
                        lambda pixels: waiting.append(ingest_queue(runtime).count) or embed_pixels(pixels))
    run_jobs(runtime, max_jobs=1)
    assert statuses(runtime, ids) == [ImageStatus.indexed] * len(ids)
    # Embedding the first batch, the jobs of the rest wait (the first job is the one running);
    # embedding the second, only its own 3 are left.
    assert waiting == [len(ids) - 1, 3]


def test_a_job_takes_along_images_queued_while_it_runs(runtime, monkeypatch):
    """An import queues as it goes: the job that started on its first files takes the later ones too."""
    first = submit(runtime, 50, 51)
    later = []
    embed_pixels = runtime.embedder.embed_pixels

    def embed_while_more_arrive(pixels):
        if not later:
            later.extend(submit(runtime, *range(52, 52 + runtime.settings.worker.batch_size)))
        return embed_pixels(pixels)

    monkeypatch.setattr(runtime.embedder, "embed_pixels", embed_while_more_arrive)
    run_jobs(runtime, max_jobs=1)
    assert statuses(runtime, first + later) == [ImageStatus.indexed] * len(first + later)
    assert ingest_queue(runtime).count == 0


def test_running_a_job_twice_changes_nothing(runtime):
    (image_id,) = submit(runtime, 30)
    run_jobs(runtime)
    (before,) = runtime.vectors.retrieve([image_id])
    ingest_queue(runtime).enqueue("worker.jobs.index_image", image_id)
    run_jobs(runtime)
    (after,) = runtime.vectors.retrieve([image_id])
    assert (before.vectors[IMAGE] == after.vectors[IMAGE]).all()
    assert statuses(runtime, [image_id]) == [ImageStatus.indexed]


def test_a_failing_job_is_retried_then_recorded_as_failed(runtime):
    (image_id,) = submit(runtime, 40)
    runtime.vectors.close()  # the vector store goes away: every attempt fails
    run_jobs(runtime)
    with runtime.session() as session:
        image = session.get(Image, image_id)
    retries = runtime.settings.worker.max_retries
    assert image.status == ImageStatus.failed
    assert image.attempts == retries + 1
    assert "vector store" in image.error
    assert FailedJobRegistry(queue=ingest_queue(runtime)).get_job_ids() == [f"index-{image_id}"]


def test_a_failed_image_uploaded_again_is_indexed_once_the_store_is_back(runtime):
    (image_id,) = submit(runtime, 41)
    runtime.vectors.close()
    run_jobs(runtime)
    assert statuses(runtime, [image_id]) == [ImageStatus.failed]
    runtime.vectors.ensure_collection(runtime.embedder.dim)  # the store is back
    assert submit(runtime, 41) == [image_id]
    run_jobs(runtime)
    assert statuses(runtime, [image_id]) == [ImageStatus.indexed]
    assert runtime.vectors.count() == 1


def test_a_stored_file_that_no_longer_decodes_fails_at_once_without_holding_back_others(runtime):
    broken, fine = submit(runtime, 50, 51)
    with runtime.session() as session:
        sha = session.get(Image, broken).sha256
    stored = runtime.files.original_path(sha)
    stored.write_bytes(stored.read_bytes()[:400])  # the disk lost its tail
    run_jobs(runtime)
    with runtime.session() as session:
        image = session.get(Image, broken)
    assert image.status == ImageStatus.failed and image.attempts == 1 and "InvalidImage" in image.error
    assert statuses(runtime, [fine]) == [ImageStatus.indexed]


def test_a_deleted_image_leaves_its_job_with_nothing_to_do(runtime):
    (image_id,) = submit(runtime, 60)
    with runtime.session() as session:
        session.delete(session.get(Image, image_id))
        session.commit()
    run_jobs(runtime)
    assert runtime.vectors.count() == 0
    assert len(FailedJobRegistry(queue=ingest_queue(runtime))) == 0


@pytest.mark.parametrize("kind", ["worker process", "embedded worker"])
def test_a_worker_reads_text_only_once_ingest_has_been_quiet(runtime, kind):
    """`findimage worker` and the embedded worker hold OCR back while images keep coming
    for CLIP: their OCR jobs start ``ocr_after_idle`` seconds after the last ingest job."""
    from services.queue import ocr_queue
    from tests.polling import wait_until_idle
    from worker.runner import EmbeddedWorker, IngestFirstWorker

    ingest, ocr = ingest_queue(runtime), ocr_queue(runtime)
    texts = [ocr.enqueue(time.sleep, 0.01) for _ in range(2)]
    images = [ingest.enqueue(time.sleep, 0.05) for _ in range(3)]
    if kind == "worker process":
        IngestFirstWorker([ingest, ocr], connection=runtime.redis, quiet_for=0.6).work(burst=True)
        wait_until_idle(runtime, timeout=0)  # nothing left behind (RQ fails a job left in its intermediate list)
    else:
        settings = runtime.settings
        runtime.settings = settings.model_copy(update={"worker": settings.worker.model_copy(update={"ocr_after_idle": 0.6}),
                                                       "ocr": settings.ocr.model_copy(update={"mode": "auto"})})
        embedded = EmbeddedWorker(runtime).start()
        try:
            wait_until_idle(runtime)
        finally:
            embedded.stop()

    for job in texts + images:
        job.refresh()
        assert job.get_status() == "finished"
    last_image = max(job.ended_at for job in images)
    assert min(job.started_at for job in texts) >= last_image + timedelta(seconds=0.5)


def abandon_a_job(runtime):
    """What a worker killed mid-job leaves: the next job, started, in the started registry."""
    dead = Worker([ingest_queue(runtime)], connection=runtime.redis)
    job, _ = dead.dequeue_job_and_maintain_ttl(timeout=1)
    dead.prepare_execution(job)  # what RQ records as a job starts; then the process is gone
    dead.prepare_job_execution(job, remove_from_intermediate_queue=True)
    return job


def test_a_job_abandoned_on_its_last_try_fails_its_image_when_the_embedded_worker_starts(runtime):
    """A `findimage serve` killed in the middle of an image's last try: when it starts
    again, its worker (a thread, where RQ's SIGALRM timeout cannot be set) hands the job
    to its failure callback, and the image reads ``failed`` instead of staying queued."""
    from tests.polling import wait_for_status
    from worker.runner import EmbeddedWorker

    runtime.settings.worker.max_retries = 0  # every try is the last
    (image_id,) = submit(runtime, 70)
    job = abandon_a_job(runtime)

    embedded = EmbeddedWorker(runtime).start()
    try:
        (image,) = wait_for_status(runtime, [image_id], ImageStatus.failed)
    finally:
        embedded.stop()
    assert image.attempts == 1 and image.error.startswith("AbandonedJobError")
    assert FailedJobRegistry(queue=ingest_queue(runtime)).get_job_ids() == [job.id]


def test_the_embedded_workers_maintenance_fails_a_job_whose_worker_went_quiet(runtime):
    """RQ's maintenance, in the embedded worker's thread, finds a job whose heartbeat lapsed:
    its failure callback runs there too (under a timer: SIGALRM is the main thread's)."""
    import threading

    from rq.registry import StartedJobRegistry

    from worker.runner import _ThreadWorker

    runtime.settings.worker.max_retries = 0
    (image_id,) = submit(runtime, 71)
    job = abandon_a_job(runtime)
    started = StartedJobRegistry(queue=ingest_queue(runtime))
    runtime.redis.zadd(started.key, dict.fromkeys(runtime.redis.zrange(started.key, 0, -1), 1))  # heartbeat lapsed long ago

    def maintain():  # as the embedded worker's thread does, between its bursts
        with using_runtime(runtime):
            _ThreadWorker([ingest_queue(runtime)], connection=runtime.redis).clean_registries()

    maintenance = threading.Thread(target=maintain)
    maintenance.start()
    maintenance.join(30)
    with runtime.session() as session:
        image = session.get(Image, image_id)
    assert image.status == ImageStatus.failed and image.error.startswith("AbandonedJobError")
    assert FailedJobRegistry(queue=ingest_queue(runtime)).get_job_ids() == [job.id]


def test_a_worker_process_stops_within_dockers_grace_period(runtime):
    """``docker compose stop`` gives a worker 10 s before it kills it. RQ's command channel
    is read by a thread that waited a minute in each read, and a worker's stop joins that
    thread: when the thread's read did not end with the channel's unsubscribe reply (a race
    the test suite lost three times a run), the stop waited out the minute."""
    from worker.runner import IngestFirstWorker

    worker = IngestFirstWorker([ingest_queue(runtime)], connection=runtime.redis, quiet_for=0)
    worker.subscribe()
    time.sleep(0.5)  # the channel's thread is in its read (the scene, not the check)
    started = time.monotonic()
    worker.pubsub_thread.stop()  # (without the unsubscribe first: the race lost)
    assert time.monotonic() - started < 5, "the command channel's thread kept the worker from stopping"
    worker.pubsub.close()
