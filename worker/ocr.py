"""The OCR stage: read the text in an indexed image and add it to the image's words.

It runs after CLIP indexing, from its own queue, which workers take only when no image
waits for CLIP: an image is searchable by what it shows at once, and by what it says a
moment later. A failure or a time-out is recorded as "no text", never as a failed image.
"""

import logging
import time

import numpy as np
from rq.job import Job

from core.decoding import decode_scaled
from core.errors import InvalidImage
from core.metrics import timed
from core.models import Image, ImageStatus, ImageText, TextStatus
from core.ocr import ReadTimedOut, as_text
from core.runtime import OpenSpace, Runtime
from core.texts import unread_ids
from core.vectors.base import WordsUpdate
from core.words import Words
from services.queue import enqueue_ocr, ocr_queue
from worker.context import current_runtime

log = logging.getLogger(__name__)


def read_image_text(image_id: int) -> str:
    """Read one image's text and give it to its point in every live space; returns the
    ``TextStatus`` (or ``deleted``/``pending`` when there is nothing to do yet)."""
    runtime = current_runtime()
    with runtime.session() as session:
        image = session.get(Image, image_id)
        if image is None or image.status == ImageStatus.failed:
            return "deleted"
        if image.status != ImageStatus.indexed:
            return "pending"  # indexing queues it again once done
        done = session.get(ImageText, image_id)
        if done is not None:
            return done.status
        session.expunge(image)
    row = read(runtime, image)
    with runtime.session() as session:
        if session.get(ImageText, image_id) is None:
            session.add(row)
            session.commit()
    update_words(runtime.live_spaces(), [image], {image_id: row.text})
    return row.status


def read(runtime: Runtime, image: Image) -> ImageText:
    """What OCR makes of the image (``skipped``, ``read`` or ``failed``), not yet saved."""
    settings, limits = runtime.settings.ocr, runtime.settings.limits
    started = time.monotonic()

    def row(status: TextStatus, lines=(), error: str | None = None) -> ImageText:
        return ImageText(
            image_id=image.id,
            status=status.value,
            text=as_text(list(lines)),
            lines=[{"text": line.text, "box": list(line.box), "score": line.score} for line in lines],
            seconds=round(time.monotonic() - started, 3),
            error=error,
        )

    try:
        data = runtime.files.read_original(image.sha256)
        pixels = None
        if settings.mode == "auto":
            with timed("ocr_gate"):
                small = decode_scaled(data, 0, settings.gate_side, limits)
                if not runtime.ocr.likely_text(np.asarray(small)):
                    return row(TextStatus.skipped)
            if max(small.size) >= max(image.width, image.height):
                pixels = small  # it could not be decoded smaller (PNG): decode it once
        with timed("ocr"):
            if pixels is None:
                pixels = decode_scaled(data, 0, settings.max_side, limits)
            if max(pixels.size) > settings.max_side:
                pixels.thumbnail((settings.max_side, settings.max_side))
            lines = runtime.ocr.read(np.asarray(pixels))
    except ReadTimedOut as exc:
        log.warning("Reading the text of image %s took over %g s (%s): counted as no text", image.id, settings.timeout, exc)
        return row(TextStatus.failed, error=f"timed out after {settings.timeout:g} s: {exc}")
    except (InvalidImage, FileNotFoundError) as exc:
        return row(TextStatus.failed, error=f"{type(exc).__name__}: {exc}")
    return row(TextStatus.read, lines)


def update_words(spaces: list[OpenSpace], images: list[Image], texts: dict[int, str]) -> None:
    """Give the points of ``images`` in ``spaces`` their words, with OCR's ``texts`` (a
    point not written yet is left to the indexing that writes it)."""
    updates = []
    for image in images:
        words = Words.of(image, texts.get(image.id))
        updates.append(WordsUpdate(image.id, words.vector(), words.payload()))
    for space in spaces:
        space.vectors.set_words(updates)


def on_read_failure(job: Job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: after the last retry the image counts as having no text."""
    if job.should_retry:
        return
    image_id = job.args[0]
    runtime = current_runtime()
    with runtime.session() as session:
        if session.get(Image, image_id) is not None and session.get(ImageText, image_id) is None:
            session.add(ImageText(image_id=image_id, status=TextStatus.failed.value, error=f"{exc_type.__name__}: {exc_value}"[:2000]))
            session.commit()
    log.warning("Reading the text of image %s failed: %s", image_id, exc_value)


def queue_unread(runtime: Runtime, batch: int = 1000) -> int:
    """Queue every indexed image OCR has not seen (images from before OCR, or whose job was
    lost); returns how many. Skipped while OCR jobs are waiting: they are that backlog."""
    if runtime.settings.ocr.mode == "off" or ocr_queue(runtime).count:
        return 0
    queued, after = 0, 0
    while True:
        with runtime.session() as session:
            ids = unread_ids(session, after, batch)
        if not ids:
            return queued
        enqueue_ocr(runtime, ids)
        queued, after = queued + len(ids), ids[-1]
