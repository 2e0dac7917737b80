"""Running the RQ worker: in a thread of ``findimage serve`` (embedded mode), or as a
process of its own (``findimage worker``, server mode).

Both use RQ's ``SimpleWorker``: jobs run in the worker's own process, so the CLIP model
is loaded once and stays loaded, instead of once per forked job.

A worker killed mid-job leaves its job in RQ's started registry. RQ's abandoned-job
handling retries it (through our failure callback, counting the attempt) once the job's
heartbeat lapses, ``worker.job_timeout`` + 60 s after it started, at the next registry
maintenance of any worker (``MAINTENANCE_INTERVAL``). In embedded mode ``findimage serve``
is the only worker there can be (it holds the vector store's lock), so whatever it finds
started when it starts is abandoned and is retried at once.
"""

import logging
import math
import threading
import time

import redis
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty

from core.errors import ServiceUnavailable
from core.runtime import Runtime
from services.queue import worker_queues
from worker.context import using_runtime
from worker.ocr import queue_unread
from worker.reindex import space_watcher

log = logging.getLogger(__name__)
MAINTENANCE_INTERVAL = 60
"""Seconds between a worker's registry maintenance (RQ's default is ten minutes)."""


class _ThreadWorker(SimpleWorker):
    # Signals and SIGALRM belong to the main thread (uvicorn's); time jobs with a timer.
    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass

    def subscribe(self) -> None:
        """No pub/sub channel for RQ's worker commands (``rq`` shutdown, kill-horse): this
        worker stops with its process. Each burst's end would also wait a second for the
        channel's thread (RQ joins it with a one-second timeout)."""

    def unsubscribe(self) -> None:
        pass

    def clean_registries(self) -> None:
        """RQ's maintenance, the started registries first under a timer (``started_jobs``)."""
        for queue in self.queues:
            started_jobs(queue).cleanup(exception_handlers=self._exc_handlers)
        super().clean_registries()

    def stop_after_current_job(self) -> None:
        """What RQ's warm shutdown sets, without its signal handling: the work loop ends
        before it takes another job."""
        self._stop_requested = True


class IngestQuiet:
    """When OCR may run: once ingest has had nothing for ``quiet_for`` seconds. Reading text
    in between the batches of an import or a backfill would take its cores from CLIP. Both
    workers follow it, each in its own loop."""

    def __init__(self, quiet_for: float) -> None:
        self.quiet_for = quiet_for
        self._ingest_done = -math.inf  # (monotonic) when ingest last worked

    def ingest_worked(self) -> None:
        self._ingest_done = time.monotonic()

    def left(self) -> float:
        """Seconds until OCR may run (0 or less: it may now)."""
        return self.quiet_for - (time.monotonic() - self._ingest_done)


class EmbeddedWorker:
    """The ingest worker as a background thread of the process that owns the embedded
    vector store. When ingest goes idle it builds the store's search index."""

    def __init__(self, runtime: Runtime, poll_interval: float = 0.2):
        self.runtime = runtime
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._worker: _ThreadWorker | None = None
        self._thread = threading.Thread(target=self._run, name="findimage-worker", daemon=True)

    def start(self) -> "EmbeddedWorker":
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look at the queues now rather than at the next poll (work was just queued)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop once the job under way is done (a burst may hold many more: uploads keep
        coming, a reindex queues step after step)."""
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.stop_after_current_job()
        self._thread.join(timeout)

    def _run(self) -> None:
        queues = worker_queues(self.runtime)
        clip_only, everything = (_ThreadWorker(q, connection=self.runtime.redis, maintenance_interval=MAINTENANCE_INTERVAL)
                                 for q in (queues[:1], queues))
        self._worker = clip_only
        retries = RQScheduler(queues, connection=self.runtime.redis, logging_level="WARNING")
        quiet = IngestQuiet(self.runtime.settings.worker.ocr_after_idle)
        idle_since, index_pending, last_burst = time.monotonic(), False, 0.0
        with using_runtime(self.runtime):
            try:
                retry_abandoned(self.runtime)
                catch_up_ocr(self.runtime)
            except (redis.RedisError, ServiceUnavailable):
                log.exception("Could not look for work a previous run left unfinished")
            while not self._stop.is_set():
                try:
                    # Burst mode: take every queued job (and due retries), then return. An idle
                    # burst costs about 5 ms of the process's CPU: look first (one round trip),
                    # and burst anyway now and then for RQ's registry maintenance.
                    worked, waiting = False, self._waiting(queues)
                    clip_waits = waiting[0]
                    others_may = quiet.left() <= 0
                    if clip_waits or (any(waiting) and others_may) or time.monotonic() - last_burst >= MAINTENANCE_INTERVAL:
                        self._worker = everything if others_may and not clip_waits else clip_only
                        last_burst = time.monotonic()
                        enqueue_due_retries(retries)
                        worked = self._worker.work(burst=True, logging_level="WARNING")
                        if worked and self._worker is clip_only:
                            quiet.ingest_worked()
                except redis.RedisError:
                    log.exception("The ingest worker lost the queue; retrying in a moment")
                    worked = False
                if worked:
                    idle_since, index_pending = time.monotonic(), True
                    continue
                if index_pending and time.monotonic() - idle_since >= self.runtime.settings.worker.index_when_idle_for:
                    if not self._build_index():
                        idle_since = time.monotonic()  # try again after another idle spell
                    else:
                        index_pending = False
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    def _waiting(self, queues) -> list[bool]:
        """Per queue, whether a burst would find something: a queued job, or a retry that is due."""
        with self.runtime.redis.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.llen(queue.key)
                pipe.zcount(ScheduledJobRegistry(queue=queue).key, 0, time.time())
            counts = pipe.execute()
        return [bool(counts[2 * n] or counts[2 * n + 1]) for n in range(len(queues))]

    def _build_index(self) -> bool:
        """Build the pending index of every live space's store; False if a store failed
        (try again later)."""
        started = time.monotonic()
        try:
            built = [space.vectors.build_index() for space in self.runtime.live_spaces()]
        except ServiceUnavailable as exc:
            log.warning("Could not build the vector index, will try again: %s", exc)
            return False
        if any(built):
            log.info("Built the vector index in %.1f s", time.monotonic() - started)
        return True


def retry_abandoned(runtime: Runtime) -> int:
    """Hand every job in the started registry to RQ's abandoned-job handling now (each is
    retried, or failed if out of retries); returns how many there were. Only for a worker
    that knows no other worker is running: a live one's job would be run twice."""
    abandoned = 0
    for queue in worker_queues(runtime):
        registry = started_jobs(queue)
        count = len(registry.get_job_ids(cleanup=False))
        if count:
            log.warning("Retrying %d job(s) of %s left unfinished by a previous run", count, queue.name)
            registry.cleanup(timestamp=float("inf"))
        abandoned += count
    return abandoned


