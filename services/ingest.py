"""Taking an image in: validate, store once, record ``queued``, enqueue.

The Slack bot (``worker.slack_files``) comes through ``submit_image``, the API's upload route
and the folder import through ``submit_images`` (a batch at a time): every image is
checked and queued the same way.
"""

import redis
from rq import Queue
from sqlmodel import Session

from core.decoding import CheckedImage, check_image
from core.errors import InvalidImage, ServiceUnavailable
from core.images import add_image, add_images, discard_new_image, record_failure
from core.metrics import timed
from core.models import Image, ImageSource, ImageStatus
from core.runtime import Runtime
from services.queue import enqueue_index, enqueue_indexing
from services.shares import share_again

BATCH = 32
"""Files the upload route and the folder import store and queue together (one round trip
to the queue, one database transaction)."""


def submit_image(
    runtime: Runtime,
    queue: Queue,
    data: bytes,
    *,
    source: ImageSource,
    uploader: str | None = None,
    caption: str | None = None,
    **fields,
) -> tuple[Image, bool]:
    """``fields``: the image's ``filename`` and Slack fields. Returns ``(image, created)``;
    an exact duplicate returns the stored image.

    Raises ``InvalidImage`` (nothing is stored) or ``ServiceUnavailable`` (the queue is
    down: the new image is removed again, so a retry of the upload starts clean).
    """
    with timed("validate"):
        checked = check_image(data, runtime.settings.limits)
    with runtime.session() as session:
        with timed("store"):
            image, created = add_image(
                session, runtime.files, checked, source=source, uploader=uploader, caption=caption, **fields
            )
        if fields.get("slack_team") and fields.get("slack_channel"):  # the same bytes shared again widen its audience
            share_again(runtime, session, image, fields["slack_team"], fields["slack_channel"], fields.get("slack_ts"),
                        fields.get("slack_file_id"), bool(fields.get("slack_public")))
        if not created and not _another_go(session, image):
            return image, False
        try:
            enqueue_index(queue, image.id, runtime, new=created)
        except redis.RedisError as exc:
            raise _not_queued(runtime, session, [(image, created)], exc) from exc
    return image, created


def submit_images(
    runtime: Runtime, queue: Queue, files: list[tuple[bytes, str | None]], *, source: ImageSource,
    uploader: str | None = None, captions: list[str | None] | None = None,
) -> list[tuple[Image, bool] | InvalidImage]:
    """Several files of one upload or one folder (``(bytes, file name)`` each, with a caption
    each) at once: each checked and stored as ``submit_image`` does, all queued in one round trip.
    Returns, per file, ``(image, created)`` or the ``InvalidImage`` it was refused with.

    Raises ``ServiceUnavailable`` when the queue is down: the batch's new images are removed
    again, so a retry starts clean (and one given another go has failed again)."""
    checked: list[tuple[CheckedImage, str | None, str | None] | InvalidImage] = []
    for (data, filename), caption in zip(files, captions or [None] * len(files)):
        try:
            with timed("validate"):
                checked.append((check_image(data, runtime.settings.limits), caption, filename))
        except InvalidImage as exc:
            checked.append(exc)
    with runtime.session() as session:
        with timed("store"):
            added = iter(add_images(session, runtime.files, [c for c in checked if not isinstance(c, InvalidImage)],
                                    source=source, uploader=uploader))
        results = [c if isinstance(c, InvalidImage) else next(added) for c in checked]
        to_queue = [(image, created) for image, created in (r for r in results if not isinstance(r, InvalidImage))
                    if created or _another_go(session, image)]  # (a duplicate still queued has its job)
        try:
            enqueue_indexing(queue, runtime, [image.id for image, _ in to_queue])
        except redis.RedisError as exc:
            raise _not_queued(runtime, session, to_queue, exc) from exc
    return results


def _another_go(session: Session, image: Image) -> bool:
    """A re-upload of an image that failed gives it another go; False if it had not failed."""
    if image.status != ImageStatus.failed:
        return False
    image.status, image.error = ImageStatus.queued, None
    session.add(image)
    session.commit()
    return True


def _not_queued(runtime: Runtime, session: Session, images: list[tuple[Image, bool]], exc: Exception) -> ServiceUnavailable:
    """Undo what the queue refused: a new image is removed (a retry starts clean), one given
    another go has failed again."""
    for image, created in images:
        if created:
            discard_new_image(session, runtime.files, image)
        else:
            record_failure(session, image.id, f"Could not queue: {exc}", final=True)
    return ServiceUnavailable(f"The ingest queue is unavailable, try again shortly: {exc}")
