"""Database engine and sessions: SQLite by default, PostgreSQL (or any SQLAlchemy URL)
when ``FINDIMAGE_DATABASE_URL`` is set."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, create_engine

from core import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from core.config import Settings
from core.errors import ServiceUnavailable


def create_db_engine(settings: Settings) -> Engine:
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
    try:
        SQLModel.metadata.create_all(engine)
    except OperationalError as exc:
        raise ServiceUnavailable(f"The database at {engine.url!r} is unavailable: {exc.orig}") from exc
    return engine


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


def upsert_for(session: Session):
    """The ``insert`` of the session's dialect, which has ``on_conflict_do_update``
    (SQLite and PostgreSQL spell it alike)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
