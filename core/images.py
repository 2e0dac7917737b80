"""The image records: adding an upload once, reading, marking progress, deleting."""

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.config import LimitSettings
from core.decoding import CheckedImage, thumbnail_of
from core.errors import NotFound
from core.models import Image, ImageSource, ImageStatus, utcnow
from core.storage import FileStore
from core.vectors import VectorStore


def add_image(
    session: Session,
    files: FileStore,
    checked: CheckedImage,
    *,
    source: ImageSource,
    uploader: str | None = None,
    caption: str | None = None,
    **slack_fields: str | None,
) -> tuple[Image, bool]:
    """Store the bytes and record the image as ``queued``; returns ``(image, created)``.

    An exact duplicate (same SHA-256) returns the image already stored, untouched.
    """
    existing = find_by_sha256(session, checked.sha256)
    if existing is not None:
        return existing, False
    kept = files.original_path(checked.sha256).exists()
    files.save_original(checked.sha256, checked.data)
    image = _record(checked, source, uploader, caption, **slack_fields)
    session.add(image)
    try:
        session.commit()
    except IntegrityError:
        # The same bytes arrived concurrently and the other request won; theirs is ours.
        session.rollback()
        return find_by_sha256(session, checked.sha256), False
    except Exception:
        if not kept:  # the database failed: leave no file without a row
            files.delete(checked.sha256)
        raise
    return image, True


def add_images(
    session: Session,
    files: FileStore,
    uploads: Sequence[tuple[CheckedImage, str | None, str | None]],
    *,
    source: ImageSource,
    uploader: str | None = None,
) -> list[tuple[Image, bool]]:
    """``add_image`` for several uploads (``(checked, caption, filename)`` each) in one
    transaction: one look-up of their digests, one commit. A duplicate, of a stored image
    or of an upload earlier in the batch, is that image."""
    known = {image.sha256: image for image in session.exec(
        select(Image).where(col(Image.sha256).in_({checked.sha256 for checked, _, _ in uploads}))
    ).all()}
    results, written = [], []
    for checked, caption, filename in uploads:
        image = known.get(checked.sha256)
        if image is None:
            if not files.original_path(checked.sha256).exists():
                written.append(checked.sha256)
            files.save_original(checked.sha256, checked.data)
            image = known[checked.sha256] = _record(checked, source, uploader, caption, filename=filename)
            session.add(image)
            results.append((image, True))
        else:
            results.append((image, False))
    try:
        session.commit()
    except IntegrityError:  # some of the same bytes arrived concurrently: one at a time, as add_image does
        session.rollback()
        return [add_image(session, files, checked, source=source, uploader=uploader, caption=caption, filename=filename)
                for checked, caption, filename in uploads]
    except Exception:
        for sha256 in written:  # the database failed: leave no file without a row
            files.delete(sha256)
        raise
    return results


def _record(checked: CheckedImage, source: ImageSource, uploader: str | None, caption: str | None,
            **fields: str | None) -> Image:
    return Image(
        sha256=checked.sha256,
        mime=checked.mime,
        width=checked.width,
        height=checked.height,
        size_bytes=len(checked.data),
        source=source,
        uploader=uploader,
        caption=(caption or "").strip() or None,
        **fields,
    )


def find_by_sha256(session: Session, sha256: str) -> Image | None:
    return session.exec(select(Image).where(Image.sha256 == sha256)).first()


def get_image(session: Session, image_id: int) -> Image:
    image = session.get(Image, image_id)
    if image is None:
        raise NotFound(f"No image with id {image_id}.")
    return image


def thumbnail_path(files: FileStore, image: Image, limits: LimitSettings) -> Path:
    """The image's thumbnail, made now if the worker has not made it yet."""
    path = files.thumbnail_path(image.sha256)
    if not path.exists():
        files.save_thumbnail(image.sha256, thumbnail_of(files.read_original(image.sha256), limits))
    return path


def images_with_status(session: Session, ids: Sequence[int], status: ImageStatus) -> list[Image]:
    return list(session.exec(select(Image).where(col(Image.id).in_(ids), Image.status == status)))


def mark_indexed(session: Session, images: Sequence[Image]) -> None:
    now = utcnow()
    for image in images:
        image.status = ImageStatus.indexed
        image.indexed_at = now
        image.error = None
        session.add(image)
    session.commit()


def record_failure(session: Session, image_id: int, error: str, final: bool) -> None:
    """Count a failed attempt; the last one marks the image ``failed`` with its error."""
    image = session.get(Image, image_id)
    if image is None or image.status == ImageStatus.indexed:
        return
    image.attempts += 1
    image.error = error[:2000]
    if final:
        image.status = ImageStatus.failed
    session.add(image)
    session.commit()


def delete_image(session: Session, files: FileStore, stores: Sequence[VectorStore], image_id: int) -> None:
    """Remove the image everywhere: its vectors first (in every vector space), so search
    never returns a ghost."""
    image = get_image(session, image_id)
    for vectors in stores:
        vectors.delete([image_id])
    session.delete(image)
    session.commit()
    files.delete(image.sha256)


def discard_new_image(session: Session, files: FileStore, image: Image) -> None:
    """Undo ``add_image`` for an image that could not be queued."""
    session.delete(image)
    session.commit()
    files.delete(image.sha256)
