"""Drill: the database stops answering while findimage runs, then comes back.

- SQLite locked by another writer (a long transaction, a backup tool): writes wait
  ``database_timeout`` and answer 503, reads and searches keep working (WAL), nothing is
  left half-written, and the file passes SQLite's integrity check afterwards.
- PostgreSQL refusing connections, with the open ones cut: every request that needs it
  answers 503 with a message, readiness says so, and once it is back the pool reconnects
  by itself.
"""

import sqlite3
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlmodel import select

from cli.serving import create_app
from core.models import Image
from tests.drills.conftest import upload
from tests.factories import LOOPBACK
from tests.polling import wait_for_status


def stored_files(runtime) -> int:
    return len([p for p in runtime.files.root.rglob("*") if p.is_file()])


def test_a_locked_sqlite_database_refuses_writes_with_503_and_keeps_serving_reads(settings):
    settings = settings.model_copy(update={"database_timeout": 0.5})
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        runtime = client.app.state.runtime
        first = upload(client, 1).json()["images"][0]["id"]
        wait_for_status(runtime, [first])
        files_before = stored_files(runtime)

        holder = sqlite3.connect(settings.data_dir / "findimage.db", timeout=0)
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the database
        try:
            refused = upload(client, 2)
            assert refused.status_code == 503
            assert "database" in refused.json()["error"]["message"].lower()
            assert stored_files(runtime) == files_before  # no file without a row
            assert client.get(f"/api/images/{first}").status_code == 200
            found = client.get("/api/search", params={"q": "a picture"})
            assert found.status_code == 200 and [r["id"] for r in found.json()["results"]] == [first]
        finally:
            holder.rollback()
            holder.close()

        again = upload(client, 2)
        assert again.status_code == 202
        wait_for_status(runtime, [again.json()["images"][0]["id"]])
    check = sqlite3.connect(settings.data_dir / "findimage.db")
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()


@pytest.fixture
def drill_database(postgres_url):
    """A PostgreSQL database of this test's own, which it may close to connections."""
    if not postgres_url:
        pytest.skip("FINDIMAGE_TEST_DATABASE_URL is not set")
    name = f"findimage_drill_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")

    def allow(yes: bool) -> None:
        with admin.connect() as connection:
            connection.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(yes).lower()}"))
            if not yes:  # and cut the connections already open, as a restart would
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
                )

    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}", allow
    allow(False)
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE {name}"))
    admin.dispose()


def test_postgresql_down_answers_503_then_the_pool_reconnects(settings, drill_database):
    url, allow = drill_database
    settings = settings.model_copy(update={"database_url": url, "database_timeout": 2})
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        runtime = client.app.state.runtime
        first = upload(client, 1).json()["images"][0]["id"]
        wait_for_status(runtime, [first])

        allow(False)
        for answer in (upload(client, 2), client.get("/api/search", params={"q": "x"}), client.get("/api/feed")):
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "service_unavailable"
        assert client.get("/readyz").status_code == 503

        allow(True)
        assert client.get("/readyz").status_code == 200
        again = upload(client, 2)
        assert again.status_code == 202
        wait_for_status(runtime, [again.json()["images"][0]["id"]])
        with runtime.session() as session:
            assert len(session.exec(select(Image)).all()) == 2
