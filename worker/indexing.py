"""Embedding a batch of queued images and writing their vectors.

One model call embeds every image of the batch, one more embeds their captions, and one
upsert writes both named vectors with the payload that search filters on.
"""

import logging
from dataclasses import dataclass

from core.decoding import DecodedImage, decode_for_index
from core.errors import InvalidImage
from core.images import images_with_status, mark_indexed
from core.models import Image, ImageStatus
from core.runtime import Runtime
from core.vectors import IMAGE, TEXT, VectorPoint

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    indexed: list[int]
    unreadable: dict[int, str]
    """Images whose stored bytes no longer decode, with the reason."""


def index_batch(runtime: Runtime, image_ids: list[int], limit: int | None = None) -> BatchResult:
    """Index those of ``image_ids`` still ``queued`` (the first ``limit`` of them, in the
    order given); idempotent, so safe to run twice.

    Errors of the store, the model or the database propagate (the job is retried); an
    image whose bytes cannot be decoded is reported, not raised, so one bad file never
    holds back the others.
    """
    with runtime.session() as session:
        queued = {image.id: image for image in images_with_status(session, image_ids, ImageStatus.queued)}
        images = [queued[i] for i in dict.fromkeys(image_ids) if i in queued][:limit]
        decoded, unreadable = _decode(runtime, images)
        if not decoded:
            return BatchResult([], unreadable)
        vectors = runtime.embedder.embed_images([d.pixels for _, d in decoded])
        captioned = [image for image, _ in decoded if image.caption]
        caption_vectors = dict(
            zip(
                (image.id for image in captioned),
                runtime.embedder.embed_texts([image.caption for image in captioned]),
            )
        )
        for image, d in decoded:
            runtime.files.save_thumbnail(image.sha256, d.thumbnail)
        runtime.vectors.upsert(
            [
                VectorPoint(
                    id=image.id,
                    vectors={IMAGE: vector, **({TEXT: caption_vectors[image.id]} if image.id in caption_vectors else {})},
                    payload=payload_of(image),
                )
                for (image, _), vector in zip(decoded, vectors)
            ]
        )
        done = [image for image, _ in decoded]
        mark_indexed(session, done)
    return BatchResult([image.id for image in done], unreadable)


def payload_of(image: Image) -> dict:
    return {
        "image_id": image.id,
        "source": image.source.value,
        "uploader": image.uploader,
        "channel": image.slack_channel,
        "caption": image.caption,
        "created_at": image.created_at.timestamp(),
    }


def _decode(runtime: Runtime, images: list[Image]) -> tuple[list[tuple[Image, DecodedImage]], dict[int, str]]:
    decoded, unreadable = [], {}
    min_side = runtime.embedder.image_size
    for image in images:
        try:
            data = runtime.files.read_original(image.sha256)
            decoded.append((image, decode_for_index(data, min_side, runtime.settings.limits)))
        except (InvalidImage, FileNotFoundError) as exc:
            unreadable[image.id] = f"{type(exc).__name__}: {exc}"
    return decoded, unreadable
