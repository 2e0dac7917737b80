"""``findimage reindex`` on real Valkey, Qdrant Edge and SQLite: a new vector space with
another model is filled by RQ jobs while search keeps using the active one, then the
process switches to it, with every image, like and search carried over."""

import numpy as np
import pytest
from sqlmodel import select

from core.access import Viewer
from core.models import ImageSource, LikeSource, Signal, SpaceState, Taste, User, VectorSpace
from core.spaces import records as spaces
from core.spaces.records import cancel_reindex, start_reindex
from core.vectors import AUDIENCE, IMAGE, TEXT
from services.feed import feed_page
from services.ingest import submit_image
from services.queue import ingest_queue
from services.search import search_text
from services.signals import like, record_search
from tests.worker.test_jobs import run_jobs, submit
from worker.context import using_runtime
from worker.reindex import space_watcher

ANYONE = Viewer()


@pytest.fixture
def small_steps(runtime):
    runtime.settings.worker.batches_per_job = 1  # steps of 8 images: several steps
    return runtime


def begin(runtime, model):
    with runtime.session() as session:
        space = start_reindex(session, runtime.settings, model, "")
    space_watcher(runtime).check()  # opens the new space and queues its first step
    return space


def signals_of(runtime, user_id):
    with runtime.session() as session:
        return session.exec(select(Signal).where(Signal.user_id == user_id)).all()


def test_reindex_fills_a_new_space_while_search_uses_the_old_then_switches(small_steps, other_model):
    runtime = small_steps
    ids = submit(runtime, *range(20), caption="a red square")
    run_jobs(runtime)
    first = runtime.space
    with runtime.session() as session:
        user = User(name="ada")
        session.add(user)
        session.commit()
        like(runtime, session, user.id, ids[0], LikeSource.web)
    found = search_text(runtime, "a red square")
    record_search(runtime, user.id, "a red square", found, {})

    space = begin(runtime, other_model)
    assert runtime.building.id == space.id and runtime.building.embedder.dim == 16
    added = submit(runtime, 100, 101, caption="a late arrival")  # ingest during the build
    run_jobs(runtime, max_jobs=3)  # the two uploads (one job) and two steps

    during = search_text(runtime, "a red square")
    assert during.space_id == first.id and len(during.query_vector) == 32 and during.results
    assert runtime.building.vectors.retrieve(added)[0].vectors[IMAGE].shape == (16,)  # written to both
    with runtime.session() as session:
        assert 0 < session.get(VectorSpace, space.id).done < len(ids)

    from core.images import delete_image

    with runtime.session() as session:
        delete_image(session, runtime.files, [s.vectors for s in runtime.spaces()], ids[5])
    run_jobs(runtime)

    assert runtime.space.id == space.id and runtime.building is None
    after = search_text(runtime, "a red square")
    assert after.space_id == space.id and len(after.query_vector) == 16 and after.results
    expected = sorted(set(ids + added) - {ids[5]})
    assert runtime.vectors.count() == len(expected)
    points = runtime.vectors.retrieve(expected)
    assert sorted(p.id for p in points) == expected
    assert all(p.vectors[IMAGE].shape == (16,) and AUDIENCE in p.payload for p in points)
    assert all(TEXT in p.vectors for p in points)  # captions embedded by the new model too
    (liked,) = runtime.vectors.retrieve([ids[0]])

    # The like and the search now speak the new model; so does the taste built from them.
    by_kind = {s.kind.value: s for s in signals_of(runtime, user.id)}
    assert np.allclose(np.frombuffer(by_kind["like"].vector, np.float32), liked.vectors[IMAGE])
    text = runtime.embedder.embed_texts(["a red square"])[0]
    assert np.allclose(np.frombuffer(by_kind["search"].vector, np.float32), text, atol=1e-6)
    with runtime.session() as session:
        taste = session.get(Taste, user.id)
        assert taste.space_id == space.id and taste.state["dim"] == 16
        page = feed_page(runtime, session, user.id, ANYONE, limit=5)
    assert page.personal and page.items


def test_the_old_space_is_dropped_a_while_after_the_switch(small_steps, other_model, monkeypatch):
    runtime = small_steps
    submit(runtime, 1, 2, 3)
    run_jobs(runtime)
    old = runtime.space
    begin(runtime, other_model)
    run_jobs(runtime)
    assert runtime.space.id != old.id
    old_dir = runtime.settings.edge_dir(old.collection)
    assert old_dir.exists()  # kept for requests still using it

    space_watcher(runtime).check()
    assert old_dir.exists()
    monkeypatch.setattr(spaces, "RETIRE_AFTER", 0)
    space_watcher(runtime).check()
    assert not old_dir.exists()
    with runtime.session() as session:
        assert [s.id for s in session.exec(select(VectorSpace)).all()] == [runtime.space.id]
    assert search_text(runtime, "anything").results


