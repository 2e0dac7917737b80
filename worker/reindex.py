"""``findimage reindex``, the workers' part: fill the new vector space, then switch.

The command only records a ``building`` space (``core.spaces.records``). The space
watcher (``space_watcher``), running in every serving and worker process, notices it and
queues the first step.

Each step is an RQ job on the ingest queue that re-embeds a few batches of indexed
images, by ascending id from the space's cursor up to the newest image when the reindex
began, then queues the next. Ingest jobs queued meanwhile
therefore run in between, so uploads are not held up. A killed worker loses one step at
most: the step is retried, and were its job lost, the watcher queues it again once the
space has made no progress for ``STALLED_AFTER`` seconds. Two steps that race are settled
by the cursor (``advance`` is compare-and-set).

While the space is building, ingest writes new images to it as well
(``worker.indexing``). When the cursor reaches the end, the last step checks that every
indexed image is in the new space, catching any that a worker indexed before it learnt of
the space. Then it switches, and re-derives every taste in the new space. Search uses
the old space until the switch, and every process follows the switch within
``core.spaces.watcher.POLL`` seconds.
"""

import logging

from rq.job import Job
from sqlmodel import col, select

from core.models import Image, ImageStatus, VectorSpace, utcnow
from core.runtime import OpenSpace, Runtime
from core.spaces.records import advance, building_space, fail_reindex, is_stalled, switch_to
from core.spaces.watcher import SpaceWatcher
from services.queue import enqueue_reindex_step, ingest_queue
from services.tastes import convert_tastes
from worker.backfill import resume_backfills
from worker.context import current_runtime
from worker.indexing import reembed_images

log = logging.getLogger(__name__)
CHECK_CHUNK = 1000
"""Image ids checked for presence in the new space per store call."""


def reindex_step(space_id: int) -> str:
    """Re-embed the next chunk of images into the building space, or, at the end, check
    it and switch to it. Returns what happened."""
    runtime = current_runtime()
    runtime.refresh_spaces()
    space = runtime.building
    if space is None or space.id != space_id:
        return "stopped"  # switched already, cancelled or dropped
    chunk = runtime.settings.worker.batch_size * runtime.settings.worker.batches_per_job
    with runtime.session() as session:
        row = session.get(VectorSpace, space_id)
        cursor = row.cursor
        ids = _indexed_ids(session, after=cursor, limit=chunk, until=row.last_image_id)
    if not ids:
        return _finish(runtime, space)
    written = _reembed(runtime, space, ids)
    with runtime.session() as session:
        if not advance(session, space_id, cursor, ids[-1], written):
            return "stopped"
    enqueue_reindex_step(ingest_queue(runtime), runtime, space_id, ids[-1])
    return f"up to image {ids[-1]}"


def on_step_failure(job: Job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: after the last retry the reindex fails (the active space stays)."""
    if job.should_retry:
        return
    runtime = current_runtime()
    with runtime.session() as session:
        space = session.get(VectorSpace, job.args[0])
        if space is not None:
            fail_reindex(session, space, f"{exc_type.__name__}: {exc_value}")
    log.error("Reindex into vector space %s failed: %s", job.args[0], exc_value)


def resume_stalled(runtime: Runtime) -> bool:
    """Queue the next step of a reindex that is not moving (just asked for, or its job
    lost); True if one was queued."""
    with runtime.session() as session:
        space = building_space(session)
        if space is None or not is_stalled(space):
            return False
        space.updated_at = utcnow()  # other processes' watchers need not queue it too
        session.commit()
    enqueue_reindex_step(ingest_queue(runtime), runtime, space.id, space.cursor)
    log.info("Reindex into vector space %s: queued the step from image %s", space.id, space.cursor)
    return True


def space_watcher(runtime: Runtime) -> SpaceWatcher:
    """The watcher of a process that runs worker jobs: it also queues the next step of a
    reindex that stalled, and of every Slack backfill under way (one asked for by the CLI,
    or left by a worker that stopped)."""
    return SpaceWatcher(runtime.live, also=[lambda: resume_stalled(runtime), lambda: resume_backfills(runtime)])


def _finish(runtime: Runtime, space: OpenSpace) -> str:
    missing = _missing(runtime, space)
    if missing:
        log.info("Reindex into vector space %s: %d images were not in it yet", space.id, len(missing))
        _reembed(runtime, space, missing)
    with runtime.session() as session:
        if not switch_to(session, space.id):
            return "stopped"
    runtime.refresh_spaces()
    users = convert_tastes(runtime)
    log.info("Switched to vector space %s (CLIP %s); re-derived %d tastes", space.id, space.model, users)
    return "switched"


def _reembed(runtime: Runtime, space: OpenSpace, ids: list[int]) -> int:
    """Write ``ids`` into ``space``, then remove those deleted meanwhile (a delete that
    ran before the write could not remove them); returns how many are in it."""
    result = reembed_images(runtime, space, ids)
    for image_id, reason in result.unreadable.items():
        log.warning("Reindex: image %s left out, its file does not decode: %s", image_id, reason)
    if result.indexed:
        with runtime.session() as session:
            kept = set(session.exec(select(Image.id).where(col(Image.id).in_(result.indexed))).all())
        space.vectors.delete([i for i in result.indexed if i not in kept])
        return len(kept)
    return 0


def _missing(runtime: Runtime, space: OpenSpace) -> list[int]:
    """Indexed images that are not in ``space``."""
    missing, after = [], 0
    while True:
        with runtime.session() as session:
            ids = _indexed_ids(session, after=after, limit=CHECK_CHUNK)
        if not ids:
            return missing
        present = space.vectors.payloads(ids, fields=("source",))
        missing += [i for i in ids if i not in present]
        after = ids[-1]


def _indexed_ids(session, after: int, limit: int, until: int | None = None) -> list[int]:
    query = select(Image.id).where(Image.status == ImageStatus.indexed, col(Image.id) > after)
    if until is not None:
        query = query.where(col(Image.id) <= until)
    return list(session.exec(query.order_by(col(Image.id)).limit(limit)).all())
