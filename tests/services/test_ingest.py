"""Taking images in when a part is down: nothing half-done is left behind."""

import threading

import pytest
import redis
from rq import Queue
from sqlmodel import select

from core.errors import ServiceUnavailable
from core.models import Image, ImageSource, ImageStatus
from services.ingest import submit_image
from services.queue import ingest_queue
from tests.factories import distinct_jpeg


def dead_queue(runtime) -> Queue:
    return Queue(runtime.settings.queue_name, connection=redis.Redis(port=1, socket_connect_timeout=0.2))


def test_upload_while_the_queue_is_down_leaves_nothing_behind(runtime):
    with pytest.raises(ServiceUnavailable, match="queue is unavailable"):
        submit_image(runtime, dead_queue(runtime), distinct_jpeg(70), source=ImageSource.web)
    with runtime.session() as session:
        assert session.exec(select(Image)).all() == []
    assert not any(p.is_file() for p in runtime.files.root.rglob("*"))
    # Once the queue is back, the same upload goes through as new.
    image, created = submit_image(runtime, ingest_queue(runtime), distinct_jpeg(70), source=ImageSource.web)
    assert created and image.status == ImageStatus.queued
    assert len(ingest_queue(runtime)) == 1


def test_resubmitting_a_queued_image_does_not_queue_it_twice(runtime):
    queue = ingest_queue(runtime)
    first, _ = submit_image(runtime, queue, distinct_jpeg(71), source=ImageSource.web)
    again, created = submit_image(runtime, queue, distinct_jpeg(71), source=ImageSource.folder)
    assert again.id == first.id and not created
    assert len(queue) == 1


def test_a_folder_chunk_is_queued_at_once_and_a_bad_file_is_refused_alone(runtime):
    from core.errors import InvalidImage
    from services.ingest import submit_images

    queue = ingest_queue(runtime)
    before, _ = submit_image(runtime, queue, distinct_jpeg(72), source=ImageSource.web)  # already there, queued
    files = [(distinct_jpeg(73), "a.jpg"), (b"not an image", "notes.jpg"), (distinct_jpeg(72), "again.jpg"),
             (distinct_jpeg(73), "copy of a.jpg")]
    results = submit_images(runtime, queue, files, source=ImageSource.folder, captions=["the harbour", None, None, None])
    new, refused, duplicate, copy = results
    assert new[1] and new[0].caption == "the harbour" and new[0].filename == "a.jpg"
    assert isinstance(refused, InvalidImage)
    assert duplicate[0].id == before.id and not duplicate[1]
    assert copy[0].id == new[0].id and not copy[1]  # a duplicate within the chunk is the image it repeats
    assert sorted(queue.job_ids) == sorted([f"index-{before.id}", f"index-{new[0].id}"])  # one job each, none twice


def test_two_chunks_of_the_same_files_at_once_store_each_file_once(runtime):
    from services.ingest import submit_images

    files = [(distinct_jpeg(80 + i), f"{i}.jpg") for i in range(6)]
    start, answers = threading.Barrier(2), []

    def submit() -> None:
        start.wait()
        answers.append([image.id for image, _ in submit_images(runtime, ingest_queue(runtime), files,
                                                                 source=ImageSource.folder)])

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 2 and answers[0] == answers[1]
    with runtime.session() as session:
        assert sorted(image.id for image in session.exec(select(Image)).all()) == sorted(answers[0])


def test_a_folder_chunk_the_queue_refuses_leaves_nothing_behind(runtime):
    from services.ingest import submit_images

    with pytest.raises(ServiceUnavailable, match="queue is unavailable"):
        submit_images(runtime, dead_queue(runtime), [(distinct_jpeg(74), "a.jpg"), (distinct_jpeg(75), "b.jpg")],
                      source=ImageSource.folder)
    with runtime.session() as session:
        assert session.exec(select(Image)).all() == []
    assert not any(p.is_file() for p in runtime.files.root.rglob("*"))


def test_a_failed_image_given_another_go_while_the_queue_is_down_is_failed_again(runtime):
    from services.ingest import submit_images

    image, _ = submit_image(runtime, ingest_queue(runtime), distinct_jpeg(76), source=ImageSource.web)
    with runtime.session() as session:
        row = session.get(Image, image.id)
        row.status = ImageStatus.failed
        session.add(row)
        session.commit()
    with pytest.raises(ServiceUnavailable):
        submit_images(runtime, dead_queue(runtime), [(distinct_jpeg(76), "again.jpg")], source=ImageSource.folder)
    with runtime.session() as session:
        assert session.get(Image, image.id).status == ImageStatus.failed  # not left queued with no job
