"""Alembic's entry point. Run from ``core.db.migrate`` with an open connection, or by the
``alembic`` command during development (on the configured database)."""

from alembic import context
from sqlmodel import SQLModel

from core import models  # noqa: F401  (registers the tables on SQLModel.metadata)


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from core.config import get_settings
    from core.db import create_engine_for

    engine = create_engine_for(get_settings())
    with engine.begin() as connection:
        run(connection)
