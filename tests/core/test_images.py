"""Image records on SQLite and, when FINDIMAGE_TEST_DATABASE_URL is set, on PostgreSQL."""

import pytest
from sqlmodel import select

from core.config import LimitSettings, Settings
from core.db import create_db_engine, session_scope
from core.decoding import check_image
from core.errors import NotFound, ServiceUnavailable
from core.images import add_image, delete_image, get_image, mark_indexed, record_failure
from core.models import Image, ImageSource, ImageStatus
from core.storage import FileStore
from core.vectors.server import ServerStore
from tests.factories import distinct_jpeg, reset_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path, postgres_url):
    if request.param == "postgresql" and not postgres_url:
        pytest.skip("FINDIMAGE_TEST_DATABASE_URL is not set (.ci/run sets it when PostgreSQL answers on 127.0.0.1:5432)")
    url = postgres_url if request.param == "postgresql" else None
    engine = create_db_engine(Settings(data_dir=tmp_path, database_url=url))
    reset_schema(engine)
    yield engine
    reset_schema(engine)
    engine.dispose()


@pytest.fixture
def files(tmp_path):
    return FileStore(tmp_path / "files")


def checked(seed):
    return check_image(distinct_jpeg(seed), LimitSettings())


def test_an_image_is_stored_once(engine, files):
    with session_scope(engine) as session:
        first, created = add_image(session, files, checked(1), source=ImageSource.web, caption="  a cat  ")
        again, created_again = add_image(session, files, checked(1), source=ImageSource.slack)
    assert created and not created_again and again.id == first.id
    assert first.caption == "a cat" and first.status == ImageStatus.queued and first.source == ImageSource.web
    assert files.read_original(first.sha256) == distinct_jpeg(1)
    with session_scope(engine) as session:
        assert len(session.exec(select(Image)).all()) == 1


def test_failures_count_until_the_last_marks_failed(engine, files):
    with session_scope(engine) as session:
        image, _ = add_image(session, files, checked(2), source=ImageSource.web)
        record_failure(session, image.id, "boom", final=False)
        assert get_image(session, image.id).status == ImageStatus.queued
        record_failure(session, image.id, "boom again", final=True)
        image = get_image(session, image.id)
    assert (image.status, image.attempts, image.error) == (ImageStatus.failed, 2, "boom again")


def test_indexed_images_ignore_late_failures(engine, files):
    with session_scope(engine) as session:
        image, _ = add_image(session, files, checked(3), source=ImageSource.web)
        mark_indexed(session, [image])
        record_failure(session, image.id, "late", final=True)
        assert get_image(session, image.id).status == ImageStatus.indexed


def test_delete_removes_row_and_files(engine, files):
    store = ServerStore(":memory:", "images")
    store.ensure_collection(8)
    with session_scope(engine) as session:
        image, _ = add_image(session, files, checked(4), source=ImageSource.web)
        delete_image(session, files, [store], image.id)
        with pytest.raises(NotFound):
            get_image(session, image.id)
    assert not files.original_path(image.sha256).exists()


def test_an_unreachable_database_is_service_unavailable(tmp_path):
    with pytest.raises(ServiceUnavailable, match="database"):
        create_db_engine(Settings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none"))
