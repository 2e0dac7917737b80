"""The schema comes from Alembic migrations: a new database gets exactly the models'
tables, and one made before migrations existed is recognised and brought up to date
with its rows kept."""

import json

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from core.config import Settings
from core.db import MIGRATIONS, create_db_engine
from tests.factories import reset_schema


def head() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def revision_of(engine) -> str:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, postgres_url):
    if request.param == "postgresql":
        if not postgres_url:
            pytest.skip("FINDIMAGE_TEST_DATABASE_URL is not set")
        engine = create_engine(postgres_url)
        SQLModel.metadata.drop_all(engine)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
        return postgres_url
    return f"sqlite:///{tmp_path / 'findimage.db'}"


def test_a_new_database_is_migrated_to_exactly_the_models(tmp_path, database_url):
    engine = create_db_engine(Settings(data_dir=tmp_path, database_url=database_url))
    try:
        assert revision_of(engine) == head()
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        assert differences == []
        create_db_engine(Settings(data_dir=tmp_path, database_url=database_url)).dispose()  # again: nothing to do
        assert revision_of(engine) == head()
    finally:
        reset_schema(engine)
        engine.dispose()


def test_a_database_from_before_migrations_is_upgraded_with_its_rows(tmp_path, database_url):
    # What create_all made before issue 6: the first revision's tables, and no version table.
    engine = create_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(
            text(
                "INSERT INTO image (sha256, mime, width, height, size_bytes, status, attempts, created_at, source) "
                "VALUES ('ab', 'image/jpeg', 4, 3, 10, 'indexed', 0, CURRENT_TIMESTAMP, 'slack')"
            )
        )
    assert "slack_public" not in {c["name"] for c in inspect(engine).get_columns("image")}

    migrated = create_db_engine(Settings(data_dir=tmp_path, database_url=database_url))
    try:
        assert revision_of(migrated) == head()
        with migrated.connect() as connection:
            assert connection.execute(text("SELECT sha256, slack_public FROM image")).all() == [("ab", None)]
    finally:
        reset_schema(migrated)
        migrated.dispose()
        engine.dispose()


def test_a_tastes_vector_space_moves_from_its_state_to_its_column(database_url, tmp_path):
    engine = create_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(text("INSERT INTO \"user\" (id, name, is_admin, created_at) VALUES (1, 'ana', false, '2026-01-01')"))
        connection.execute(text("INSERT INTO taste (user_id, version, sums, state) VALUES (1, 3, :sums, :state)"),
                           {"sums": b"", "state": '{"dim": 2, "at": 0, "weights": [], "exemplars": [], "space": 7}'})
    engine.dispose()
    migrated = create_db_engine(Settings(data_dir=tmp_path, database_url=database_url))
    try:
        with migrated.connect() as connection:
            space_id, state = connection.execute(text("SELECT space_id, state FROM taste")).one()
        assert space_id == 7 and "space" not in (state if isinstance(state, dict) else json.loads(state))
    finally:
        reset_schema(migrated)
        migrated.dispose()