def test_a_cancelled_reindex_is_dropped_and_search_is_untouched(small_steps, other_model, monkeypatch):
    runtime = small_steps
    ids = submit(runtime, *range(12))
    run_jobs(runtime)
    active = runtime.space
    space = begin(runtime, other_model)
    run_jobs(runtime, max_jobs=1)
    with runtime.session() as session:
        assert cancel_reindex(session).id == space.id
    run_jobs(runtime)  # the next step finds it cancelled and stops
    space_watcher(runtime).check()
    assert runtime.building is None and runtime.space is active
    assert not runtime.settings.edge_dir(space.collection).exists()
    assert runtime.vectors.count() == len(ids)
    with runtime.session() as session:
        assert session.get(VectorSpace, space.id) is None


def test_a_reindex_into_a_model_that_cannot_load_fails_and_search_goes_on(small_steps, tmp_path):
    runtime = small_steps
    ids = submit(runtime, 1, 2)
    run_jobs(runtime)
    with runtime.session() as session:
        space = start_reindex(session, runtime.settings, f"local-dir:{tmp_path / 'missing'}", "")
    space_watcher(runtime).check()  # cannot open it (logged), but queues the step
    run_jobs(runtime)  # the step fails, is retried, and the reindex is marked failed
    with runtime.session() as session:
        failed = session.get(VectorSpace, space.id)
    assert failed.state == SpaceState.failed and "not found" in failed.error
    assert search_text(runtime, "anything").results and runtime.vectors.count() == len(ids)


def test_a_second_reindex_is_refused_while_one_runs(runtime, other_model):
    with runtime.session() as session:
        start_reindex(session, runtime.settings, other_model, "")
        with pytest.raises(Exception, match="already running"):
            start_reindex(session, runtime.settings, other_model, "")


def test_images_indexed_before_a_worker_learnt_of_the_space_are_caught_at_the_end(small_steps, other_model):
    runtime = small_steps
    with runtime.session() as session:
        space = start_reindex(session, runtime.settings, other_model, "")
    ids = submit(runtime, 1, 2, 3)
    run_jobs(runtime)  # this worker has not looked at the spaces yet: the old space only
    space_watcher(runtime).check()
    run_jobs(runtime)
    assert runtime.space.id == space.id
    assert sorted(p.id for p in runtime.vectors.retrieve(ids)) == ids


def test_a_reindex_carries_the_text_ocr_read_over_without_reading_again(runtime, other_model):
    from core.config import OcrSettings
    from core.models import ImageText, TextStatus
    from tests.factories import screenshot
    from worker.ocr import read_image_text

    runtime.settings = runtime.settings.model_copy(update={"ocr": OcrSettings(mode="all")})
    queue = ingest_queue(runtime)
    image, _ = submit_image(runtime, queue, screenshot(["Quarterly revenue grew 14 percent"]), source=ImageSource.web)
    run_jobs(runtime)
    with using_runtime(runtime):
        assert read_image_text(image.id) == TextStatus.read
    with runtime.session() as session:
        read_at = session.get(ImageText, image.id).created_at

    space = begin(runtime, other_model)
    run_jobs(runtime)  # the reindex steps; OCR's queue is not taken here
    assert runtime.space.id == space.id
    assert [m.id for m in search_text(runtime, '"revenue grew"').results] == [image.id]
    with runtime.session() as session:
        assert session.get(ImageText, image.id).created_at == read_at  # read once


def test_text_ocr_reads_while_a_reindex_writes_the_image_reaches_the_new_space(runtime, other_model, monkeypatch):
    from core.config import OcrSettings
    from core.models import TextStatus
    from tests.factories import screenshot
    from worker import indexing
    from worker.ocr import read_image_text

    runtime.settings = runtime.settings.model_copy(update={"ocr": OcrSettings(mode="all")})
    image, _ = submit_image(runtime, ingest_queue(runtime), screenshot(["Quarterly revenue grew 14 percent"]),
                            source=ImageSource.web)
    run_jobs(runtime)  # indexed; its OCR job waits in a queue this test does not run
    texts_of, read = indexing.texts_of, []

    def ocr_finishes_meanwhile(session, image_ids):
        found = texts_of(session, image_ids)
        if image.id in image_ids and not read:  # a second worker reads the text just now
            with using_runtime(runtime):
                read.append(read_image_text(image.id))
        return found

    monkeypatch.setattr(indexing, "texts_of", ocr_finishes_meanwhile)
    space = begin(runtime, other_model)
    run_jobs(runtime)
    assert read == [TextStatus.read]
    assert runtime.space.id == space.id
    assert [m.id for m in search_text(runtime, '"revenue grew"').results] == [image.id]
