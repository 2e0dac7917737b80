"""Embedding queued images and writing their vectors, batch by batch.

Decoding runs in a small thread pool, one batch ahead of the model: Pillow and ONNX
Runtime both release the GIL, so while the model embeds one batch the next is being
decoded, and both cores stay busy. The first batch is a quarter of the size, so the model
starts after a few decodes instead of a batch's worth (a job's start is otherwise time the
model waits). Per batch and vector space, one model call embeds the
images, one more their captions, and one upsert writes both named vectors with the
payload search filters on. The same pipeline re-embeds indexed images for a reindex.
"""

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from core.access import audience_of
from core.decoding import decode_for_index
from core.errors import InvalidImage
from core.images import images_with_status, mark_indexed
from core.metrics import timed
from core.models import Image, ImageStatus
from core.runtime import OpenSpace, Runtime
from core.shares import shares_of
from core.texts import texts_of
from core.vectors import AUDIENCE, IMAGE, TEXT, VectorPoint
from core.words import Words
from services.queue import enqueue_ocr, enqueue_repost_checks
from services.reposts import watched
from worker.ocr import update_words

log = logging.getLogger(__name__)
DECODE_THREADS = 2


@dataclass
class BatchResult:
    indexed: list[int] = field(default_factory=list)
    unreadable: dict[int, str] = field(default_factory=dict)
    """Images whose stored bytes no longer decode, with the reason."""


@dataclass(frozen=True)
class _Prepared:
    image: Image
    pixels: dict[int, np.ndarray]
    """The model input, per model (``id`` of the embedder)."""
    thumbnail: bytes


def index_images(runtime: Runtime, image_ids: list[int], limit: int | None = None,
                 more: Callable[[], list[int]] | None = None,
                 on_batch: Callable[[list[int]], None] | None = None) -> BatchResult:
    """Index those of ``image_ids`` still ``queued`` (the first ``limit`` of them, in the
    order given), in batches of the configured size; idempotent, so safe to run twice.
    ``more``, when given, is asked for further ids each time those given run out (the
    queue's head, which grows while an import or a backfill goes on), up to ``limit``;
    ``on_batch`` is told the ids of each batch once it is indexed. Their vectors go to the active space and, during a reindex, to the one being built.

    Errors of the store, the model or the database propagate (the job is retried; batches
    already written stay indexed); an image whose bytes cannot be decoded is reported, not
    raised, so one bad file never holds back the others.
    """
    return _index(runtime, _queued_batches(runtime, image_ids, limit, more), runtime.live_spaces(), new=True,
                  on_batch=on_batch)


def reembed_images(runtime: Runtime, space: OpenSpace, image_ids: list[int]) -> BatchResult:
    """Write the vectors of those of ``image_ids`` that are indexed into ``space`` (a
    reindex): the same pipeline, without touching thumbnails or statuses."""
    with runtime.session() as session:
        images = sorted(images_with_status(session, image_ids, ImageStatus.indexed), key=lambda i: i.id)
    size = runtime.settings.worker.batch_size
    return _index(runtime, _batches(images, _sizes(size)), [space], new=False)


def payload_of(image: Image, words: Words, shares=()) -> dict:
    return {
        "image_id": image.id,
        "source": image.source.value,
        "uploader": image.uploader,
        "channel": image.slack_channel,
        AUDIENCE: audience_of(image, shares),
        "caption": image.caption,
        "created_at": image.created_at.timestamp(),
        **words.payload(),
    }


