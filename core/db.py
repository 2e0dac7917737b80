"""Database engine and sessions: SQLite by default, PostgreSQL (or any SQLAlchemy URL)
when ``FINDIMAGE_DATABASE_URL`` is set. Opening the engine migrates the schema to the
newest revision (``core.migrations``)."""

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, BigInteger, cast, event, func, inspect, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from core import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from core.config import Settings
from core.errors import ServiceUnavailable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x66696E64
"""PostgreSQL advisory lock id held while migrating: replicas starting together wait."""
USER_LOCKS = 0x75736572
"""PostgreSQL advisory lock space of the per-user locks (the second key is the user id)."""


def create_db_engine(settings: Settings) -> Engine:
    """The engine, with the schema migrated to the newest revision."""
    engine = create_engine_for(settings)
    try:
        migrate(engine)
    except OperationalError as exc:
        engine.dispose()
        raise ServiceUnavailable(f"The database at {engine.url!r} is unavailable: {exc.orig}") from exc
    return engine


def create_engine_for(settings: Settings) -> Engine:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": settings.database_timeout})
        event.listen(engine, "connect", _sqlite_pragmas)
    elif url.startswith("postgresql"):
        timeout = max(1, round(settings.database_timeout))
        engine = create_engine(url, pool_pre_ping=True, pool_timeout=timeout, connect_args={"connect_timeout": timeout})
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision, in one transaction."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        made_before_migrations = _revision_of_unversioned(connection)
        if made_before_migrations:
            command.stamp(config, made_before_migrations)
        command.upgrade(config, "head")


def _revision_of_unversioned(connection) -> str | None:
    """For a database made by ``create_all`` before migrations existed: the revision its
    tables match (``slack_public`` came with the second)."""
    tables = inspect(connection).get_table_names()
    if "alembic_version" in tables or "image" not in tables:
        return None
    columns = {column["name"] for column in inspect(connection).get_columns("image")}
    return "0002" if "slack_public" in columns else "0001"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the API read while the worker writes; NORMAL sync is safe with WAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that converts a lost database into ``ServiceUnavailable``."""
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    except OperationalError as exc:
        raise ServiceUnavailable(f"The database is unavailable: {exc.orig}") from exc


@contextmanager
def user_lock(session: Session, user_id: int) -> Iterator[None]:
    """A transaction holding ``user_id``'s lock, committed when the block ends (rolled back
    if it raises): what one person does is applied one change at a time, across threads
    and processes. What the session held before is committed first, since the lock must
    come first in its transaction.

    PostgreSQL: a transaction-scoped advisory lock on the user. SQLite allows one writer at
    a time anyway: the transaction takes the write lock before it reads (``BEGIN
    IMMEDIATE``), so what it reads is what the last writer left."""
    session.commit()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:space, :user)"), {"space": USER_LOCKS, "user": user_id})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


class IdsQuery:
    """A query of one integer column whose values are fetched as a single row (SQLite's
    ``group_concat``, PostgreSQL's ``array_agg``). Python's sqlite3 gives up the GIL for
    every row it steps, and while another thread holds it each row waits for it back: 5,000
    rows read one by one took 2.5 ms alone and 544 ms beside a busy Python thread (as one
    row: 1.2 and 7.6 ms). Built once, with bound parameters given at each call, for a query
    asked on every request (a feed page that built its statements anew spent a quarter of
    its CPU on that)."""

    def __init__(self, query) -> None:
        column = next(iter(query.subquery().c))
        self._postgresql = select(func.array_agg(column))
        self._sqlite = select(func.group_concat(column))

    def __call__(self, session: Session, **params) -> list[int]:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            return list(connection.execute(self._postgresql, params).scalar_one() or [])
        joined = connection.execute(self._sqlite, params).scalar_one()
        return list(map(int, joined.split(","))) if joined else []


def listed(session: Session, ids: Iterable[int]):
    """``ids`` as a subquery over one bound JSON array (SQLite's ``json_each``, PostgreSQL's
    ``json_array_elements_text``), for ``column.in_(...)`` and ``not_in``: an IN list is
    bound one placeholder per value, which cost SQLAlchemy 6-7 ms of rendering for 5,000
    (the feed of someone who has scrolled far asks two such a page)."""
    data = literal(json.dumps(list(ids)))
    if session.connection().dialect.name == "postgresql":
        values = func.json_array_elements_text(cast(data, JSON)).table_valued("value")
        return select(cast(values.c.value, BigInteger))
    return select(func.json_each(data).table_valued("value").c.value)


def upsert_of(dialect: str):
    """The ``insert`` of the dialect, which has ``on_conflict_do_update`` (SQLite and
    PostgreSQL spell it alike); for a statement built once per dialect."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
