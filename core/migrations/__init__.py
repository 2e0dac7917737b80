"""The database schema's history, as Alembic migrations (``versions/``).

``core.db.create_db_engine`` brings every database to the newest revision when a process
starts, under a lock, so many API and worker replicas starting at once migrate it once. A
database made before migrations existed (by ``create_all``) is recognised by its tables
and stamped with the revision it matches first.

A schema change: edit ``core/models.py``, then
``alembic -c core/migrations/alembic.ini revision --autogenerate -m "what changed"``
and read what it wrote before committing.
"""