def _sizes(size: int) -> Iterator[int]:
    """Batch sizes: a quarter batch first (the pipeline fills sooner), then full ones."""
    yield max(1, size // 4)
    while True:
        yield size


def _batches(images: list[Image], sizes: Iterator[int]) -> Iterator[list[Image]]:
    start = 0
    while start < len(images):
        end = start + next(sizes)
        yield images[start:end]
        start = end


def _queued_batches(runtime: Runtime, image_ids: list[int], limit: int | None,
                    more: Callable[[], list[int]] | None) -> Iterator[list[Image]]:
    """Batches of the images among ``image_ids`` (then ``more()``'s) that are still queued,
    each looked up when the pipeline asks for it; an empty one when none is there yet (the
    pipeline may ask again), until ``limit`` images are taken."""
    left = len(image_ids) if limit is None else limit
    waiting, seen = deque(dict.fromkeys(image_ids)), set()
    for size in _sizes(runtime.settings.worker.batch_size):
        if left <= 0:
            return
        batch: list[Image] = []
        wanted = min(size, left)
        while len(batch) < wanted:
            if not waiting and more is not None:
                waiting.extend(i for i in dict.fromkeys(more()) if i not in seen)
            if not waiting:
                break
            ids = [waiting.popleft() for _ in range(min(len(waiting), wanted - len(batch)))]
            seen.update(ids)
            with runtime.session() as session:
                queued = {image.id: image for image in images_with_status(session, ids, ImageStatus.queued)}
            batch += [queued[i] for i in ids if i in queued]
        left -= len(batch)
        yield batch


def _index(runtime: Runtime, batches: Iterable[list[Image]], spaces: list[OpenSpace], new: bool,
           on_batch: Callable[[list[int]], None] | None = None) -> BatchResult:
    result = BatchResult()
    batches = iter(batches)
    with ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="findimage-decode") as pool:

        def submit_next() -> list[tuple[Image, Future]]:
            return [(image, pool.submit(_prepare, runtime, image, spaces)) for image in next(batches, ())]

        ahead = submit_next()
        while ahead:
            current, ahead = ahead, submit_next()  # the next batch decodes meanwhile
            prepared = []
            for image, future in current:
                try:
                    prepared.append(future.result())
                except (InvalidImage, FileNotFoundError) as exc:
                    result.unreadable[image.id] = f"{type(exc).__name__}: {exc}"
            _write(runtime, prepared, spaces, new)
            result.indexed += [p.image.id for p in prepared]
            if on_batch is not None:
                on_batch([p.image.id for p in prepared])
            ahead = ahead or submit_next()  # images may have been queued while this batch was embedded
    return result


def _prepare(runtime: Runtime, image: Image, spaces: list[OpenSpace]) -> _Prepared:
    data = runtime.files.read_original(image.sha256)
    with timed("decode"):
        decoded = decode_for_index(data, max(s.embedder.image_size for s in spaces), runtime.settings.limits)
        by_model = {id(s.embedder): s.embedder for s in spaces}  # a reindex may keep the model
        pixels = {key: embedder.preprocess(decoded.pixels) for key, embedder in by_model.items()}
    return _Prepared(image, pixels, decoded.thumbnail)


def _write(runtime: Runtime, prepared: list[_Prepared], spaces: list[OpenSpace], new: bool) -> None:
    """Embed and upsert the batch into every space; for ``new`` images, then keep their
    thumbnails and mark them indexed."""
    if not prepared:
        return
    captioned = [p.image for p in prepared if p.image.caption]
    with runtime.session() as session:
        texts = texts_of(session, [p.image.id for p in prepared])  # a reindex carries OCR text over
        shares = shares_of(session, [p.image.id for p in prepared])
    words = {p.image.id: Words.of(p.image, texts.get(p.image.id)) for p in prepared}
    embedded = {}
    for space in spaces:
        model = id(space.embedder)
        if model not in embedded:
            with timed("embed"):
                embedded[model] = (
                    space.embedder.embed_pixels(np.stack([p.pixels[model] for p in prepared])),
                    space.embedder.embed_texts([i.caption for i in captioned]),
                )
        vectors, captions = embedded[model]
        with timed("upsert"):
            space.vectors.upsert(_points(prepared, vectors, dict(zip((i.id for i in captioned), captions)), words, shares))
    if not new:
        _catch_up_words(runtime, prepared, spaces, texts)
        return
    for p in prepared:
        runtime.files.save_thumbnail(p.image.sha256, p.thumbnail)
    with runtime.session() as session:
        mark_indexed(session, [p.image for p in prepared])
        reposts = watched(session, [p.image for p in prepared])
    enqueue_ocr(runtime, [p.image.id for p in prepared])
    enqueue_repost_checks(runtime, reposts)


def _catch_up_words(runtime: Runtime, prepared: list[_Prepared], spaces: list[OpenSpace], used: dict[int, str]) -> None:
    """A reindex runs beside OCR: text read after this batch looked for it, and before its
    points were written, found no point to give its words to in the new space. Give it now."""
    with runtime.session() as session:
        now = texts_of(session, [p.image.id for p in prepared])
    late = [p.image for p in prepared if now.get(p.image.id) != used.get(p.image.id)]
    if late:
        update_words(spaces, late, now)


def _points(prepared: list[_Prepared], vectors, caption_vectors: dict, words: dict[int, Words],
            shares: dict) -> list[VectorPoint]:
    return [
        VectorPoint(
            id=p.image.id,
            vectors={
                IMAGE: vector,
                **({TEXT: caption_vectors[p.image.id]} if p.image.id in caption_vectors else {}),
                **words[p.image.id].vectors(),
            },
            payload=payload_of(p.image, words[p.image.id], shares[p.image.id]),
        )
        for p, vector in zip(prepared, vectors)
    ]