def enqueue_due_retries(scheduler: RQScheduler) -> None:
    """Put the retries whose time has come back on their queues, in this thread. (RQ's
    ``with_scheduler`` forks a scheduler process at a burst's maintenance, every minute, and
    its burst then ends by waiting about a second for that process to stop.)"""
    if scheduler.acquire_locks():
        try:
            scheduler.enqueue_scheduled_jobs()
        finally:
            scheduler.release_locks()


def started_jobs(queue) -> StartedJobRegistry:
    """The queue's started jobs, whose cleanup runs an abandoned job's failure callback under
    a timer: RQ's default (SIGALRM) works only in the main thread, which the embedded worker's
    is not, so the callback would raise (the attempt uncounted, a last try left ``queued``)."""
    return StartedJobRegistry(queue=queue, death_penalty_class=TimerDeathPenalty)


def catch_up_ocr(runtime: Runtime) -> None:
    """Queue the images OCR has not read (those indexed before it existed, after an upgrade)."""
    queued = queue_unread(runtime)
    if queued:
        log.info("Queued %d indexed image(s) for OCR; they are read while ingest is idle", queued)


class Worker(SimpleWorker):
    """RQ's ``SimpleWorker``, its command channel (``rq`` shutdown, kill-horse) read by a
    thread that looks up every second. RQ's thread waits a minute in each read, and
    redis-py (8.x) joins it as the worker stops, so a worker's stop, and every burst's end,
    waited up to a minute (the test suite spent three minutes so)."""

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )


class IngestFirstWorker(Worker):
    """A worker process's RQ worker. Like the embedded worker, it takes a job of the later
    queues (OCR) only in an ``IngestQuiet`` of the first (ingest)."""

    poll_interval = 0.2
    """Seconds between looks at the ingest queue while the quiet lasts, in burst mode."""

    def __init__(self, queues, *, quiet_for: float, **kwargs) -> None:
        super().__init__(queues, **kwargs)
        self.quiet = IngestQuiet(quiet_for)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        while len(self.queues) > 1 and (wait := self.quiet.left()) > 0:
            every, self._ordered_queues = self._ordered_queues, self.queues[:1]
            try:  # only ingest, for as long as the quiet lasts (RQ's max_idle_time ends the wait)
                found = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time=math.ceil(wait))
            finally:
                self._ordered_queues = every
            if found is not None:
                return found
            if timeout is None:  # burst mode: that look did not wait
                time.sleep(min(wait, self.poll_interval))
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def prepare_job_execution(self, job, remove_from_intermediate_queue: bool = False) -> None:
        # Listening to ingest alone, RQ takes a job through the queue's intermediate list (as
        # for any one-queue worker) but clears it from there only for a worker of one queue;
        # left there, RQ's maintenance would later fail the finished job as "stuck".
        super().prepare_job_execution(job, remove_from_intermediate_queue=True)

    def execute_job(self, job, queue) -> None:
        try:
            super().execute_job(job, queue)
        finally:
            if queue.name == self.queues[0].name:
                self.quiet.ingest_worked()


def run_worker(runtime: Runtime, burst: bool = False) -> bool:
    """Run a standalone worker in this (main) thread until it is stopped by a signal; a
    ``SpaceWatcher`` keeps it in step with reindexes."""
    worker = IngestFirstWorker(worker_queues(runtime), connection=runtime.redis, maintenance_interval=MAINTENANCE_INTERVAL,
                               quiet_for=runtime.settings.worker.ocr_after_idle)
    catch_up_ocr(runtime)
    watcher = space_watcher(runtime).start()
    try:
        with using_runtime(runtime):
            return worker.work(burst=burst, with_scheduler=True)
    finally:
        watcher.stop()
